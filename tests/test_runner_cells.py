"""Cells that differ only in values run as one vmapped batch, with the same numbers as run alone."""

import jax
import numpy as np
import pytest

from jaxbail.instances import hard
from jaxbail.planners import make_planner
from jaxbail.runner import simulate, simulate_many


def test_batched_cells_equal_separate_runs():
    instances = [hard(3, 4, prior=p) for p in ([0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.2, 0.2])]
    planners = [make_planner("eps_bail", eps_scale=e) for e in (0.05, 0.2, 0.5)]
    tasks = [None, 1, None]
    key = jax.random.PRNGKey(5)
    batch = simulate_many(key, instances, planners, tasks=tasks, num_episodes=40, num_seeds=64, progress=False)
    for inst, planner, task, cell in zip(instances, planners, tasks, batch):
        alone = simulate(key, inst, planner, task=task, num_episodes=40, num_seeds=64, progress=False)
        np.testing.assert_array_equal(cell.tasks, alone.tasks)
        np.testing.assert_allclose(cell.gap_regret, alone.gap_regret, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(cell.true_task_posterior, alone.true_task_posterior, atol=1e-5)
    assert np.all(batch[1].tasks == 1)


def test_cells_with_different_structure_are_refused():
    with pytest.raises(ValueError, match="same structure to run as one batch"):
        simulate_many(jax.random.PRNGKey(0), [hard(), hard()], [make_planner("bail"), make_planner("eps_bail")],
                      num_episodes=2, num_seeds=2, progress=False)
    with pytest.raises(ValueError, match="must have sizes"):
        simulate_many(jax.random.PRNGKey(0), [hard(3), hard(4)], [make_planner("bail")] * 2,
                      num_episodes=2, num_seeds=2, progress=False)


def test_known_state_filter_gives_the_dense_filters_numbers():
    """eps-BAIL with eps 0.3: BAIL's steps (the mixture over the known-state belief) and exploration episodes."""
    from jaxbail.instances import random_instance

    for inst in (hard(3, 4, prior=[0.5, 0.3, 0.2]), random_instance(2, num_tasks=3, num_states=4, num_subgoals=3,
                                                                     horizon=3)):
        planner = make_planner("eps_bail", eps_scale=0.3)
        fast = simulate(jax.random.PRNGKey(9), inst, planner, num_episodes=30, num_seeds=50, progress=False,
                        measure_tv=True)
        dense = simulate(jax.random.PRNGKey(9), inst, planner, num_episodes=30, num_seeds=50, progress=False,
                         measure_tv=True, filter="dense")
        for name in ("gap_regret", "return_regret", "misspecified", "true_task_posterior", "tv_to_bail"):
            np.testing.assert_allclose(getattr(fast, name), getattr(dense, name), rtol=0, atol=2e-6, err_msg=name)


def test_filter_must_be_auto_or_dense():
    with pytest.raises(ValueError, match="filter: must be 'auto' or 'dense'"):
        simulate(jax.random.PRNGKey(0), hard(), make_planner("bail"), num_episodes=2, num_seeds=2, filter="fast")


def test_planners_whose_pytrees_compare_equal_still_get_their_own_compiled_simulation():
    """Two flax.struct planners of different classes with equal static fields (``Bail()``, ``Psrl()``) can
    compare equal as pytree structures in JAX's jit caches; the runner passes their classes as a static key,
    so PSRL run right after BAIL (same sizes) runs PSRL's code, with PSRL's per-seed state."""
    from jaxbail.planners import Bail, Psrl
    from jaxbail.runner import node_types

    assert node_types(Bail()) != node_types(Psrl())
    assert node_types(make_planner("eps_bail")) != node_types(make_planner("eps_bawm"))
    inst, key = hard(3, 3), jax.random.PRNGKey(2)
    run = dict(num_episodes=30, num_seeds=40, progress=False)
    bail = simulate(key, inst, Bail(), **run)
    psrl = simulate(key, inst, Psrl(), **run)
    # on hard BAIL's posterior never moves; PSRL plays one sampled task's expert per episode instead
    assert not np.array_equal(bail.gap_regret, psrl.gap_regret)
    np.testing.assert_array_equal(simulate(key, inst, Psrl(), **run).gap_regret, psrl.gap_regret)
