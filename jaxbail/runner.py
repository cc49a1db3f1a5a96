"""The one simulation loop: jit of vmap over seeds of a scan over episodes and steps, chunked on the host."""

from __future__ import annotations

import functools
import logging
import math
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail import belief as filt
from jaxbail import rng
from jaxbail.devices import resolve_devices, seed_mesh, shard_seeds
from jaxbail.env import Environment, kind_of, rollout
from jaxbail.experts import Experts, compute_experts
from jaxbail.instance import Instance, MultiAgentInstance, reporter_is_injective, same_values
from jaxbail.planners.base import Context, Planner
from jaxbail.sampling import draw_from_probs
from jaxbail.streaming import CurveStats, merge

__all__ = ["simulate", "simulate_many", "SimulationResult", "log_spaced_episodes", "seed_keys"]

_ENV_STREAM, _PLANNER_STREAM, _TASK_STREAM = 0, 1, 2
_log = logging.getLogger(__name__)


class SimulationResult(NamedTuple):
    """Per-seed results at logged episodes (host NumPy arrays).

    Attributes:
      episodes: ``[L]`` 1-based episode counts ``T'`` at which cumulative values are logged
        (log-spaced, always including ``T`` and ``T - ceil(T/10)``).
      gap_regret: ``[N, L]`` cumulative gap-estimator regret (primary).
      return_regret: ``[N, L]`` cumulative realised-return regret.
      misspecified: ``[N, L]`` cumulative count of misspecification events.
      true_task_posterior: ``[N, L]`` posterior mass on the true task at the end of that episode.
      tasks: ``[N]`` each seed's true task.
      num_episodes: ``T``.
      tv_to_bail: ``[N, L]`` (with ``measure_tv``) the mean over that episode's decisions of the
        total variation between the planner's subgoal distribution and exact BAIL; NaN in an
        episode the planner spent exploring (:meth:`~jaxbail.planners.base.Planner.exploring`);
        else ``None``.
      mean_tv_to_bail: ``[N]`` (with ``measure_tv``) the same averaged over every decision of the
        run outside exploration episodes (NaN for a seed that explored throughout).
      curve_stats: with ``keep_curves=False``, the moments over seeds of the logged curves
        (:class:`~jaxbail.streaming.CurveStats`), and the four ``[N, L]`` curves and ``tv_to_bail`` are
        ``None``; else ``None``.
    """

    episodes: np.ndarray
    gap_regret: np.ndarray
    return_regret: np.ndarray
    misspecified: np.ndarray
    true_task_posterior: np.ndarray
    tasks: np.ndarray
    num_episodes: int
    tv_to_bail: np.ndarray | None = None
    mean_tv_to_bail: np.ndarray | None = None
    curve_stats: CurveStats | None = None


def log_spaced_episodes(num_episodes: int, per_decade: int = 24) -> np.ndarray:
    """Sorted unique 1-based episode counts, log-spaced, with ``T`` and ``T - ceil(T/10)``."""
    grid = np.logspace(0, math.log10(num_episodes), max(2, int(per_decade * math.log10(max(num_episodes, 10)))))
    last = num_episodes - math.ceil(num_episodes / 10)
    points = np.unique(np.concatenate([np.round(grid).astype(np.int64), [num_episodes, max(last, 1)]]))
    return points[(points >= 1) & (points <= num_episodes)]


def seed_keys(key: jax.Array, num_seeds: int, first_seed: int = 0) -> jax.Array:
    """Seed ``i``'s key is ``fold_in(key, i)``: independent of how many seeds run beside it.

    Returns raw threefry keys ``uint32 [num_seeds, 2]`` (``key`` may be legacy or typed).
    """
    return _seed_keys(rng.raw_key(key), jnp.uint32(first_seed), num_seeds)


@functools.partial(jax.jit, static_argnums=(2,))
def _seed_keys(key: jax.Array, first_seed: jax.Array, num_seeds: int) -> jax.Array:
    return rng.fold_in(key, first_seed + jnp.arange(num_seeds, dtype=jnp.uint32))


def _seed_start(seed_key, env_prior, model_prior, fixed_task, planner: Planner, ctx_fn):
    """The true task (from the environment's prior) and the belief's start (the model's prior)."""
    task_key = rng.fold_in(seed_key, _TASK_STREAM)
    drawn = draw_from_probs(env_prior, rng.uniform(task_key, 1)[0])
    task = jnp.where(fixed_task >= 0, fixed_task, drawn).astype(jnp.int32)
    log_task = filt.prior_log_task(model_prior)
    pstate = planner.init(rng.fold_in(seed_key, _PLANNER_STREAM), ctx_fn(task, log_task))
    return task, log_task, pstate


def _episode(carry, episode, streams, *, env: Environment, model: Instance | MultiAgentInstance, flt,
             experts: Experts, planner: Planner, num_episodes, delusional: bool, measure_tv: bool):
    """One episode of one seed. ``carry = (task, log_task, planner_state)``; ``streams = (env_key, plan_key)``,
    the seed's environment and planner streams; ``env`` the prepared :class:`~jaxbail.env.Environment`
    (whatever its kind), ``flt`` the filter that fits it (dense or known-state, plain or factored).

    Random numbers per episode: ``u_env = env.uniforms(fold_in(env_key, t))``: ``2H + 2`` numbers
    (position 0 the initial state, 1 the first observation, ``2 + 2h`` and ``3 + 2h`` step ``h``'s
    state and observation); with instructions one more position, ``2H + 2``, draws the instruction;
    with ``N`` Actors, Actor ``i`` uses positions ``i (2H + 2) + j`` of one draw laid out as above
    (Actor 0's numbers are the single-Actor ones). ``u_subgoal`` comes from the planner stream.
    """
    task, log_task, pstate = carry
    horizon = env.horizon
    env_key = rng.fold_in(streams[0], episode)
    begin_key, draw_key = rng.split(rng.fold_in(streams[1], episode), 2)
    u_env = env.uniforms(env_key)
    u_subgoal = rng.uniform(draw_key, horizon)
    # the episode's view: with an instruction, r_{z, omega}'s instance and experts
    view = env.episode(u_env, model, experts)
    ep_experts = view.experts

    state, obs = env.reset(task, u_env[0], u_env[1])
    first = flt.begin_episode(log_task, obs)

    def context(belief, step, observation, prev_subgoal, true_state):
        return Context(belief=belief, step=step, episode=episode, num_episodes=num_episodes,
                       observation=env.planner_observation(observation), prev_subgoal=prev_subgoal, model=view.model,
                       experts=ep_experts, true_task=task, true_state=env.planner_state(true_state),
                       instruction=view.instruction)

    # begin_episode sees w_t, the task marginal carried over from the previous episode (before o_1)
    carried = type(env).carried_belief(model, log_task)
    pstate = planner.begin_episode(begin_key, pstate, context(carried, jnp.int32(0), obs, jnp.int32(-1), state))

    def decide(c, h, state, obs):
        belief, pstate, prev_subgoal, gap, ret, missed, tv = c
        probs, pstate = planner.act(pstate, context(belief, h, obs, prev_subgoal, state))
        if measure_tv:  # the planner's distance to exact BAIL along its own history
            bail = belief.mixture(ep_experts.policy[h])
            tv = tv + 0.5 * jnp.sum(jnp.abs(probs / jnp.sum(probs) - bail))
        subgoal = draw_from_probs(probs, u_subgoal[h])
        gap_reward = env.regret_terms(view, task, h, state, subgoal)  # [2]: V* - Q* and r, one gather
        return subgoal, (belief, pstate, prev_subgoal, gap + gap_reward[0], ret + gap_reward[1], missed, tv), None

    def record(c, info, h, state, subgoal, next_state, next_obs):
        belief, pstate, _, gap, ret, missed, tv = c
        if delusional:
            evidence = filt.delusional_evidence(belief, ep_experts.policy[h], subgoal)
            belief, missed = evidence.belief, missed + evidence.misspecified
        upd = flt.update(belief, subgoal, next_obs)
        return (upd.belief, pstate, subgoal, gap, ret, missed + upd.misspecified, tv), None

    zero = jnp.zeros((), jnp.float32)
    init = (first.belief, pstate, jnp.int32(-1), zero, zero, first.misspecified.astype(jnp.int32), zero)
    (state, obs, (belief, pstate, subgoal, gap, ret, missed, tv)), _ = rollout(
        env, task, state, obs, decide, record, lambda h: (u_env[2 + 2 * h], u_env[3 + 2 * h]), init, horizon)
    pstate = planner.end_episode(pstate, context(belief, jnp.int32(horizon), obs, subgoal, state))
    ret_regret = env.optimal_value(view, task) - ret
    # the next episode starts from this episode's task marginal
    # exploration episodes are not the planner's own decisions: left out of its TV to BAIL (NaN)
    tv = jnp.where(planner.exploring(pstate), jnp.nan, tv / horizon) if measure_tv else tv
    out = (gap, ret_regret, missed, jnp.exp(belief.log_task[task]), tv)
    return (task, belief.log_task, pstate), out


def _run_chunk_impl(carry, keys, first_episode, env, model, experts, planner, num_episodes,
                    chunk_len: int, delusional: bool, measure_tv: bool = False, known_state: bool = False):
    kind = kind_of(env)
    prepared = kind.prepare(env)
    flt = kind.filter(model, known_state)

    def one_seed(carry, seed_key):
        streams = (rng.fold_in(seed_key, _ENV_STREAM), rng.fold_in(seed_key, _PLANNER_STREAM))

        def body(c, episode):
            return _episode(c, episode, streams, env=prepared, model=model, flt=flt, experts=experts,
                            planner=planner, num_episodes=num_episodes, delusional=delusional,
                            measure_tv=measure_tv)
        return jax.lax.scan(body, carry, first_episode + jnp.arange(chunk_len, dtype=jnp.int32))

    return jax.vmap(one_seed)(carry, keys)


def _run_cells_impl(carry, keys, first_episode, env, model, experts, planner, num_episodes,
                    chunk_len: int, delusional: bool, measure_tv: bool = False, known_state: bool = False,
                    planner_types: Any = None):
    """``_run_chunk_impl`` vmapped over a leading cell axis of instances, experts and planners.

    ``planner_types`` (static, unused in the body) is :func:`node_types` of the planner: it keys the
    compile cache on the planner's classes (see there)."""
    del planner_types

    def one_cell(carry, env, model, experts, planner):
        return _run_chunk_impl(carry, keys, first_episode, env, model, experts, planner, num_episodes,
                               chunk_len, delusional, measure_tv, known_state)
    return jax.vmap(one_cell)(carry, env, model, experts, planner)


STATIC_ARGNAMES = ("chunk_len", "delusional", "measure_tv", "known_state", "planner_types")


def node_types(tree: Any) -> Any:
    """The classes of a pytree's nodes, nested like the tree: a hashable static key.

    jit caches compare pytree structures with ``==``, and in this JAX two ``flax.struct`` nodes of
    different classes with equal static fields compare equal (``Bail()`` and ``Psrl()``, or two
    transformer planners of the same config): a compiled simulation of one planner could then be
    reused for the other. Passing this as a static argument keys the caches on the classes too.
    """
    def walk(treedef):
        data = treedef.node_data()
        return (None if data is None else data[0], tuple(walk(c) for c in treedef.children()))
    return walk(jax.tree.structure(tree))


# XLA:CPU hands small elementwise and reduction fusions to the YNNPACK library by default; for the
# simulation's [seeds, Z] and [seeds, G] arrays that is 2-3x slower than XLA's own loops
# (benchmarks/RESULTS.md). The option exists in recent jaxlibs only; where it is unknown it is left out.
_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.cache
def _compiler_options(platform: str | None = None) -> dict[str, str] | None:
    """The CPU compiler options above where this jaxlib accepts them and the simulation runs on CPU
    (``platform``, default the default backend), else ``None``: nothing CPU-specific reaches an accelerator.

    A jaxlib that does not know an option fails to compile with it (a :class:`jax.errors.JaxRuntimeError`):
    then the options are left out and a warning names them.
    """
    if (platform or jax.default_backend()) != "cpu":
        return None
    try:
        x = jax.device_put(jnp.float32(0), jax.devices("cpu")[0])
        jax.jit(lambda x: x + 1, compiler_options=_CPU_OPTIONS)(x).block_until_ready()
    except jax.errors.JaxRuntimeError as err:
        _log.warning("XLA compiler options %s dropped: this jaxlib does not accept them (%s)",
                     sorted(_CPU_OPTIONS), str(err).splitlines()[0] if str(err) else type(err).__name__)
        return None
    return _CPU_OPTIONS


@functools.cache
def _compiled_cells(platform: str | None = None):
    options = _compiler_options(platform)
    extra = {} if options is None else {"compiler_options": options}
    return jax.jit(_run_cells_impl, static_argnames=STATIC_ARGNAMES, **extra)


def _run_cells(carry, keys, *args, **kwargs):
    """``jit(_run_cells_impl)``, compiled on first use with :func:`_compiler_options` of the platform the
    seeds' keys live on."""
    platform = next(iter(keys.devices())).platform
    return _compiled_cells(platform)(carry, keys, *args, **kwargs)


def _start_impl(keys, fixed_task, env, model, experts, planner, num_episodes, planner_types=None):
    del planner_types  # static: keys the compile cache on the planner's classes (node_types)

    def one_cell(fixed_task, env, model, experts, planner):
        def ctx_fn(task, log_task):
            kind = kind_of(model)
            view = kind.start_view(model, experts)  # a planner's init sees the sizes (instruction 0's view)
            zero = jnp.int32(0)
            return Context(belief=kind.carried_belief(model, log_task), step=zero, episode=zero,
                           num_episodes=num_episodes, observation=zero, prev_subgoal=jnp.int32(-1), model=view.model,
                           experts=view.experts, true_task=task, true_state=zero, instruction=view.instruction)
        return jax.vmap(lambda k: _seed_start(k, env.prior, model.prior, fixed_task, planner, ctx_fn))(keys)
    return jax.vmap(one_cell)(fixed_task, env, model, experts, planner)


_start = jax.jit(_start_impl, static_argnames=("planner_types",))


def _strip(instance: Instance) -> Instance:
    return instance.replace(name="")


def _stack(trees: Sequence[Any], what: str) -> Any:
    structure = jax.tree.structure(trees[0])
    for tree in trees[1:]:
        if jax.tree.structure(tree) != structure:
            raise ValueError(f"every cell's {what} must have the same structure to run as one batch; "
                             f"got {structure} and {jax.tree.structure(tree)}")
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(leaf) for leaf in leaves]), *trees)


def simulate(key: jax.Array, instance: Instance, planner: Planner, *, num_episodes: int, num_seeds: int,
             task: int | None = None, model: Instance | None = None, belief: str = "exact",
             expert_temperature: float | None = None, first_seed: int = 0,
             chunk_episodes: int | None = None, progress: bool | None = None,
             log_points: np.ndarray | None = None, measure_tv: bool = False,
             filter: str = "auto", chunk_seeds: int | None = None, keep_curves: bool = True,
             devices: Any = None) -> SimulationResult:
    """Simulate ``num_seeds`` independent runs of ``num_episodes`` episodes.

    Args:
      key: a ``jax.random`` key; seed ``i`` uses ``fold_in(key, first_seed + i)``,
        then separate streams for the task draw, the environment and the planner,
        so two planners with the same key face the same tasks and noise. A seed's
        random numbers are the same at any batch size, hence its trajectory and
        regret; on CPU, XLA vectorises ``exp``/``log`` differently for different
        batch shapes, so derived floats (the posterior) can differ in the last bit,
        and a draw can flip in the rare event (about 1e-7 per draw) that ``u``
        falls within that bit.
      instance: the environment: an :class:`~jaxbail.instance.Instance` (with or without per-episode
        instructions) or a :class:`~jaxbail.instance.MultiAgentInstance` (several Actors: factorised
        filter and simulation, experts and planners over joint subgoals).
      planner: any :class:`~jaxbail.planners.Planner`.
      task: ``None`` draws each seed's task from the prior (Bayesian regret);
        an index fixes it (frequentist regret).
      model: the instance the belief and the planner's experts use (default:
        ``instance``; a different one of the same sizes studies misspecification).
      belief: ``"exact"`` (SPEC 3) or ``"delusional"`` (also counts the
        planner's own subgoals as expert evidence).
      expert_temperature: ``None`` for greedy experts in the planner's model,
        or a Boltzmann temperature. Regret is always against the optimal policy.
      chunk_episodes: episodes per compiled chunk (default: about 1M seed-episodes
        a chunk); memory stays flat in ``num_episodes``.
      progress: show a progress bar (default: only on a terminal).
      log_points: 1-based episode counts to log (default :func:`log_spaced_episodes`).
      measure_tv: also record the total variation between the planner's subgoal
        distribution and exact BAIL at every decision (the pretraining error
        ``delta`` along the planner's own histories).
      filter: ``"auto"`` uses the known-state filter where it is exact (a
        deterministic injective Reporter, the exact posterior and a model equal to
        the environment): the posterior is kept as ``Z`` log weights and one state
        index per task (:class:`~jaxbail.belief.KnownStateFilter`, the same numbers
        as the general filter, about 5x faster); ``"dense"`` always uses the general
        ``(z, s)`` filter. (For several Actors: the factorised known-state or dense
        filter, chosen the same way.)
      chunk_seeds: seeds per compiled call (default: 65,536 seed-cells per device on CPU,
        1,048,576 on an accelerator); more seeds run as several calls, one after the other,
        each with the same compiled code (seed ``i`` keeps its key, so the chunks are
        independent). With ``keep_curves=False`` host memory stays flat in ``num_seeds``.
      keep_curves: keep every seed's logged curves (``[N, L]`` arrays, the default); ``False``
        keeps only their moments over seeds (``curve_stats``), enough for the run's summary.
      devices: the local devices the seed axis is sharded over inside each compiled call:
        ``None`` (the process default, ``'all'`` unless :func:`jaxbail.devices.set_default_devices`
        changed it), ``'all'``, a count or a list of devices. Seed ``i``'s results do not depend
        on it (the calls' sizes are rounded up to a multiple of the device count by padding seeds).
    """
    return simulate_many(key, [instance], [planner], num_episodes=num_episodes, num_seeds=num_seeds,
                         tasks=[task], models=None if model is None else [model], belief=belief,
                         expert_temperature=expert_temperature, first_seed=first_seed,
                         chunk_episodes=chunk_episodes, progress=progress, log_points=log_points,
                         measure_tv=measure_tv, filter=filter, chunk_seeds=chunk_seeds,
                         keep_curves=keep_curves, devices=devices)[0]


def simulate_many(key: jax.Array, instances: Sequence[Instance], planners: Sequence[Planner], *,
                  num_episodes: int, num_seeds: int, tasks: Sequence[int | None] | None = None,
                  models: Sequence[Instance] | None = None, belief: str = "exact",
                  expert_temperature: float | None = None, first_seed: int = 0,
                  chunk_episodes: int | None = None, progress: bool | None = None,
                  log_points: np.ndarray | None = None, measure_tv: bool = False,
                  filter: str = "auto", chunk_seeds: int | None = None, keep_curves: bool = True,
                  devices: Any = None) -> list[SimulationResult]:
    """Several cells that differ only in values, as one vmapped batch (see :func:`simulate`).

    Cell ``k`` runs ``planners[k]`` on ``instances[k]`` with task ``tasks[k]``.
    Every cell must have the same sizes and planner structure (class and static
    fields); values (tables, priors, eps) may differ. All cells use the same seed
    keys, so they face common random numbers: their differences are paired.

    Under ``jax.distributed`` (several processes), each process runs its own contiguous block of the
    seeds on its local devices, and the per-seed results (or the moments) are gathered once at the end:
    every process returns the whole run, the same as one process would.
    """
    processes = jax.process_count()
    if processes > 1:
        if num_seeds < processes:
            raise ValueError(f"num_seeds: with {processes} processes, need at least {processes} seeds, "
                             f"got {num_seeds}")
        rank = jax.process_index()
        lo, hi = rank * num_seeds // processes, (rank + 1) * num_seeds // processes
        local = _simulate_many_local(key, instances, planners, num_episodes=num_episodes, num_seeds=hi - lo,
                                     tasks=tasks, models=models, belief=belief,
                                     expert_temperature=expert_temperature, first_seed=first_seed + lo,
                                     chunk_episodes=chunk_episodes, progress=False if rank else progress,
                                     log_points=log_points, measure_tv=measure_tv, filter=filter,
                                     chunk_seeds=chunk_seeds, keep_curves=keep_curves, devices=devices)
        return _gather_processes(local, num_seeds, processes)
    return _simulate_many_local(key, instances, planners, num_episodes=num_episodes, num_seeds=num_seeds,
                                tasks=tasks, models=models, belief=belief, expert_temperature=expert_temperature,
                                first_seed=first_seed, chunk_episodes=chunk_episodes, progress=progress,
                                log_points=log_points, measure_tv=measure_tv, filter=filter,
                                chunk_seeds=chunk_seeds, keep_curves=keep_curves, devices=devices)


def _simulate_many_local(key, instances, planners, *, num_episodes, num_seeds, tasks, models, belief,
                         expert_temperature, first_seed, chunk_episodes, progress, log_points, measure_tv, filter,
                         chunk_seeds, keep_curves, devices) -> list[SimulationResult]:
    """:func:`simulate_many` in this process, on its local devices."""
    if num_episodes < 1 or num_seeds < 1:
        raise ValueError(f"num_episodes and num_seeds must be >= 1, got {num_episodes} and {num_seeds}")
    if belief not in ("exact", "delusional"):
        raise ValueError(f"belief: must be 'exact' or 'delusional', got {belief!r}")
    num_cells = len(instances)
    if num_cells < 1 or len(planners) != num_cells:
        raise ValueError(f"need one planner per instance, got {len(planners)} planners for {num_cells} instances")
    tasks = [None] * num_cells if tasks is None else list(tasks)
    models = list(instances) if models is None else list(models)
    if len(tasks) != num_cells or len(models) != num_cells:
        raise ValueError("tasks and models need one entry per cell")
    sizes = instances[0].sizes
    for inst, model, task in zip(instances, models, tasks):
        if inst.sizes != sizes or model.sizes != sizes:
            raise ValueError(f"every cell's environment and model must have sizes {sizes}; got "
                             f"{inst.sizes} and {model.sizes}")
        if task is not None and not 0 <= task < inst.num_tasks:
            raise ValueError(f"task: must be in [0, {inst.num_tasks - 1}], got {task}")
    if filter not in ("auto", "dense"):
        raise ValueError(f"filter: must be 'auto' or 'dense', got {filter!r}")
    if belief == "delusional" and not kind_of(instances[0]).delusional:
        raise ValueError("belief: the delusional posterior is not available for several Actors (counting the "
                         "planner's joint subgoals as expert evidence does not factorise across Actors)")
    known_state = filter == "auto" and belief == "exact" and all(
        same_values(i, m) and reporter_is_injective(m) for i, m in zip(instances, models))
    env = _stack([_strip(i) for i in instances], "instance")
    model = _stack([_strip(m) for m in models], "model")
    stacked_planner = _stack(list(planners), "planner")
    experts = _compute_experts(model, expert_temperature)
    if log_points is None:
        log_points = log_spaced_episodes(num_episodes)
    log_points = np.unique(np.asarray(log_points, dtype=np.int64))
    if log_points.size == 0 or log_points[0] < 1 or log_points[-1] > num_episodes:
        raise ValueError(f"log_points: every point must be an episode count in [1, {num_episodes}], "
                         f"got {log_points.tolist()}")
    devs = resolve_devices(devices)
    mesh = seed_mesh(devs)
    seeds_per_call, num_calls = _seed_chunks(num_seeds, num_cells, len(devs), chunk_seeds, devs[0].platform)
    if chunk_episodes is None:
        chunk_episodes = max(1, min(num_episodes, (1 << 20) * len(devs) // (seeds_per_call * num_cells)))
    chunk_episodes = min(chunk_episodes, num_episodes)

    fixed = jnp.asarray([-1 if t is None else t for t in tasks], jnp.int32)
    total = jnp.int32(num_episodes)
    planner_types = node_types(stacked_planner)
    run = functools.partial(_run_seed_chunk, fixed=fixed, env=env, model=model, experts=experts,
                            planner=stacked_planner, total=total, planner_types=planner_types,
                            log_points=log_points, chunk_episodes=chunk_episodes, mesh=mesh, static=dict(
                                delusional=(belief == "delusional"), measure_tv=measure_tv,
                                known_state=known_state))
    width = len(log_points)
    if keep_curves:
        logged = np.zeros((5, num_cells, num_seeds, width), np.float64)
    moments: list[CurveStats | None] = [None] * num_cells
    cell_tasks = np.zeros((num_cells, num_seeds), np.int32)
    tv_sum = np.zeros((num_cells, num_seeds), np.float64)
    tv_count = np.zeros((num_cells, num_seeds), np.int64)
    from tqdm.auto import tqdm

    with tqdm(total=num_seeds * num_episodes, unit="seed-ep", unit_scale=True, leave=False, desc="simulate",
              disable=(None if progress is None else not progress)) as bar:
        for call in range(num_calls):
            lo = call * seeds_per_call
            count = min(seeds_per_call, num_seeds - lo)
            keys = seed_keys(key, seeds_per_call, first_seed + lo)  # past num_seeds: padding, dropped
            part, tasks_c, tv_s, tv_c = run(keys, bar=bar, count=count)
            cell_tasks[:, lo:lo + count] = tasks_c[:, :count]
            tv_sum[:, lo:lo + count] = tv_s[:, :count]
            tv_count[:, lo:lo + count] = tv_c[:, :count]
            if keep_curves:
                logged[:, :, lo:lo + count] = part[:, :, :count]
            else:
                for k in range(num_cells):
                    moments[k] = merge(moments[k], CurveStats.of(part[:4, k, :count]))
            del part
    return [SimulationResult(episodes=log_points,
                             gap_regret=logged[0, k] if keep_curves else None,
                             return_regret=logged[1, k] if keep_curves else None,
                             misspecified=logged[2, k] if keep_curves else None,
                             true_task_posterior=logged[3, k] if keep_curves else None, tasks=cell_tasks[k],
                             num_episodes=num_episodes,
                             tv_to_bail=logged[4, k] if measure_tv and keep_curves else None,
                             mean_tv_to_bail=_ratio(tv_sum[k], tv_count[k]) if measure_tv else None,
                             curve_stats=None if keep_curves else moments[k])
            for k in range(num_cells)]


_PER_SEED = ("gap_regret", "return_regret", "misspecified", "true_task_posterior", "tasks", "tv_to_bail",
             "mean_tv_to_bail")


def _gather_processes(local: list[SimulationResult], num_seeds: int, processes: int) -> list[SimulationResult]:
    """Every process's block of seeds (process ``p`` ran seeds ``[p N // P, (p + 1) N // P)``), gathered once.

    The arrays travel as ``uint32`` words (float64 and int64 reinterpreted), so nothing is rounded to
    float32 on the way."""
    from jax.experimental import multihost_utils

    block = -(-num_seeds // processes)
    counts = [(p + 1) * num_seeds // processes - p * num_seeds // processes for p in range(processes)]

    def words(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        pad = np.zeros((block - a.shape[0], *a.shape[1:]), a.dtype)
        return np.concatenate([a, pad]).reshape(block, -1).view(np.uint32)

    payload = []
    for r in local:
        fields = {name: words(getattr(r, name)) for name in _PER_SEED if getattr(r, name) is not None}
        if r.curve_stats is not None:
            cs = r.curve_stats
            fields["moments"] = np.concatenate([cs.total.ravel(), cs.m2.ravel(), cs.gap_comoment.ravel(),
                                                [float(cs.num_seeds)]]).view(np.uint32)
        payload.append(fields)
    gathered = jax.tree.map(np.asarray, multihost_utils.process_allgather(payload))  # leaves [P, ...]
    out = []
    for r, fields in zip(local, gathered):
        update = {}
        for name, value in fields.items():
            if name == "moments":
                continue
            mine = getattr(r, name)
            whole = value.view(mine.dtype).reshape(processes, block, *mine.shape[1:])
            update[name] = np.concatenate([whole[p, :counts[p]] for p in range(processes)])
        if "moments" in fields:
            shape = r.curve_stats.total.shape
            size, width = int(np.prod(shape)), r.curve_stats.gap_comoment.shape[0]
            merged = None
            for p in range(processes):
                flat = fields["moments"][p].view(np.float64)
                merged = merge(merged, CurveStats(int(flat[-1]), flat[:size].reshape(shape),
                                                  flat[size:2 * size].reshape(shape),
                                                  flat[2 * size:2 * size + width * width].reshape(width, width)))
            update["curve_stats"] = merged
        out.append(r._replace(**update))
    return out


def _seed_chunks(num_seeds: int, num_cells: int, num_devices: int, chunk_seeds: int | None,
                 platform: str) -> tuple[int, int]:
    """``(seeds per compiled call, number of calls)``: at most ``chunk_seeds`` seeds a call (default: 65,536
    seed-cells per device on CPU, 1,048,576 on an accelerator), calls of equal size (the last one padded
    with further seeds whose results are dropped, so one compilation serves them all), a multiple of the
    number of devices."""
    if chunk_seeds is None:
        chunk_seeds = max(1, (1 << 16 if platform == "cpu" else 1 << 20) // num_cells) * num_devices
    if chunk_seeds < 1:
        raise ValueError(f"chunk_seeds: must be >= 1, got {chunk_seeds}")
    num_calls = -(-num_seeds // chunk_seeds)
    per_call = -(-num_seeds // num_calls)
    per_call = -(-per_call // num_devices) * num_devices
    return per_call, num_calls


def _run_seed_chunk(keys, *, bar, count, fixed, env, model, experts, planner, total, planner_types, log_points,
                    chunk_episodes, mesh, static):
    """One compiled call's seeds through every episode: logged values ``[5, K, n, L]``, tasks ``[K, n]``
    and the TV sums and counts ``[K, n]`` (host float64)."""
    keys = shard_seeds(keys, mesh, 0)
    carry = _start(keys, fixed, env, model, experts, planner, total, planner_types=planner_types)
    carry = shard_seeds(carry, mesh, 1)
    num_cells, num_seeds = carry[0].shape[:2]
    num_episodes = int(total)
    tasks = np.asarray(carry[0])
    logged = np.zeros((5, num_cells, num_seeds, len(log_points)), np.float64)
    running = np.zeros((3, num_cells, num_seeds), np.float64)
    tv_sum = np.zeros((num_cells, num_seeds), np.float64)
    tv_count = np.zeros((num_cells, num_seeds), np.int64)
    for start in range(0, num_episodes, chunk_episodes):
        carry, outs = _run_cells(carry, keys, jnp.int32(start), env, model, experts, planner, total,
                                 chunk_len=chunk_episodes, planner_types=planner_types, **static)
        length = min(chunk_episodes, num_episodes - start)
        inside = (log_points > start) & (log_points <= start + length)
        cols = log_points[inside] - start - 1
        for i, out in enumerate(outs):  # one [K, N, count] array at a time keeps the host copy small
            values = np.asarray(out)[..., :length]
            if i < 3:  # cumulative: gap regret, return regret, misspecification events (float64 sums)
                cums = running[i][..., None] + np.cumsum(values, axis=-1, dtype=np.float64)
                running[i] = cums[..., -1]
                logged[i][:, :, inside] = cums[..., cols]
            else:  # per-episode: posterior mass on the true task, TV to BAIL
                logged[i][:, :, inside] = values[..., cols]
                if i == 4:
                    tv_sum += np.nansum(values, axis=-1, dtype=np.float64)
                    tv_count += np.sum(~np.isnan(values), axis=-1)
        del outs, values
        bar.update(count * length)
    return logged, tasks, tv_sum, tv_count


def _ratio(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``total / count``, NaN where ``count`` is 0 (a seed that explored in every episode)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


_experts_jit = jax.jit(jax.vmap(compute_experts, in_axes=(0, None)), static_argnums=(1,))


def _compute_experts(model: Instance, temperature: float | None) -> Experts:
    return _experts_jit(model, temperature)
