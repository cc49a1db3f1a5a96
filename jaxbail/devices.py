"""Which local devices a simulation shards its seed axis over (``simulate(..., devices=...)``, ``--devices``)."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["resolve_devices", "set_default_devices", "seed_mesh", "shard_seeds"]

_DEFAULT: Any = "all"


def set_default_devices(devices: Any) -> None:
    """What ``devices=None`` means in this process (``'all'`` unless set; the CLI's ``--devices`` sets it)."""
    global _DEFAULT
    resolve_devices(devices)  # validate now, with the message the caller expects
    _DEFAULT = devices


def resolve_devices(devices: Any = None) -> list[jax.Device]:
    """``None`` (the process default, normally ``'all'``), ``'all'``, a count ``n`` (the first ``n`` local
    devices) or a sequence of devices -> the list of local devices to shard seeds over."""
    if devices is None:
        devices = _DEFAULT
    local = jax.local_devices()
    if isinstance(devices, str):
        if devices == "all":
            return list(local)
        try:
            devices = int(devices)
        except ValueError:
            raise ValueError(f"devices: must be 'all' or an integer in [1, {len(local)}], got {devices!r}") from None
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ValueError(f"devices: must be 'all' or an integer in [1, {len(local)}] (the local "
                             f"{local[0].platform} devices), got {devices}")
        return list(local[:int(devices)])
    if isinstance(devices, Sequence) and devices and all(isinstance(d, jax.Device) for d in devices):
        return list(devices)
    raise ValueError(f"devices: must be 'all', an integer in [1, {len(local)}] or a list of devices, "
                     f"got {devices!r}")


def seed_mesh(devices: Sequence[jax.Device]) -> Mesh | None:
    """A 1-D mesh ``('seeds',)`` over ``devices``; ``None`` for one device (nothing to shard)."""
    return None if len(devices) == 1 else Mesh(np.asarray(devices), ("seeds",))


def shard_seeds(tree: Any, mesh: Mesh | None, axis: int) -> Any:
    """Place every array of ``tree`` with its axis ``axis`` (the seeds) split over ``mesh``."""
    if mesh is None:
        return tree
    spec = NamedSharding(mesh, PartitionSpec(*([None] * axis), "seeds"))
    return jax.tree.map(lambda leaf: jax.device_put(leaf, spec), tree)


def init_distributed() -> bool:
    """Join a ``jax.distributed`` run described by the environment; ``False`` where none is.

    ``JAXBAIL_COORDINATOR=host:port`` with ``JAXBAIL_NUM_PROCESSES`` and ``JAXBAIL_PROCESS_ID`` (explicit), or
    ``JAXBAIL_COORDINATOR=auto`` (JAX's cluster detection: SLURM's ``srun``, Open MPI, ...). On CPU the
    processes' collectives go through gloo. Call before anything touches a device.
    """
    import os

    spec = os.environ.get("JAXBAIL_COORDINATOR")
    if not spec:
        return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if spec == "auto":
        jax.distributed.initialize()
        return True
    try:
        num_processes = int(os.environ["JAXBAIL_NUM_PROCESSES"])
        process_id = int(os.environ["JAXBAIL_PROCESS_ID"])
    except (KeyError, ValueError):
        raise ValueError("JAXBAIL_COORDINATOR=host:port needs the integers JAXBAIL_NUM_PROCESSES and "
                         "JAXBAIL_PROCESS_ID (or JAXBAIL_COORDINATOR=auto under SLURM)") from None
    jax.distributed.initialize(spec, num_processes=num_processes, process_id=process_id)
    return True
