"""Every built-in instance with every planner, jitted, compiles once per sizes."""

import chex
import jax
import numpy as np
import pytest

from jaxbail import runner
from jaxbail.instances import actor_slip, coordination, hard, random_instance
from jaxbail.planners import PLANNERS, make_planner

# (label, instance built from a "value" index: same sizes, new values)
FAMILIES = {
    "hard": lambda v: hard(num_tasks=2, horizon=3, prior=[0.5, 0.5] if v == 0 else [0.3, 0.7]),
    "random_identity": lambda v: random_instance(v, num_tasks=2, num_states=3, num_subgoals=2, horizon=3),
    "random_noisy": lambda v: random_instance(v, num_tasks=2, num_states=3, num_subgoals=2, horizon=3,
                                              reporter="noisy", noise=0.1 + 0.1 * v),
    "actor_slip": lambda v: actor_slip(num_tasks=2, horizon=3, slip=0.1 + 0.2 * v),
    "hard_instructions": lambda v: hard(num_tasks=2, horizon=3, num_instructions=2,
                                        instruction_probs=[0.5, 0.5] if v == 0 else [0.2, 0.8]),
    "coordination": lambda v: coordination(num_actors=2, num_tasks=2, horizon=2, reveal=1.0 if v == 0 else [0.5, 0.8]),
}


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("planner_name", list(PLANNERS))
def test_every_instance_runs_every_planner_without_recompiling(monkeypatch, family, planner_name):
    traced = jax.jit(chex.assert_max_traces(runner._run_cells_impl, n=1),
                     static_argnames=runner.STATIC_ARGNAMES)
    monkeypatch.setattr(runner, "_run_cells", traced)
    chex.clear_trace_counter()
    for value in (0, 1):
        instance = FAMILIES[family](value)
        planner = make_planner(planner_name, eps_scale=0.2 + 0.3 * value)
        result = runner.simulate(jax.random.PRNGKey(value), instance, planner, num_episodes=6, num_seeds=5,
                                 chunk_episodes=3, progress=False)
        assert result.gap_regret.shape == (5, len(result.episodes))
        assert np.all(np.isfinite(result.gap_regret))
        assert np.all(result.gap_regret >= -1e-5)
        if planner_name == "oracle":  # the experts of the drawn task (and instruction) have gap exactly 0
            np.testing.assert_array_equal(result.gap_regret, 0.0)
