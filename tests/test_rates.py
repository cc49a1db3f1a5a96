"""Claim 3's rate across T and claim 3b's constants: the power-law fit, eps*(T) per cell, batches read at
their own horizons, verdicts."""

import copy
import math

import jax
import numpy as np
import pytest

from jaxbail.claims import claim3_rate, claim3b_constants
from jaxbail.claims._rates import eps_star_cell, loglog_exponent, power_law_fit, run_cells
from jaxbail.instances import hard
from jaxbail.runner import simulate


@pytest.mark.parametrize("power", [0.5, 0.33, 1.0])
def test_power_law_fit_recovers_known_exponents_within_its_interval(power):
    rng = np.random.default_rng(int(power * 100))
    x = np.logspace(2, 5, 7)
    sigma = 0.4  # lognormal seed noise with mean 1: E[y] = 3 x^power exactly
    noise = np.exp(sigma * rng.standard_normal((300, x.size)) - sigma**2 / 2)
    fit = power_law_fit(x, 3.0 * x**power * noise, num_bootstrap=1000)
    assert fit.lo < power < fit.hi
    assert fit.lo < fit.exponent < fit.hi
    assert fit.hi - fit.lo < 0.1  # informative: 300 seeds pin the exponent well inside +-0.05
    # without noise the fit is exact and the interval collapses onto it
    exact = power_law_fit(x, np.tile(3.0 * x**power, (5, 1)), num_bootstrap=50)
    assert exact.exponent == pytest.approx(power, abs=1e-12)
    assert exact.prefactor == pytest.approx(3.0, rel=1e-10)
    assert exact.lo == pytest.approx(power, abs=1e-12) and exact.hi == pytest.approx(power, abs=1e-12)


def test_loglog_exponent_and_its_validation():
    assert loglog_exponent([1.0, 10.0, 100.0], [2.0, 2.0 * 10**-0.5, 0.2]) == pytest.approx(-0.5, abs=1e-12)
    with pytest.raises(ValueError, match="needs >= 2 points with positive y"):
        loglog_exponent([1.0, 2.0], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"per_seed must be \[N, 3\] with >= 2 grid points"):
        power_law_fit([1.0, 2.0, 3.0], np.ones((4, 2)))


def _eps_star_by_hand(t):
    """hard(3, 5), uniform prior, uniform exploration over 4 subgoals: Dmax = 1, C = 2 (each C_z = 2),
    eta = 1 - BC with BC = P(the probe is never played in 5 steps) = (3/4)^5."""
    eta = 1.0 - 0.75**5
    eps = math.sqrt(1.0 * 2.0 / (eta * t))
    return eps, eps * t * 5 + 5 * 1.0 * 2.0 / (eps * eta)


def test_across_t_cells_use_eps_star_of_their_own_t_and_read_what_a_run_of_that_length_gives():
    env = hard(3, 5)
    horizons = [20, 60, 180]
    cells, infos = zip(*(eps_star_cell(env, t) for t in horizons))
    for t, info, cell in zip(horizons, infos, cells):
        eps, bound = _eps_star_by_hand(t)
        assert info["eps"] == pytest.approx(eps, rel=1e-12)
        assert float(cell.planner.scale) == pytest.approx(eps, rel=1e-6)  # float32 leaf
        assert float(cell.planner.power) == 0.0 and cell.episodes == t
        assert info["bound"] == pytest.approx(bound, rel=1e-12)
    key = jax.random.PRNGKey(3)
    batched = run_cells(key, cells, num_seeds=12, batch=2)  # two batches: [20, 60] run 60 episodes, [180]
    for cell, res in zip(cells, batched):
        alone = simulate(key, env, cell.planner, num_episodes=cell.episodes, num_seeds=12)
        np.testing.assert_array_equal(res.episodes, alone.episodes)
        np.testing.assert_array_equal(res.gap_regret, alone.gap_regret)
        np.testing.assert_array_equal(res.tasks, alone.tasks)
        assert res.num_episodes == cell.episodes


def test_claim3_rate_runs_and_its_verdict_flips_on_violating_numbers(tmp_path):
    settings = {"seed": 0, "horizons": [30, 100, 300], "seeds": 16, "batch": 2, "anytime": 1.0, "bootstrap": 200}
    result = claim3_rate.run(settings)
    assert result["horizons"] == [30, 100, 300]
    assert result["eps_star"] == pytest.approx([_eps_star_by_hand(t)[0] for t in (30, 100, 300)], rel=1e-12)
    assert result["bound_exponent"] == pytest.approx(0.5, abs=1e-12)  # eps* < 1: bound = 2 H sqrt(Dmax C T / eta)
    assert result["anytime"]["T"] == 300 and result["anytime"]["spec"] == "anytime:1"
    row = claim3_rate.rows(result)[0]
    assert row["exponent"] == result["exponent"] and row["exponent_ci95"] == result["exponent_ci95"]
    paths = claim3_rate.figure(result, tmp_path)
    assert {p.name for p in paths} == {"claim3_rate_across_T.png", "claim3_rate_across_T.pdf"}

    good = {"exponent_ci95": [0.45, 0.55], "regret_ci95_hi": [10.0, 20.0, 30.0], "bound": [11.0, 21.0, 31.0]}
    assert claim3_rate.verdict(good) == "supported"
    steep = copy.deepcopy(good)
    steep["exponent_ci95"] = [0.55, 0.66]
    assert claim3_rate.verdict(steep) == "not supported"
    over = copy.deepcopy(good)
    over["regret_ci95_hi"][1] = 21.5
    assert claim3_rate.verdict(over) == "not supported"
    unknown = copy.deepcopy(good)
    unknown["exponent_ci95"] = [None, None]
    assert claim3_rate.verdict(unknown) == "not supported"


def test_claim3b_runs_small_and_its_verdict_flips(tmp_path):
    settings = {"seed": 0, "episodes": 60, "seeds": 8, "reveal": [1.0, 0.5, 0.25], "horizon": [5, 2],
                "num_tasks": [3, 2], "skew": [2 / 3, 0.2], "bootstrap": 100}
    result = claim3b_constants.run(settings)
    eta = result["directions"]["eta"]
    assert eta["bound_exponent"] == pytest.approx(-0.5, abs=1e-12)  # eps* < 1 in every cell: bound ~ eta^-1/2
    # reveal q: per step BC factor 1 - q/4 (the probe, played w.p. 1/4, leaves both tasks home w.p. 1 - q)
    assert eta["x"] == pytest.approx([1 - (1 - q / 4) ** 5 for q in (1.0, 0.5, 0.25)], rel=1e-9)
    skew = result["directions"]["C_skew"]
    for a, c in zip((2 / 3, 0.2), skew["x"]):
        rho = np.asarray(claim3b_constants.skewed_prior(a))
        assert c == pytest.approx(np.sqrt(rho).sum() ** 2 - 1.0, rel=1e-6)  # sum_z rho_z C_z
    assert result["directions"]["C_Z"]["x"] == pytest.approx([2.0, 1.0], rel=1e-6)  # uniform: C = Z - 1
    assert len(claim3b_constants.sentences(result)) == 4
    assert {p.name for p in claim3b_constants.figure(result, tmp_path)} == {"claim3b_bound_constants.png",
                                                                             "claim3b_bound_constants.pdf"}
    assert set(claim3b_constants.rows(result)[0]["exponents"]) == {"eta", "H", "C_Z", "C_skew"}
    fake = {"directions": {"eta": {"x": [0.5, 0.25], "regret_mean": [1.0, 2.0], "bound": [2.0, 3.0]}}}
    assert claim3b_constants.verdict(fake) == "supported"
    fake["directions"]["eta"]["regret_mean"][1] = 3.5
    assert claim3b_constants.verdict(fake) == "not supported"
