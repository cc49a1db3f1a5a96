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


PRETRAINED = ("llm", "eps_llm")
"""The transformer planners run on two families only (a transformer compile costs as much as all the other
planners' together): one state-revealing and one noisy Reporter. They read one Actor's history, so several
Actors are refused (tests/test_llm_cli.py checks the message)."""
PRETRAINED_FAMILIES = ("hard", "random_noisy")
CASES = [(p, f) for p in PLANNERS for f in FAMILIES if p not in PRETRAINED or f in PRETRAINED_FAMILIES]


def _planner(name: str, instance, value: int):
    """``make_planner(name)``; the transformer planners get a small untrained model of the instance's sizes
    whose weights (traced leaves) change with ``value``, like every other planner's values."""
    if name not in PRETRAINED:
        return make_planner(name, eps_scale=0.2 + 0.3 * value)
    from jaxbail.llm import LlmPlanner, ModelConfig, Transformer, eps_llm

    config = ModelConfig(num_observations=instance.num_observations, num_subgoals=instance.num_subgoals,
                         horizon=instance.horizon, context_episodes=2, layers=1, width=16, heads=2)
    llm = LlmPlanner(params=Transformer(config).init_params(jax.random.PRNGKey(value)), config=config)
    return llm if name == "llm" else eps_llm(llm, 0.2 + 0.3 * value)


@pytest.mark.parametrize("planner_name, family", CASES)
def test_every_instance_runs_every_planner_without_recompiling(monkeypatch, family, planner_name):
    traced = jax.jit(chex.assert_max_traces(runner._run_cells_impl, n=1),
                     static_argnames=runner.STATIC_ARGNAMES)
    monkeypatch.setattr(runner, "_run_cells", traced)
    chex.clear_trace_counter()
    for value in (0, 1):
        instance = FAMILIES[family](value)
        planner = _planner(planner_name, instance, value)
        result = runner.simulate(jax.random.PRNGKey(value), instance, planner, num_episodes=6, num_seeds=5,
                                 chunk_episodes=3, progress=False)
        assert result.gap_regret.shape == (5, len(result.episodes))
        assert np.all(np.isfinite(result.gap_regret))
        assert np.all(result.gap_regret >= -1e-5)
        if planner_name == "oracle":  # the experts of the drawn task (and instruction) have gap exactly 0
            np.testing.assert_array_equal(result.gap_regret, 0.0)
