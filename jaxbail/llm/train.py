"""Pretraining the LLM planner: next-subgoal cross-entropy on expert labels with optax, held-out delta to exact BAIL."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxbail.instance import Instance
from jaxbail.llm.data import Tokens, bail_targets, decision_positions, sample_prompts, tokenize
from jaxbail.llm.model import FAMILIES, ModelConfig, Recurrent, Transformer, build_model, count_params
from jaxbail.stats import mean_ci

__all__ = ["PRESETS", "RECURRENT_PRESETS", "TrainResult", "HeldOut", "train", "pretrain", "make_heldout",
           "evaluate_delta", "training_keys", "dataset_loss"]

PRESETS: dict[str, dict[str, Any]] = {
    # < 5 minutes on a 2-core CPU (about 1 minute on an idle one for hard)
    "quick": dict(num_trajectories=8192, layers=2, width=48, heads=4, context_episodes=4, steps=1500,
                  batch=64, lr=3e-3, warmup=100, heldout=1024, eval_every=250),
    # a few minutes on a 2-core CPU; the shipped checkpoints start from it (benchmarks/train_checkpoints.py)
    "default": dict(num_trajectories=65536, layers=2, width=64, heads=4, context_episodes=4, steps=6000,
                    batch=64, lr=2e-3, warmup=300, heldout=2048, eval_every=500),
}
"""Named settings; every entry can be overridden by the keyword of the same name in :func:`train`."""

RECURRENT_PRESETS: dict[str, dict[str, Any]] = {
    # the recurrent family reads the whole history, so it trains on longer prompts whose behaviour
    # looks like deployment (eps_bail-style: BAIL's own play with whole exploring episodes)
    "quick": dict(PRESETS["quick"], num_trajectories=4096, context_episodes=16, steps=1200, batch=32,
                  behaviour="eps-bail"),
    "default": dict(PRESETS["default"], num_trajectories=16384, context_episodes=24, steps=4000, batch=32,
                    behaviour="eps-bail"),
}
"""The presets of ``model="recurrent"`` (the transformer's, with longer prompts and eps_bail-style data)."""

HELDOUT_STREAM = 1  # held-out prompts use fold_in(key, 1); training prompts fold_in(key, 0)


class HeldOut(NamedTuple):
    """Held-out prompts with their exact BAIL targets.

    Attributes:
      tokens: the tokenised prompts (``[M, C]`` arrays).
      bail: ``[M, K, H, G]`` exact BAIL at every decision.
    """

    tokens: Tokens
    bail: jax.Array


class TrainResult(NamedTuple):
    """What :func:`train` returns.

    Attributes:
      config: the model's :class:`ModelConfig`.
      params: the trained weights (linen variable dict).
      history: lists keyed ``step, loss, delta, delta_lo, delta_hi, seconds`` (one row per evaluation).
      record: JSON-ready summary: sizes, settings, the final held-out delta with its 95% interval
        and per-episode values, training time.
    """

    config: ModelConfig
    params: Any
    history: dict[str, list[float]]
    record: dict[str, Any]


def make_heldout(key: jax.Array, instance: Instance, config: ModelConfig, num_prompts: int,
                 behaviour: Any = None) -> HeldOut:
    """``num_prompts`` prompts from ``key`` (use a key the training data never sees) and their BAIL targets."""
    prompts = sample_prompts(key, instance, num_prompts, config.context_episodes, behaviour)
    return HeldOut(tokenize(prompts, config), bail_targets(instance, prompts))


@functools.partial(jax.jit, static_argnums=(0,))
def _heldout_tv(model: Transformer | Recurrent, params, tokens, bail):
    cfg = model.config
    positions = jnp.asarray(decision_positions(cfg.horizon, cfg.context_episodes))
    logits = model.forward_batch(params, tokens)[:, positions]  # [M, K, H, G]
    probs = jax.nn.softmax(logits, axis=-1)
    tv = 0.5 * jnp.sum(jnp.abs(probs - bail), axis=-1)  # [M, K, H]
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    cross_entropy = -jnp.sum(bail * log_probs, axis=-1)
    entropy = -jnp.sum(jnp.where(bail > 0, bail * jnp.log(jnp.where(bail > 0, bail, 1.0)), 0.0), axis=-1)
    return tv, cross_entropy, entropy


def evaluate_delta(model: Transformer | Recurrent, params: Any, heldout: HeldOut, chunk: int = 1024) -> dict[str, Any]:
    """Held-out ``delta``: mean over prompts of the mean TV(model, exact BAIL) over their ``K H`` decisions.

    Returns:
      ``{"delta", "se", "lo", "hi"}`` (95% interval over prompts), ``"per_episode"`` ``[K]`` mean TV in
      each episode of the prompt, ``"kl"``: mean ``KL(BAIL || model)`` per decision (nats).
    """
    tvs, kls = [], []
    for start in range(0, heldout.tokens.tokens.shape[0], chunk):
        tv, ce, ent = _heldout_tv(model, params, heldout.tokens.tokens[start:start + chunk],
                                  heldout.bail[start:start + chunk])
        tvs.append(np.asarray(tv, np.float64))
        kls.append(np.asarray(ce - ent, np.float64))
    tv = np.concatenate(tvs)  # [M, K, H]
    est = mean_ci(tv.mean(axis=(1, 2)))
    return {"delta": est.mean, "se": est.se, "lo": est.lo, "hi": est.hi,
            "per_episode": tv.mean(axis=(0, 2)).tolist(), "kl": float(np.concatenate(kls).mean())}


def training_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(data, heldout, init, batch)`` keys that :func:`train` derives from ``seed`` by ``fold_in``."""
    key = jax.random.PRNGKey(seed)
    return tuple(jax.random.fold_in(key, i) for i in (0, HELDOUT_STREAM, 2, 3))


def dataset_loss(model: Transformer | Recurrent, params: Any, data: Tokens) -> float:
    """Mean masked cross-entropy (nats) of ``params`` on every prompt of ``data`` (``[N, C]`` arrays)."""
    return float(jax.jit(_masked_cross_entropy, static_argnums=0)(model, params, *data))


def _masked_cross_entropy(model: Transformer | Recurrent, params, tokens, targets, mask):
    logits = model.forward_batch(params, tokens)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    return jnp.sum(ce * mask) / jnp.sum(mask)


def _make_step(model: Transformer | Recurrent, optimizer: optax.GradientTransformation, batch: int):
    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, opt_state, key, data: Tokens):
        index = jax.random.randint(key, (batch,), 0, data.tokens.shape[0])
        loss, grads = jax.value_and_grad(_masked_cross_entropy, argnums=1)(
            model, params, data.tokens[index], data.targets[index], data.mask[index])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def train(instance: Instance, *, num_trajectories: int | None = None, layers: int | None = None,
          width: int | None = None, heads: int | None = None, context_episodes: int | None = None,
          steps: int | None = None, batch: int | None = None, lr: float | None = None, seed: int = 0,
          warmup: int | None = None, weight_decay: float = 0.01, heldout: int | None = None,
          eval_every: int | None = None, behaviour: Any = None, preset: str = "default",
          model: str = "transformer", positions: str = "absolute", progress: bool | None = None,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Pretrain a model (transformer or recurrent) on ``instance`` and measure its held-out ``delta`` to exact BAIL.

    Data: ``num_trajectories`` prompts (``N``), each ``K = context_episodes`` behaviour-policy
    episodes of one task drawn from the prior (:func:`~jaxbail.llm.data.sample_prompts` with
    ``fold_in(key(seed), 0)``); held-out prompts come from ``fold_in(key(seed), 1)``. Loss: mean
    cross-entropy of the expert label at every decision (masked elsewhere); optimiser
    ``adamw`` with a warmup-cosine schedule peaking at ``lr`` and global-norm clipping at 1;
    minibatches of ``batch`` prompts drawn with replacement.

    Args:
      preset: name in :data:`PRESETS` (:data:`RECURRENT_PRESETS` for the recurrent family) supplying every
        setting left ``None``.
      model: the family, ``"transformer"`` or ``"recurrent"`` (:attr:`ModelConfig.family`).
      positions: the transformer's positions, ``"absolute"`` or ``"alibi"`` (:attr:`ModelConfig.positions`;
        ignored by the recurrent family, which has none).
      heldout: number of held-out prompts. eval_every: steps between held-out evaluations.
      behaviour: the behaviour policy, see :func:`~jaxbail.llm.data.parse_behaviour` (default uniform);
        the held-out prompts use the same one.
      progress: show a tqdm bar (default: only on a terminal). log: called with one line per evaluation.
    """
    if model not in FAMILIES:
        raise ValueError(f"model: expected one of {', '.join(FAMILIES)}, got {model!r}")
    presets = RECURRENT_PRESETS if model == "recurrent" else PRESETS
    if preset not in presets:
        raise ValueError(f"preset: unknown {preset!r} (choose from {', '.join(presets)})")
    given = dict(num_trajectories=num_trajectories, layers=layers, width=width, heads=heads,
                 context_episodes=context_episodes, steps=steps, batch=batch, lr=lr, warmup=warmup,
                 heldout=heldout, eval_every=eval_every, behaviour=behaviour)
    s = {k: (presets[preset].get(k) if v is None else v) for k, v in given.items()}
    behaviour = s["behaviour"]
    for name in ("num_trajectories", "steps", "batch", "heldout", "eval_every"):
        if int(s[name]) < 1:
            raise ValueError(f"{name}: must be >= 1, got {s[name]}")
    if s["heldout"] < 2:
        raise ValueError(f"heldout: need at least 2 prompts for an interval, got {s['heldout']}")
    config = ModelConfig(num_observations=instance.num_observations, num_subgoals=instance.num_subgoals,
                         horizon=instance.horizon, context_episodes=int(s["context_episodes"]),
                         layers=int(s["layers"]), width=int(s["width"]), heads=int(s["heads"]), family=model,
                         positions="absolute" if model == "recurrent" else positions)
    model = build_model(config)
    data_key, heldout_key, init_key, batch_key = training_keys(seed)

    start = time.perf_counter()
    data = tokenize(sample_prompts(data_key, instance, int(s["num_trajectories"]), config.context_episodes,
                                   behaviour), config)
    held = make_heldout(heldout_key, instance, config, int(s["heldout"]), behaviour)
    total_steps = int(s["steps"])
    schedule = optax.warmup_cosine_decay_schedule(0.0, float(s["lr"]), min(int(s["warmup"]), total_steps // 2),
                                                  total_steps, end_value=0.02 * float(s["lr"]))
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=weight_decay))
    params = model.init_params(init_key)
    opt_state = optimizer.init(params)
    step_fn = _make_step(model, optimizer, int(s["batch"]))

    history: dict[str, list[float]] = {k: [] for k in ("step", "loss", "delta", "delta_lo", "delta_hi", "seconds")}
    window: list[jax.Array] = []

    def evaluate(step: int) -> dict[str, Any]:
        est = evaluate_delta(model, params, held)
        loss = float(np.mean([float(x) for x in window])) if window else float("nan")
        window.clear()
        for k, v in (("step", step), ("loss", loss), ("delta", est["delta"]), ("delta_lo", est["lo"]),
                     ("delta_hi", est["hi"]), ("seconds", time.perf_counter() - start)):
            history[k].append(float(v))
        if log is not None:
            loss_text = "n/a (before training)" if step == 0 else f"{loss:.4f}"
            log(f"step {step}: loss {loss_text}  held-out delta {est['delta']:.4f} "
                f"[{est['lo']:.4f}, {est['hi']:.4f}]")
        return est

    from tqdm.auto import tqdm

    est = evaluate(0)
    with tqdm(total=total_steps, desc="pretrain", unit="step", leave=False,
              disable=(None if progress is None else not progress)) as bar:
        for step in range(1, total_steps + 1):
            params, opt_state, loss = step_fn(params, opt_state, jax.random.fold_in(batch_key, step), data)
            window.append(loss)
            if step % int(s["eval_every"]) == 0 or step == total_steps:
                est = evaluate(step)
                bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", delta=f"{est['delta']:.4f}")
            bar.update(1)
    seconds = time.perf_counter() - start
    record = {
        "sizes": instance.sizes, "instance_name": instance.name,
        "num_trajectories": int(s["num_trajectories"]), "context_episodes": config.context_episodes,
        "steps": total_steps, "batch": int(s["batch"]), "lr": float(s["lr"]), "warmup": int(s["warmup"]),
        "weight_decay": float(weight_decay), "seed": int(seed), "preset": preset, "family": config.family,
        "positions": config.positions,
        "behaviour": "uniform" if behaviour is None else behaviour if isinstance(behaviour, str)
        else np.asarray(behaviour).tolist(),
        "num_params": count_params(params), "train_seconds": seconds, "final_loss": history["loss"][-1],
        "heldout": {"prompts": int(s["heldout"]), **est},
        "delta_definition": "mean over held-out prompts of the mean total variation between the model's "
                            "subgoal distribution and exact BAIL over the prompt's K*H decisions",
    }
    return TrainResult(config, params, history, record)



DEPLOY_KEY = 20240530
"""Key of the deployment measurement in :func:`pretrain` (bayes mode: each seed's task from the prior)."""


def pretrain(instance: Instance, path: str | Path, *, deploy_episodes: int = 20, deploy_seeds: int = 1024,
             log: Callable[[str], None] | None = None, **train_kwargs: Any) -> TrainResult:
    """Train (:func:`train`), measure ``delta`` along deployment, and save a checkpoint at ``path``.

    The deployment measurement runs the ``llm`` planner through ``jaxbail.runner.simulate(...,
    measure_tv=True)`` for ``deploy_episodes`` episodes and ``deploy_seeds`` seeds (bayes mode, key
    :data:`DEPLOY_KEY`), and the same for exact BAIL restricted to the model's context window (the
    part of ``delta`` the window alone costs). Both go into the record (``"deployment"``,
    ``"window_only"``) with the training history (``"history"``).

    Returns:
      the :class:`TrainResult` whose ``record`` is the one saved.
    """
    from jaxbail.llm.checkpoint import save_checkpoint
    from jaxbail.llm.deployment import deployment_delta
    from jaxbail.llm.planner import WindowedBail, planner_for

    result = train(instance, log=log, **train_kwargs)
    key = jax.random.PRNGKey(DEPLOY_KEY)
    start = time.perf_counter()
    deployed = deployment_delta(key, instance, planner_for(result.config, result.params),
                                num_episodes=deploy_episodes, num_seeds=deploy_seeds)
    seconds = time.perf_counter() - start
    record = dict(result.record)
    record["deployment"] = {"planner": "llm", "mode": "bayes", "key": DEPLOY_KEY, "seconds": seconds, **deployed}
    if result.config.family == "recurrent":  # no window: exact BAIL itself, whose delta is 0
        window = {"delta": 0.0, "se": 0.0, "lo": 0.0, "hi": 0.0}
        record["window_only"] = {"planner": "none: the recurrent model reads the whole history", **window}
    else:
        window = deployment_delta(key, instance, WindowedBail(context_episodes=result.config.context_episodes),
                                  num_episodes=deploy_episodes, num_seeds=deploy_seeds)
        record["window_only"] = {"planner": "exact BAIL restricted to the model's K-episode window", **window}
    record["history"] = result.history
    save_checkpoint(path, result.config, result.params, instance, record)
    if log is not None:
        log(f"saved {path}: held-out delta {record['heldout']['delta']:.4f} [{record['heldout']['lo']:.4f}, "
            f"{record['heldout']['hi']:.4f}]; deployment delta (llm, T={deploy_episodes}, {deploy_seeds} seeds) "
            f"{deployed['delta']:.4f} [{deployed['lo']:.4f}, {deployed['hi']:.4f}]; window only "
            f"{window['delta']:.4f} [{window['lo']:.4f}, {window['hi']:.4f}]")
    return result._replace(record=record)
