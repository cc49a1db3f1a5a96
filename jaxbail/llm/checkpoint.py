"""Checkpoints of the LLM planner: msgpack weights plus a JSON side file (model config, instance, training record)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxbail.instance import Instance, InstanceError, instance_from_dict, instance_to_dict
from jaxbail.llm.model import FAMILIES, ModelConfig, build_model

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "check_instance_sizes", "side_file",
           "shipped_checkpoint", "default_checkpoint", "SHIPPED", "CHECKPOINT_DIR"]

FORMAT = "jaxbail-llm-checkpoint"
VERSION = 1
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
SHIPPED: dict[str, str] = {
    "hard": "hard.msgpack",  # jaxbail.instances.hard() (Z=3, H=5)
    "random": "random-z4-s4-g3-h4.msgpack",  # random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4)
    # the same instance and model trained on N = 1,024 and 4,096 prompts (claim 4's pretraining-error series)
    "random-n1024": "random-z4-s4-g3-h4-n1024.msgpack",
    "random-n4096": "random-z4-s4-g3-h4-n4096.msgpack",
    # the recurrent family on hard (reads the whole history), from eps_bail-style data (the quick preset)
    "hard-recurrent": "hard-recurrent.msgpack",
    # an ALiBi transformer (ring-buffer cache: any window at deployment) on the same data, 16-episode prompts
    "hard-alibi": "hard-alibi.msgpack",
    # the recurrent recipe with a behaviour that never plays hard's probe (claim 4's coverage contrast)
    "hard-recurrent-no-probe": "hard-recurrent-no-probe.msgpack",
}
"""Checkpoints shipped in the package, by name (files in :data:`CHECKPOINT_DIR`)."""


class CheckpointError(ValueError):
    """A missing, unreadable or mismatched checkpoint; the one-line message names the path or the mismatch."""


def side_file(path: str | Path) -> Path:
    """The JSON side file of the weights file ``path``: ``x.msgpack -> x.json``, otherwise ``path + ".json"``."""
    path = Path(path)
    return path.with_suffix(".json") if path.suffix == ".msgpack" else Path(str(path) + ".json")


def shipped_checkpoint(name: str) -> Path:
    """Path of a shipped checkpoint (``"hard"`` or ``"random"``)."""
    if name not in SHIPPED:
        raise CheckpointError(f"checkpoint: no shipped checkpoint named {name!r} (choose from {', '.join(SHIPPED)})")
    return CHECKPOINT_DIR / SHIPPED[name]


def default_checkpoint(instance: Instance) -> Path:
    """The shipped checkpoint named like ``instance`` (``instance.name`` ``"hard"`` or ``"random"``).

    Raises:
      CheckpointError: no shipped checkpoint has that name (sizes are checked when it is loaded).
    """
    if instance.name not in SHIPPED:
        raise CheckpointError(f"checkpoint: no shipped checkpoint for instance {instance.name or '(unnamed)'!r} "
                              f"(shipped: {', '.join(SHIPPED)}); give a checkpoint path (train one with pretrain)")
    return shipped_checkpoint(instance.name)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)):
        return _jsonable(np.asarray(value).tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def save_checkpoint(path: str | Path, config: ModelConfig, params: Any, instance: Instance,
                    record: dict[str, Any] | None = None) -> Path:
    """Write the weights to ``path`` (msgpack) and the side file :func:`side_file` (JSON).

    Both files are written atomically (a temporary file, then ``os.replace``), and the side file
    records the weights' SHA-256: a save interrupted between the two files, or a torn file, is
    refused by :func:`load_checkpoint`, never read as valid.

    Returns:
      the weights path.
    """
    import hashlib

    from jaxbail.validate import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = serialization.to_bytes(jax.device_get(params))
    meta = {"format": FORMAT, "version": VERSION, "model_config": config.to_dict(),
            "instance": instance_to_dict(instance), "record": _jsonable(record or {}),
            "weights_sha256": hashlib.sha256(weights).hexdigest()}
    side = json.dumps(meta, indent=1, allow_nan=False) + "\n"
    atomic_write(side_file(path), side)  # the side file first: with old weights its hash check fails
    atomic_write(path, weights)
    return path


def load_checkpoint(path: str | Path, instance: Instance | None = None) -> tuple[ModelConfig, Any, Instance,
                                                                                     dict[str, Any]]:
    """Load ``(config, params, instance, record)``; ``instance`` is the one the model was trained on.

    Args:
      instance: if given, the checkpoint's instance sizes must equal its sizes.
    Raises:
      CheckpointError: missing or unreadable files, a bad side file, weights that do not match the
        config, or (with ``instance``) a size mismatch.
    """
    path = Path(path)
    meta_path = side_file(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint: no such weights file {str(path)!r}")
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint: missing side file {str(meta_path)!r} next to {str(path)!r}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:  # ValueError: bad UTF-8, bad JSON
        raise CheckpointError(f"checkpoint: cannot read side file {str(meta_path)!r}: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint: {str(meta_path)!r} is not a {FORMAT} side file")
    model_config = meta.get("model_config")
    family = model_config.get("family", "transformer") if isinstance(model_config, dict) else "transformer"
    if family not in FAMILIES:
        raise CheckpointError(f"checkpoint: {str(meta_path)!r} names an unknown model family {family!r} "
                              f"(known: {', '.join(FAMILIES)})")
    try:
        config = ModelConfig.from_dict(meta["model_config"])
        trained_on = instance_from_dict(meta["instance"])
    except (KeyError, TypeError, ValueError, InstanceError) as err:
        raise CheckpointError(f"checkpoint: bad side file {str(meta_path)!r}: {err}") from None
    if (config.num_observations, config.num_subgoals, config.horizon) != (
            trained_on.num_observations, trained_on.num_subgoals, trained_on.horizon):
        raise CheckpointError(f"checkpoint: {str(meta_path)!r}: model config O, G, H disagree with its instance")
    target = jax.eval_shape(build_model(config).init_params, jax.random.PRNGKey(0))
    weights = path.read_bytes()
    if "weights_sha256" in meta:
        import hashlib

        if hashlib.sha256(weights).hexdigest() != meta["weights_sha256"]:
            raise CheckpointError(f"checkpoint: weights {str(path)!r} are not the ones its side file records "
                                  "(an interrupted or mixed save); train or copy the checkpoint again")
    try:
        raw = serialization.msgpack_restore(weights)
    except Exception as err:  # msgpack raises several unrelated classes on corrupt input
        raise CheckpointError(f"checkpoint: cannot decode weights {str(path)!r}: {type(err).__name__}") from None
    try:
        params = serialization.from_state_dict(target, raw)
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint: weights {str(path)!r} do not match the model config "
                              f"(family {config.family!r}): {err}") from None
    mismatched = [jax.tree_util.keystr(where) for (where, want), got in
                  zip(jax.tree_util.tree_flatten_with_path(target)[0], jax.tree.leaves(params))
                  if tuple(want.shape) != tuple(np.shape(got))]
    if mismatched:
        raise CheckpointError(f"checkpoint: weights {str(path)!r} do not match the model config at {mismatched[0]}")
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
    if instance is not None:
        check_instance_sizes(path, trained_on, instance)
    return config, params, trained_on, meta.get("record", {})


def check_instance_sizes(path: str | Path, trained_on: Instance, instance: Instance) -> None:
    """Raise :class:`CheckpointError` naming the sizes that differ (checkpoint's vs ``instance``'s)."""
    want, got = trained_on.sizes, instance.sizes
    diffs = [f"{k}={want[k]} vs {got[k]}" for k in want if want[k] != got[k]]
    if diffs:
        raise CheckpointError(f"checkpoint {str(path)!r}: instance sizes differ (checkpoint vs given): "
                              f"{', '.join(diffs)}")
