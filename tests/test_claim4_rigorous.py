"""Claim 4 made rigorous: two deltas per checkpoint, the verdict on SPEC 6's absolute bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxbail import theory
from jaxbail.claims.claim4 import DELTA_NOTE, absolute_bound_curve, heldout_delta, verdict_absolute
from jaxbail.instances import random_instance
from jaxbail.llm.checkpoint import load_checkpoint, shipped_checkpoint
from jaxbail.planners import make_planner


def _entry(regret_per_episode, bound_per_episode, se=1.0, episodes=(1, 5, 10, 100)):
    t = np.asarray(episodes, float)
    return {"episodes": list(episodes), "regret_mean": (regret_per_episode * t).tolist(), "regret_se": [se] * t.size,
            "bound": (bound_per_episode * t).tolist()}


def test_absolute_verdict_follows_the_numbers():
    good = verdict_absolute([_entry(0.5, 1.0), _entry(0.9, 1.0)])
    assert good["supported"] and good["holds"] == [True, True]
    assert good["min_margin"] == pytest.approx([5.0, 1.0])
    # one checkpoint above its bound by more than 4 SE at T = 100
    bad = verdict_absolute([_entry(0.5, 1.0), _entry(1.1, 1.0)])
    assert not bad["supported"] and bad["holds"] == [True, False]
    # above, but within 4 SE: not a violation
    assert verdict_absolute([_entry(1.03, 1.0, se=1.0)])["supported"]
    # a violation before T = 10 (MIN_EPISODE) is not checked
    early = _entry(0.5, 1.0)
    early["regret_mean"][1] = 100.0
    assert verdict_absolute([early])["supported"]
    assert not verdict_absolute([])["supported"]


def test_absolute_bound_is_spec6_formula_with_the_deployment_delta():
    env = random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4)
    delta = 0.02
    planner = make_planner("eps_bail", eps_scale=0.1)
    eps = float(planner.scale)  # the planner's float32 eps
    episodes = np.asarray([1, 10, 100, 400])
    dmax, c_const, eta = theory.bound_constants(env)
    h = env.horizon
    by_hand = eps * episodes * h + h * dmax * c_const / (eps * eta.lo) + (1 - eps) * episodes * h * delta * dmax
    np.testing.assert_allclose(absolute_bound_curve(env, planner, episodes, delta), by_hand, rtol=1e-12)
    # delta enters linearly with slope (1 - eps) T H Dmax
    diff = absolute_bound_curve(env, planner, episodes, 0.05) - absolute_bound_curve(env, planner, episodes, 0.0)
    np.testing.assert_allclose(diff, (1 - eps) * episodes * h * 0.05 * dmax, rtol=1e-9)
    with pytest.raises(ValueError, match="absolute_bound_curve: no theory: Bail is BAIL only up to its measured"):
        absolute_bound_curve(env, make_planner("bail"), episodes, delta)
    assert "deployment delta" in DELTA_NOTE and "held-out" in DELTA_NOTE


def test_heldout_delta_on_fresh_prompts_agrees_with_the_recorded_one():
    path = shipped_checkpoint("hard")
    record = load_checkpoint(path)[3]["heldout"]
    fresh = heldout_delta(path, 512)
    assert fresh["prompts"] == 512 and fresh["behaviour"] == "dirichlet"
    lo, hi = fresh["ci95"]
    assert lo < fresh["mean"] < hi and fresh["se"] > 0
    # two independent estimates of the same pretraining error: within 4 SE of their difference
    assert abs(fresh["mean"] - record["delta"]) <= 4 * math.hypot(fresh["se"], record["se"])
    # a different key: different prompts, a different estimate
    assert heldout_delta(path, 512, key=1)["mean"] != fresh["mean"]


def test_claim4_verdict_recomputes_the_absolute_check_and_ignores_the_heuristic():
    from jaxbail import reproduce_llm
    from jaxbail.claims import claim4

    hard_ok = {"run": {"slope": 1.001}, "per_episode_regret": 3.33, "bail_line_per_episode": 3.3333, "band": 0.06}
    # the heuristic excess check fails (the excess far above its prediction), the absolute bound holds: supported
    series = [dict(_entry(0.5, 1.0), excess_mean=[50.0] * 4, excess_se=[0.1] * 4, predicted=[0.0] * 4,
                   delta={"mean": 0.1, "ci95": [0.09, 0.11]}, diff_se_to_smallest=0.1) for _ in range(3)]
    record = {"series": series, "llm_on_hard": hard_ok,
              "absolute_check": {"supported": False}}  # a stale stored check: the verdict recomputes it
    assert not claim4.verdict_excess(series)["supported"]
    assert claim4.verdict(record) == "supported"
    # one checkpoint above its absolute bound by more than 4 SE at T = 100
    record["series"][1] = dict(series[1], **_entry(1.1, 1.0))
    assert claim4.verdict(record) == "not supported"
    record["series"][1] = dict(series[1], **_entry(0.9, 1.0))
    assert claim4.verdict(record) == "supported"
    # llm on hard off BAIL's line, or not linear
    assert claim4.verdict(dict(record, llm_on_hard=dict(hard_ok, per_episode_regret=3.2))) == "not supported"
    assert claim4.verdict(dict(record, llm_on_hard=dict(hard_ok, run={"slope": 1.06}))) == "not supported"
    # the former module name re-exports the same functions
    assert reproduce_llm.verdict_absolute is verdict_absolute and reproduce_llm.heldout_delta is heldout_delta
    assert reproduce_llm.absolute_bound_curve is absolute_bound_curve and reproduce_llm.DELTA_NOTE == DELTA_NOTE


def test_claim4_settings_rows_and_figure_carry_both_deltas(tmp_path):
    from jaxbail.claims import claim4

    assert claim4.SETTINGS["quick"]["heldout_prompts"] == 512 and claim4.SETTINGS["full"]["heldout_prompts"] == 2048
    delta = {"mean": 0.05, "se": 0.001, "ci95": [0.048, 0.052]}
    series = [dict(_entry(0.5, 1.0 + i), checkpoint=name, num_trajectories=n, delta=delta, delta_deployment=delta,
                   delta_heldout={"mean": 0.01 * (3 - i), "se": 0.001, "ci95": [0.01 * (3 - i) - 0.002,
                                                                                0.01 * (3 - i) + 0.002]},
                   bound_delta=0.052, excess_mean=[0.0, 1.0, 2.0, 3.0], excess_se=[0.1] * 4,
                   predicted=[0.0, 2.0, 4.0, 6.0])
              for i, (name, n) in enumerate(claim4.CHECKPOINTS)]
    hard_run = {"slope": 1.0, "theory": {"kind": "exact_line"},
                "curve": {"episodes": [1, 10, 100], "regret_mean": [3.3, 33.3, 333.0], "regret_lo": [3.2, 33.0, 330.0],
                          "regret_hi": [3.4, 33.6, 336.0], "theory": [3.33, 33.3, 333.3]}}
    c4 = {"title": claim4.TITLE, "eps": 0.1, "seeds": 8, "episodes": 100, "dmax": 1.0,
          "instance": {"horizon": 4}, "series": series, "criterion": claim4.CRITERION, "verdict": "supported",
          "llm_on_hard": {"run": hard_run, "delta": {"mean": 0.004}, "delta_heldout": {"mean": 0.006},
                          "per_episode_regret": 3.33, "bail_line_per_episode": 3.3333}}
    (row,) = claim4.rows(c4)
    assert "delta held-out 0.0300, deployment 0.0500; Reg 50.0 +- 1.0 <= bound 100.0" in row["measured"]
    assert "excess 3.0 +- 0.1 vs heuristic 6.0" in row["measured"]
    assert "delta deployment 0.0040, held-out 0.0060" in row["measured"]
    assert row["theory"].startswith("eps T H + H Dmax C/(eps eta) + (1-eps) T H delta Dmax (deployment delta)")
    assert "SPEC 6's absolute bound" in row["criterion"] and "heuristic comparison" in row["criterion"]
    paths = claim4.figure(c4, tmp_path)
    assert [p.name for p in paths] == ["claim4_pretraining_error.png", "claim4_pretraining_error.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)


def _coverage_entry(name, heldout, deployment, excess, excess_se=1.0, gap_se=2.0, bound=1.0):
    ci = lambda m: [m * 0.9, m * 1.1]  # noqa: E731
    return dict(_entry(0.5, bound), checkpoint=name, data=name, behaviour=name,
                delta_heldout={"mean": heldout, "se": heldout * 0.05, "ci95": ci(heldout)},
                delta={"mean": deployment, "se": deployment * 0.05, "ci95": ci(deployment)}, bound_delta=deployment,
                excess_at_T=excess, excess_se=excess_se, excess_gap_se=gap_se)


def test_coverage_contrast_follows_the_numbers():
    from jaxbail.claims.claim4 import coverage_contrast

    covering = _coverage_entry("hard-recurrent", 0.0036, 0.0014, 0.0)
    shown = coverage_contrast([covering, _coverage_entry("no-probe", 0.0097, 0.58, 259.0)])
    assert shown["shown"] and shown["heldout_understates"] and shown["deployment_breaks"] and shown["regret_breaks"]
    assert shown["excess_gap_at_T"] == pytest.approx(259.0) and shown["excess_gap_se"] == 2.0
    # each leg flips on its own: held-out as bad as deployment; deployment like the covering model's; no extra regret
    for uncovered, leg in ((_coverage_entry("x", 0.58, 0.58, 259.0), "heldout_understates"),
                           (_coverage_entry("x", 0.0005, 0.0014, 259.0), "deployment_breaks"),
                           (_coverage_entry("x", 0.0097, 0.58, 7.9), "regret_breaks")):
        out = coverage_contrast([covering, uncovered])
        assert not out[leg] and not out["shown"], leg


def test_claim4_verdict_checks_the_coverage_checkpoints_against_their_bound_and_rows_report_the_contrast(tmp_path):
    from jaxbail.claims import claim4

    hard_ok = {"run": {"slope": 1.001}, "per_episode_regret": 3.33, "bail_line_per_episode": 3.3333, "band": 0.06}
    entries = [_coverage_entry("hard-recurrent", 0.0036, 0.0014, 0.0),
               _coverage_entry("hard-recurrent-no-probe", 0.0097, 0.58, 259.0)]
    coverage = {"entries": entries, "eps": 0.1, "episodes": 100, "seeds": 8,
                "eps_bail": {"regret_mean": [0.4, 2.0, 4.0, 40.0], "regret_se": [0.1] * 4},
                "contrast": claim4.coverage_contrast(entries)}
    record = {"series": [_entry(0.5, 1.0)], "llm_on_hard": hard_ok, "coverage": coverage}
    assert claim4.verdict(record) == "supported"
    entries[1].update(_entry(1.2, 1.0))  # the uncovered model above its own absolute bound
    assert claim4.verdict(record) == "not supported"
    del record["coverage"]  # a record written before the coverage checkpoints: the series alone
    assert claim4.verdict(record) == "supported"
    entries[1].update(_entry(0.5, 1.0))
    hard_run = {"slope": 1.0, "theory": {"kind": "exact_line"},
                "curve": {"episodes": [1, 10, 100], "regret_mean": [3.3, 33.3, 333.0], "regret_lo": [3.2, 33.0, 330.0],
                          "regret_hi": [3.4, 33.6, 336.0], "theory": [3.33, 33.3, 333.3]}}
    delta = {"mean": 0.05, "se": 0.001, "ci95": [0.048, 0.052]}
    series = [dict(_entry(0.5, 1.0), checkpoint=name, num_trajectories=n, delta=delta, delta_heldout=delta,
                   bound_delta=0.052, excess_mean=[0.0] * 4, excess_se=[0.1] * 4, predicted=[1.0] * 4)
              for name, n in claim4.CHECKPOINTS]
    c4 = {"title": claim4.TITLE, "eps": 0.1, "seeds": 8, "episodes": 100, "dmax": 1.0, "instance": {"horizon": 4},
          "series": series, "criterion": claim4.CRITERION, "verdict": "supported", "coverage": coverage,
          "llm_on_hard": {"run": hard_run, "delta": {"mean": 0.004}, "delta_heldout": {"mean": 0.006},
                          "per_episode_regret": 3.33, "bail_line_per_episode": 3.3333}}
    (row,) = claim4.rows(c4)
    assert ("hard-recurrent-no-probe delta held-out 0.0097 / deployment 0.5800, excess over eps_bail 259.0 +- 1.0"
            in row["measured"])
    assert "(contrast shown: held-out understates deployment True, deployment breaks True" in row["measured"]
    assert "the two coverage checkpoints on hard" in row["criterion"]
    paths = claim4.figure(c4, tmp_path)
    assert all(p.stat().st_size > 1000 for p in paths)


def test_shipped_coverage_checkpoints_share_a_recipe_but_not_the_probe():
    from jaxbail.claims.claim4 import COVERAGE

    records = [load_checkpoint(shipped_checkpoint(name))[:4] for name, _ in COVERAGE]
    (cfg_a, _, _, rec_a), (cfg_b, _, _, rec_b) = records
    assert cfg_a == cfg_b and cfg_a.family == "recurrent"
    assert rec_a["behaviour"] == "eps-bail" and rec_b["behaviour"] == "no-probe"
