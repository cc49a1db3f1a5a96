"""``random``: Dirichlet tables of any size, with identity, noisy, aliased or random Reporters."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxbail.instance import Instance, InstanceError, make_instance
from jaxbail.instances._common import check_instructions, check_int, check_unit

REPORTERS = ("identity", "noisy", "aliased", "dirichlet")


def random_instance(key: jax.Array | int = 0, num_tasks: int = 4, num_states: int = 4, num_subgoals: int = 3,
                    horizon: int = 4, reporter: str = "identity", num_observations: int | None = None,
                    noise: float = 0.1, concentration: float = 1.0, num_instructions: int | None = None,
                    instruction_probs: Sequence[float] | None = None) -> Instance:
    """A random instance: ``init`` and ``transition`` rows ~ Dirichlet(``concentration``),
    rewards ~ U[0, 1], a uniform prior.

    Reporters: ``identity`` (``O = S``); ``noisy`` (``O = S``, shows the state with
    probability ``1 - noise``, else a uniform observation); ``aliased``
    (deterministic, non-injective: ``o = s mod O``, ``O`` default ``max(1, S // 2)``);
    ``dirichlet`` (random rows, ``O`` default ``S``).

    With ``num_instructions = W`` (or ``instruction_probs``), per-episode instructions (SPEC 8):
    the reward ``[Z, W, S, G]`` is drawn ~ U[0, 1] from the same key, ``q`` uniform (or
    ``instruction_probs``); the dynamics do not change.

    Args:
      key: a ``jax.random`` key or an integer seed.
    """
    z_count = check_int("num_tasks", num_tasks, 1)
    s_count = check_int("num_states", num_states, 1)
    g_count = check_int("num_subgoals", num_subgoals, 1)
    horizon = check_int("horizon", horizon, 1)
    if reporter not in REPORTERS:
        raise InstanceError(f"reporter: must be one of {', '.join(REPORTERS)}, got {reporter!r}")
    noise = check_unit("noise", noise)
    try:
        concentration = float(concentration)
    except (TypeError, ValueError):
        raise InstanceError(f"concentration: must be a number, got {concentration!r}") from None
    if not concentration > 0:
        raise InstanceError(f"concentration: must be > 0, got {concentration:g}")
    if num_observations is None:
        num_observations = max(1, s_count // 2) if reporter == "aliased" else s_count
    o_count = check_int("num_observations", num_observations, 1)
    instructions = check_instructions(num_instructions, instruction_probs)
    if reporter in ("identity", "noisy") and o_count != s_count:
        raise InstanceError(f"num_observations: the {reporter} Reporter needs O = S = {s_count}, got {o_count}")
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    k_init, k_trans, k_rew, k_emit = jax.random.split(key, 4)
    alpha = jnp.full((s_count,), concentration)
    init = jax.random.dirichlet(k_init, alpha, (z_count,))
    transition = jax.random.dirichlet(k_trans, alpha, (z_count, s_count, g_count))
    reward_shape = (z_count, s_count, g_count) if instructions is None else (z_count, instructions.size, s_count,
                                                                              g_count)
    reward = jax.random.uniform(k_rew, reward_shape)
    eye = jnp.eye(s_count)
    if reporter == "identity":
        emission = eye
    elif reporter == "noisy":
        emission = (1.0 - noise) * eye + noise / s_count
    elif reporter == "aliased":
        emission = jax.nn.one_hot(jnp.arange(s_count) % o_count, o_count)
    else:
        emission = jax.random.dirichlet(k_emit, jnp.full((o_count,), concentration), (z_count, s_count))
    emission = jnp.broadcast_to(emission, (z_count, s_count, o_count))
    prior = jnp.full((z_count,), 1.0 / z_count)
    return make_instance(prior, init, transition, emission, reward, horizon, name="random", validate=False,
                         instructions=instructions)
