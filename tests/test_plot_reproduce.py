"""`jaxbail plot` writes its figures; `jaxbail reproduce --quick` runs end to end with verdicts from numbers."""

import json

import pytest

from jaxbail import claims, theory
from jaxbail.claims import claim1, claim2, claim3, claim4, memory_length
from jaxbail.cli import main

SWEEP = """
name = "plot_small"
episodes = 30
seeds = 16
[instance]
name = "hard"
params = { num_tasks = 2, horizon = 2, reveal = [1.0, 0.5] }
[planner]
name = ["bail", "eps_bail"]
eps = ["0.05", "0.3"]
"""


def test_plot_writes_png_and_pdf_for_every_supported_figure(tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text(SWEEP)
    out = tmp_path / "res"
    assert main(["sweep", str(config), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["plot", str(out), "--out", str(tmp_path / "fig")]) == 0
    written = capsys.readouterr().out.split()
    names = {p.rsplit("/", 1)[-1] for p in written}
    for stem in ("regret_curves", "posterior_mass", "regret_vs_eps", "regret_vs_eta"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names, names
    for path in written:
        assert (tmp_path / "fig" / path.rsplit("/", 1)[-1]).stat().st_size > 1000


def test_plot_of_a_missing_directory_is_one_line_exit_2(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "no results table" in err and len(err.strip().splitlines()) == 1


def _recompute_claim4(c4, heldout_prompts):
    # SPEC 6's absolute bound with the deployment delta (the paired excess is a heuristic, not checked)
    under = all(r <= b + 4 * se for entry in c4["series"]
                for t, r, b, se in zip(entry["episodes"], entry["regret_mean"], entry["bound"], entry["regret_se"])
                if t >= 10)
    h = c4["llm_on_hard"]
    band = c4["llm_on_hard"]["instance"]["horizon"] * min(1.0, h["delta"]["ci95"][1]) * 1.0 \
        + 4 * h["per_episode_regret_se"]  # hard's Dmax is 1
    assert band == pytest.approx(h["band"], rel=1e-12)
    linear = abs(h["run"]["slope"] - 1) <= 0.05 and abs(h["per_episode_regret"] - h["bail_line_per_episode"]) <= band
    assert c4["absolute_check"]["supported"] == under
    for entry in c4["series"]:  # the bound: SPEC 6's absolute one with the deployment delta's upper 95% end
        assert entry["bound_delta"] == pytest.approx(min(1.0, max(0.0, entry["delta_deployment"]["ci95"][1])))
        assert entry["delta_heldout"]["prompts"] == heldout_prompts
    return under and linear


def _recompute_memory_length(m):
    """Every point within 4 SE of the closed form; the smallest window above the whole history by > 4 SE."""
    agree = all(abs(e["regret"] - e["closed_form"]) <= 4 * e["regret_se"] for e in m["entries"])
    first, whole = m["entries"][0], m["entries"][-1]
    assert first["window"] == min(memory_length.SETTINGS["quick"]["windows"]) and whole["window"] is None
    matters = first["regret"] - whole["regret"] > 4 * (first["regret_se"] ** 2 + whole["regret_se"] ** 2) ** 0.5
    return agree and matters


def _by_name(summary):
    return dict(zip([m.NAME for m in claims.ALL], summary["claims"]))


def _recompute_verdicts(summary):
    """The paper's claims' verdicts recomputed here from the numbers (the other entries: by their module)."""
    by = _by_name(summary)
    c1, c2, c3, c4, mem = by["claim1"], by["claim2"], by["claim3"], by["claim4"], by["memory_length"]
    tv = c1["tv_mean"]
    lo, hi = c1["measured"]["tv_slope_ci95"]
    v1 = all(b < a for a, b in zip(tv, tv[1:])) and lo >= -0.65 and hi <= -0.35
    m = c2["measured"]
    v2 = (abs(m["per_episode_regret"] - c2["theory"]["per_episode_regret"]) <= 4 * m["per_episode_regret_se"]
          and abs(m["slope"] - 1) <= 0.05)
    rate = c3["rate"]
    v3 = (c3["measured"]["anytime:1"]["slope_ci95"][1] < 0.65
          and all(c3["measured"][s]["regret_ci95"][1] <= c3["theory"][s]["bound"] for s in c3["measured"])
          and rate["exponent_ci95"][1] < 0.65
          and all(m <= b for m, b in zip(rate["regret_ci95_hi"], rate["bound"])))
    v4 = _recompute_claim4(c4, summary["meta"]["settings"]["claim4"]["heldout_prompts"])
    vm = _recompute_memory_length(mem)
    v5 = [_recompute_claim5(by[n]) for n in ("claim5a", "claim5b")]
    return ["supported" if v else "not supported" for v in (v1, v2, v3, v4, vm, *v5)]


PAPER = ("claim1", "claim2", "claim3", "claim4", "memory_length", "claim5a", "claim5b")


def _recompute_claim5(c):
    """Claim 5's verdict from its numbers: every run on its exact line or sublinear under its bound, and
    (5a) BAWM's plan and regret on safe_arm different from BAIL's."""
    ok = True
    for where, runs in c["measured"].items():
        for label, m in runs.items():
            th = c["theory"][where][label]
            if th["kind"] == "exact_line":
                ok &= (abs(m["per_episode_regret"] - th["per_episode_regret"])
                       <= 4 * m["per_episode_regret_se"] + 1e-6 * max(1, th["per_episode_regret"])
                       and abs(m["slope"] - 1) <= 0.05)
            else:
                assert th["kind"] == "upper_bound", (where, label, th)
                ok &= m["slope_ci95"][1] < 1 and m["regret_ci95"][1] <= th["value"]
    if c["part"] == "a":
        k = c["safe_arm_contrast"]
        ok &= k["plan_max_abs_difference"] > 0.5 and abs(k["bawm_minus_bail_per_episode"]) > 4 * k["bawm_minus_bail_se"]
    return ok


def test_reproduce_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "rq"
    code = main(["reproduce", "--quick", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    by = _by_name(summary)
    assert [(by[n]["claim"], by[n].get("part")) for n in ("claim4", "memory_length", "claim5a", "claim5b")] == [
        (4, None), ("memory_length", None), (5, "a"), (5, "b")]
    assert [by[n]["verdict"] for n in PAPER] == _recompute_verdicts(summary)
    assert by["claim3"]["rate"]["exponent_ci95"][1] is not None  # the rate entry carries its exponent
    assert by["assumptions"]["verdict"].startswith("measured (descriptive)")
    # each module's verdict is a function of the numbers written: it gives the same on the JSON round trip
    assert [m.verdict(c) for m, c in zip(claims.ALL, summary["claims"])] == [c["verdict"] for c in summary["claims"]]
    assert summary["meta"]["settings"]["claim4"] == claim4.SETTINGS["quick"]
    assert summary["meta"]["settings"]["memory_length"] == memory_length.SETTINGS["quick"]
    assert all(c["verdict"] == "supported" for c in summary["claims"] if c["claim"] == 5)
    assert code == (1 if any(c["verdict"] == "not supported" for c in summary["claims"]) else 0)
    for stem in ("claim1_pretraining_converges_to_bail", "claim2_bail_linear_regret",
                 "claim3_eps_bail_sublinear_regret", "claim4_pretraining_error", "claim5a_world_model_bawm",
                 "claim5b_several_actors", "memory_length"):  # (and the new entries' own figures)
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.pdf").exists()
    text = (out / "summary.md").read_text()
    assert text.count("| 1.") == 1 and "| 3." in text and "| 4." in text and "verdict" in text
    assert "`claim4_pretraining_error.png`" in text and "`claim5b_several_actors.png`" in text
    assert "`memory_length.png`" in text
    lines = text.splitlines()
    at4 = next(i for i, line in enumerate(lines) if line.startswith("| 4."))
    assert lines[at4 + 1].startswith("| memory length (not a claim of the paper). Memory length sets the regret")
    assert lines[at4 + 1].endswith(f"**{by['memory_length']['verdict']}** |")
    assert "held-out" in lines[at4] and "deployment" in lines[at4] and "<= bound" in lines[at4]
    rows = [line for line in text.splitlines() if line.startswith("| 5")]
    assert [r.split(" — ")[1].split(" (")[0] for r in rows] == ["hard", "safe_arm", "N=2", "N=3"], rows
    assert all(r.endswith("**supported** |") for r in rows)
    c5a = by["claim5a"]
    assert set(c5a["measured"]["safe_arm"]) == {"bawm", "eps_bawm auto", "eps_bawm anytime:1", "bail"}
    assert c5a["theory"]["safe_arm"]["bawm"]["per_episode_regret"] == pytest.approx(5 * 0.4, rel=1e-6)


def test_claim2_verdict_follows_the_numbers(monkeypatch):
    settings = dict(claim2.SETTINGS["quick"], episodes=50, seeds=64)
    assert claim2.run(settings)["verdict"] == "supported"
    real = theory.theory_for

    def shifted(*args, **kwargs):
        th = real(*args, **kwargs)
        return th._replace(per_episode=th.per_episode + 0.5) if th.per_episode is not None else th

    monkeypatch.setattr(claim2.theory, "theory_for", shifted)
    assert claim2.run(settings)["verdict"] == "not supported"


def test_claim3_verdict_follows_the_numbers(monkeypatch):
    rate = {"seed": 0, "horizons": [30, 100], "seeds": 16, "batch": 2, "anytime": 1.0, "bootstrap": 200}
    settings = dict(claim3.SETTINGS["quick"], episodes=200, seeds=64, eps_values=[0.1], rate=rate)
    real = theory.theory_for
    monkeypatch.setattr(claim3.theory, "theory_for",
                        lambda *a, **k: real(*a, **k)._replace(value=1.0))  # a bound no run can meet
    assert claim3.run(settings)["verdict"] == "not supported"


def test_claim_verdicts_are_pure_functions_of_the_numbers():
    c1 = {"tv_mean": [0.3, 0.2, 0.1], "measured": {"tv_slope_ci95": [-0.6, -0.4]}}
    assert claim1.verdict(c1) == "supported"
    assert claim1.verdict(dict(c1, tv_mean=[0.3, 0.1, 0.2])) == "not supported"  # not decreasing
    assert claim1.verdict(dict(c1, measured={"tv_slope_ci95": [-0.66, -0.4]})) == "not supported"
    c2 = {"measured": {"per_episode_regret": 3.34, "per_episode_regret_se": 0.01, "slope": 1.01},
          "theory": {"per_episode_regret": 3.3333}}
    assert claim2.verdict(c2) == "supported"
    assert claim2.verdict(dict(c2, theory={"per_episode_regret": 3.3333 - 0.05})) == "not supported"  # 5.7 SE
    run = {"regret_ci95": [170.0, 180.0], "slope_ci95": [0.5, 0.6]}
    c3 = {"measured": {"auto": run, "anytime:1": run, "0.1": dict(run, slope_ci95=[0.9, 1.0])},
          "theory": {"auto": {"bound": 186.6}, "anytime:1": {"bound": 186.6}, "0.1": {"bound": 186.6}},
          "rate": {"exponent_ci95": [0.45, 0.55], "regret_ci95_hi": [10.0, 30.0], "bound": [20.0, 60.0]}}
    assert claim3.verdict(c3) == "supported"  # a fixed eps need not be sublinear, only under its bound
    # auto's within-run slope is not a rate: reported, not checked; anytime's is
    assert claim3.verdict(dict(c3, measured=dict(c3["measured"], auto=dict(run, slope_ci95=[0.5, 0.66])))) \
        == "supported"
    assert claim3.verdict(dict(c3, measured=dict(c3["measured"], **{"anytime:1": dict(run, slope_ci95=[0.5, 0.66])}))) \
        == "not supported"
    assert claim3.verdict(dict(c3, rate=dict(c3["rate"], exponent_ci95=[0.55, 0.7]))) == "not supported"
    assert claim3.verdict(dict(c3, rate=dict(c3["rate"], regret_ci95_hi=[10.0, 61.0]))) == "not supported"
    assert claim3.verdict(dict(c3, theory=dict(c3["theory"], **{"0.1": {"bound": 179.0}}))) == "not supported"


def test_every_claim_module_follows_the_convention():
    names = [m.NAME for m in claims.ALL]
    assert names == ["claim1", "claim1_memory", "claim2", "claim3", "claim3b_constants", "claim4", "memory_length",
                     "claim5a", "claim5b", "assumptions"]
    assert len(set(names)) == len(names)
    for module in claims.ALL:
        assert set(module.SETTINGS) == {"quick", "full"} and isinstance(module.TITLE, str)
        assert all("seed" in s for s in module.SETTINGS.values()), module.NAME
        for fn in ("run", "verdict", "figure", "rows"):
            assert callable(getattr(module, fn)), (module.NAME, fn)
    assert claim3.SETTINGS["quick"]["episodes"] == claim2.SETTINGS["quick"]["episodes"]  # the header's T
