"""Every registered instance family with every registered planner, jitted, compiles once per sizes.

Both lists come from the registries (:data:`jaxbail.instances.INSTANCES` with each family's
``examples``, :data:`jaxbail.planners.PLANNERS`), so a new family or planner is smoke-tested
without an edit here.
"""

import chex
import jax
import numpy as np
import pytest

from jaxbail import runner
from jaxbail.instance import MultiAgentInstance
from jaxbail.instances import INSTANCES, instance_by_name
from jaxbail.planners import PLANNERS, make_planner

# (family, label) -> the two parameter sets: same sizes, new values
EXAMPLES = {f"{name}-{label}": (name, pair) for name, family in INSTANCES.items()
            for label, pair in family.examples.items()}

PRETRAINED_EXAMPLES = ("hard-default", "random-noisy")
"""Planners built from a checkpoint run on two examples only (a transformer compile costs as much as all
the other planners' together): one state-revealing and one noisy Reporter."""


def _runs_on(spec, example: str) -> bool:
    if spec.needs_checkpoint and example not in PRETRAINED_EXAMPLES:
        return False
    name, (params, _) = EXAMPLES[example]
    several = isinstance(instance_by_name(name, **params), MultiAgentInstance)
    return not (several and spec.entry.single_actor_reason is not None)  # tests/test_llm_cli.py: the refusal


CASES = [(p, e) for p, spec in PLANNERS.items() for e in EXAMPLES if _runs_on(spec, e)]


def test_every_family_and_planner_is_covered():
    assert {name for name, _ in EXAMPLES.values()} == set(INSTANCES), "every family registers examples"
    assert set(PRETRAINED_EXAMPLES) <= set(EXAMPLES)
    assert {p for p, _ in CASES} == set(PLANNERS)


def _planner(name: str, instance, value: int):
    """``make_planner(name)``; a checkpoint planner is its entry's stand-in (untrained weights of the instance's
    sizes) whose traced leaves change with ``value``, like every other planner's values."""
    spec = PLANNERS[name]
    if not spec.needs_checkpoint:
        return make_planner(name, eps_scale=0.2 + 0.3 * value, window=2 if spec.takes_window else None)
    return spec.wrap(spec.entry.stand_in(instance, jax.random.PRNGKey(value)), 0.2 + 0.3 * value)


@pytest.mark.parametrize("planner_name, example", CASES)
def test_every_instance_runs_every_planner_without_recompiling(monkeypatch, example, planner_name):
    traced = jax.jit(chex.assert_max_traces(runner._run_cells_impl, n=1),
                     static_argnames=runner.STATIC_ARGNAMES)
    monkeypatch.setattr(runner, "_run_cells", traced)
    chex.clear_trace_counter()
    family, pair = EXAMPLES[example]
    sizes = []
    for value in (0, 1):
        instance = instance_by_name(family, **pair[value])
        sizes.append(instance.sizes)
        planner = _planner(planner_name, instance, value)
        result = runner.simulate(jax.random.PRNGKey(value), instance, planner, num_episodes=6, num_seeds=5,
                                 chunk_episodes=3, progress=False)
        assert result.gap_regret.shape == (5, len(result.episodes))
        assert np.all(np.isfinite(result.gap_regret))
        assert np.all(result.gap_regret >= -1e-5)
        if planner_name == "oracle":  # the experts of the drawn task (and instruction) have gap exactly 0
            np.testing.assert_array_equal(result.gap_regret, 0.0)
    assert sizes[0] == sizes[1], f"{example}: the two examples must have the same sizes"
