"""Beyond the paper's assumptions: each experiment runs on small settings; exact lines and constants by hand;
the descriptive verdict is a pure function of the numbers."""

import copy
import math

import numpy as np
import pytest

from jaxbail.claims import assumptions
from jaxbail.instances import hard

SMALL = {"seed": 0, "episodes": 40, "seeds": 8, "anytime": 1.0, "noise": [0.0, 0.3], "model_mass": [1 / 3, 1e-6],
         "delusional_eps": [0.2], "slip": [0.0, 0.3]}


@pytest.fixture(scope="module")
def result():
    return assumptions.run(SMALL)


def test_kl_and_model_prior_by_hand():
    rho = [1 / 3] * 3
    q = assumptions.model_prior(1e-6)
    assert q == pytest.approx([1e-6, (1 - 1e-6) / 2, (1 - 1e-6) / 2])
    by_hand = sum(p * math.log(p / qq) for p, qq in zip(rho, q))
    assert assumptions.kl(rho, q) == pytest.approx(by_hand, rel=1e-12)
    assert assumptions.kl(rho, rho) == 0.0


@pytest.mark.parametrize("mass", [1 / 3, 0.05, 1e-6])
def test_wrong_prior_line_is_h_times_one_minus_the_overlap_of_the_priors(mass):
    # hard: BAIL pulls arm g with the model's prior mass rho'(g) every step; it pays 1 only when g = z
    env = hard(3, 5)
    model = hard(3, 5, prior=assumptions.model_prior(mass))
    rho = np.full(3, 1 / 3)
    rho_model = np.asarray(assumptions.model_prior(mass))
    rho_model = rho_model / rho_model.sum()
    assert assumptions.wrong_prior_line(env, model) == pytest.approx(5 * (1 - rho @ rho_model), rel=1e-6)


def test_every_experiment_runs_on_small_settings(result, tmp_path):
    assert set(result["experiments"]) == set(assumptions.EXPERIMENTS)
    for exp in result["experiments"].values():
        assert exp["episodes"] == 40 and exp["seeds"] == 8
        for c in exp["cells"]:
            assert c["curve"]["episodes"][-1] == 40
            assert c["regret"] == pytest.approx(c["curve"]["regret_mean"][-1])
    names = {p.name for p in assumptions.figure(result, tmp_path)}
    assert names == {f"assumptions_{n}.{e}" for n in assumptions.EXPERIMENTS for e in ("png", "pdf")}
    rows = assumptions.rows(result)
    assert [r["name"] for r in rows] == [f"assumptions:{n}" for n in assumptions.EXPERIMENTS]
    assert all(r["criterion"] == "descriptive (what was measured)" for r in rows)


def test_the_bound_is_drawn_only_where_it_applies(result):
    exps = result["experiments"]
    for c in exps["reporter"]["cells"]:
        bounded = c["grid"] == 0.0 and c["label"].startswith("eps-BAIL")
        assert (c["theory_kind"] == "upper_bound") == bounded, c["group"]
        if c["grid"] == 0.3 and c["label"].startswith("eps-BAIL"):
            assert "injective Reporter" in c["theory_note"]
    for c in exps["wrong_prior"]["cells"]:
        correct = c["grid"] == pytest.approx(1 / 3)
        if not correct:
            assert c["theory_kind"] is None and "model differs" in c["theory_note"]
        assert c["curve"]["theory"] is None or correct
    assert all(c["theory_kind"] is None and "delusional" in c["theory_note"] for c in exps["delusional"]["cells"])
    for c in exps["actor_slip"]["cells"]:
        if c["label"].startswith("eps-BAIL"):
            assert (c["theory_kind"] == "upper_bound") == (c["knows_slip"] or c["grid"] == 0.0)


def test_wrong_prior_bail_on_its_exact_line(result):
    bail = [c for c in result["experiments"]["wrong_prior"]["cells"] if c["label"] == "BAIL"]
    assert len(bail) == 2 and all(c["on_exact_line"] for c in bail)
    for c in bail:
        assert abs(c["per_episode_regret"] - c["exact_line_per_episode"]) <= 4 * c["per_episode_regret_se"] + 1e-9


def test_delusional_bail_locks_every_seed(result):
    bail = next(c for c in result["experiments"]["delusional"]["cells"] if c["label"] == "BAIL")
    # the first arm pull puts all mass on that arm's task: each seed's true-task posterior ends at 1 or 0
    assert bail["locked_wrong_fraction"] + bail["true_task_posterior_final"] == pytest.approx(1.0, abs=1e-5)
    assert bail["misspecification_events_per_seed"] == 0.0  # BAIL only pulls arms: no zero-likelihood evidence


def test_slip_misspecification_only_when_the_model_assumes_obedience(result):
    for c in result["experiments"]["actor_slip"]["cells"]:
        if c["knows_slip"] or c["grid"] == 0.0:
            assert c["misspecification_events_per_seed"] == 0.0
        else:
            assert c["misspecification_events_per_seed"] > 0.0


def test_descriptive_verdict_is_a_function_of_the_numbers(result):
    text = assumptions.verdict(result)
    assert text.startswith("measured (descriptive): ")
    fake = copy.deepcopy(result)
    cells = [c for exp in fake["experiments"].values() for c in exp["cells"]]
    for c in cells:
        c["slope_ci95"] = [1.0, 1.0]  # every cell linear
        if c["theory_kind"] == "upper_bound":
            c["regret_ci95"] = [0.0, c["theory_value"] * 2]
    eps = sum(c["label"].startswith("eps-BAIL anytime") for c in cells)
    bail = sum(c["label"] == "BAIL" for c in cells)
    bounded = sum(c["theory_kind"] == "upper_bound" for c in cells)
    assert assumptions.verdict(fake) == (f"measured (descriptive): eps-BAIL anytime sublinear in 0/{eps} cells, "
                                         f"BAIL linear in {bail}/{bail}; under the bound in 0/{bounded} cells "
                                         "where it applies")
    assert all(isinstance(s, str) and s for s in assumptions.sentences(result).values())


def test_unknown_experiment_is_refused():
    with pytest.raises(ValueError, match="experiment: must be one of reporter, wrong_prior, delusional, actor_slip"):
        assumptions.run_experiment("nope", SMALL)
