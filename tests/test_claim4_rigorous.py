"""Claim 4 made rigorous: two deltas per checkpoint, the verdict on SPEC 6's absolute bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxbail import theory
from jaxbail.instances import random_instance
from jaxbail.llm.checkpoint import load_checkpoint, shipped_checkpoint
from jaxbail.planners import make_planner
from jaxbail.claims.claim4 import DELTA_NOTE, absolute_bound_curve, heldout_delta, verdict_absolute


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
