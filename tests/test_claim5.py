"""Claim 5 of `jaxbail reproduce` (BAWM; several Actors): its verdicts follow the numbers, and `safe_arm`
is an instance where BAWM and BAIL differ. (The runs themselves: tests/test_plot_reproduce.py, end to end.)"""

import math

import numpy as np
import pytest

from jaxbail import reproduce as rep
from jaxbail import theory
from jaxbail.claims import claim5a, claim5b, common, markdown_row
from jaxbail.instances import instance_by_name, safe_arm
from jaxbail.planners import make_planner, mean_model_plan


def test_on_exact_line_flips_when_the_mean_leaves_4_se_or_the_slope_leaves_1():
    assert rep.on_exact_line(3.34, 0.01, 3.3333, 1.002)
    assert not rep.on_exact_line(3.34 + 0.05, 0.01, 3.3333, 1.002)  # 5.7 SE away
    assert not rep.on_exact_line(3.34, 0.01, 3.3333, 0.9)  # not linear
    # a run with the same regret in every seed (SE = 0) is on its line up to float32 rounding only
    assert rep.on_exact_line(2.0, 0.0, 1.9999998807907104, 1.0)
    assert not rep.on_exact_line(2.001, 0.0, 2.0, 1.0)
    assert not rep.on_exact_line(math.nan, 0.01, 3.3333, 1.0)


def test_sublinear_under_bound_flips_on_the_slope_or_the_bound():
    assert rep.sublinear_under_bound(0.53, 183.3, 186.6)
    assert not rep.sublinear_under_bound(1.01, 183.3, 186.6)  # the slope CI reaches 1
    assert not rep.sublinear_under_bound(0.53, 190.0, 186.6)  # over the bound
    assert not rep.sublinear_under_bound(0.53, 183.3, None)  # no bound: nothing to be under
    assert not rep.sublinear_under_bound(math.nan, 183.3, 186.6)
    assert rep.sublinear_under_bound(0.9, 1.0, 2.0, slope_max=1.0) and not rep.sublinear_under_bound(
        0.9, 1.0, 2.0, slope_max=0.65)


def test_differ_needs_more_than_4_se():
    assert rep.differ(-1.33, 0.0023)
    assert not rep.differ(0.005, 0.0023)
    assert rep.differ(0.4, 0.0)  # deterministic difference


def _run(label, measured, theory_entry, check):
    return {"summary": {"label": label, "episodes": 1000, "seeds": 200}, "measured": measured,
            "theory": theory_entry, "check": check}


def test_a_claim5_record_is_supported_only_when_every_check_is():
    line = {"kind": "exact_line", "per_episode_regret": 1.44, "value": 1440.0}
    m = {"regret": 1463.0, "regret_ci95": [1421.5, 1504.5], "per_episode_regret": 1.463,
         "per_episode_regret_se": 0.0212, "slope": 1.0016, "slope_ci95": [0.999, 1.005]}
    bound = {"kind": "upper_bound", "value": 186.6, "formula": "f", "note": "n"}
    mb = {"regret": 180.5, "regret_ci95": [177.6, 183.3], "per_episode_regret": 0.18, "per_episode_regret_se": 0.0015,
          "slope": 0.52, "slope_ci95": [0.509, 0.532]}

    def record(m_bound):
        ok_line = rep.on_exact_line(m["per_episode_regret"], m["per_episode_regret_se"], 1.44, m["slope"])
        ok_bound = rep.sublinear_under_bound(m_bound["slope_ci95"][1], m_bound["regret_ci95"][1], bound["value"])
        groups = {"N=3": [_run("bail", m, line, ok_line), _run("eps_bail anytime:1", m_bound, bound, ok_bound)]}
        return common.cells_record(5, "b", "t", {}, groups, "c", {}, {})

    good = record(mb)
    assert good["verdict"] == "supported" and good["checks"] == {"N=3: bail": True, "N=3: eps_bail anytime:1": True}
    bad = record(dict(mb, regret_ci95=[177.6, 190.0]))  # the measured interval crosses the bound
    assert bad["verdict"] == "not supported" and bad["checks"]["N=3: eps_bail anytime:1"] is False
    [row] = claim5b.rows(bad)  # one row for the one group
    row = markdown_row(row)
    assert row.startswith("| 5b. t — N=3 (1000 episodes x 200 seeds) |") and row.endswith("**not supported** |")
    assert "bail: 1.4630 +- 0.0212 per episode" in row and "bound 186.6" in row
    assert claim5b.verdict(good) == "supported" and claim5b.verdict(bad) == "not supported"
    extra = common.cells_record(5, "a", "t", {}, {"safe_arm": []}, "c",
                                {"safe_arm: bawm regret != bail regret": False}, {})
    assert extra["verdict"] == "not supported"


def test_claim5a_verdict_needs_the_safe_arm_contrast():
    record = {"measured": {}, "theory": {}, "safe_arm_contrast": {
        "plan_max_abs_difference": 0.6, "bawm_minus_bail_per_episode": -1.33, "bawm_minus_bail_se": 0.0023}}
    assert claim5a.verdict(record) == "supported"
    same_plan = dict(record["safe_arm_contrast"], plan_max_abs_difference=claim5a.PLAN_GAP)
    assert claim5a.verdict(dict(record, safe_arm_contrast=same_plan)) == "not supported"
    same_regret = dict(record["safe_arm_contrast"], bawm_minus_bail_se=1.33 / 3.9)  # 3.9 SE: not different
    assert claim5a.verdict(dict(record, safe_arm_contrast=same_regret)) == "not supported"


@pytest.mark.parametrize("safe, prior, bawm_arm", [(0.6, None, "safe"), (0.6, [0.7, 0.2, 0.1], 0),
                                                   (0.3, None, 0)])
def test_safe_arm_bawm_plays_the_safe_arm_exactly_when_it_beats_every_prior_weight(safe, prior, bawm_arm):
    inst = safe_arm(num_tasks=3, horizon=4, safe=safe, prior=prior)
    assert inst.sizes == {"Z": 3, "S": 4, "G": 5, "O": 4, "H": 4}
    rho = np.full(3, 1 / 3) if prior is None else np.asarray(prior)
    plan = np.asarray(mean_model_plan(np.asarray(rho, np.float32), inst.transition, inst.reward, 4))
    expected = 4 if bawm_arm == "safe" else bawm_arm
    assert np.all(plan.argmax(axis=-1) == expected) and np.all(plan.max(axis=-1) == 1)
    bawm = theory.theory_for(inst, make_planner("bawm"), 10)
    bail = theory.theory_for(inst, make_planner("bail"), 10)
    assert bawm.kind == bail.kind == "exact_line"  # the safe arm and the arms never move the posterior
    per_step = 1 - safe if bawm_arm == "safe" else 1 - rho[bawm_arm]
    assert bawm.per_episode == pytest.approx(4 * per_step, abs=1e-6)
    assert bail.per_episode == pytest.approx(4 * (1 - np.sum(rho**2)), abs=1e-6)
    eps = theory.theory_for(inst, make_planner("eps_bawm", eps_scale=0.1), 100)
    assert eps.kind == "upper_bound" and "covers BAIL" in eps.note  # drawn for eps-BAWM as a reference


def test_safe_arm_by_name_and_its_bad_parameter():
    assert instance_by_name("safe_arm", safe=0.7).name == "safe_arm"
    with pytest.raises(ValueError, match=r"^safe: must lie in \(0, 1\)"):
        safe_arm(safe=1.0)
