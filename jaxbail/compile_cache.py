"""The CLI's persistent XLA compilation cache: a second identical command skips most of its compiling.

On by default for the command line (``--no-compile-cache`` turns it off), in the user's cache directory
(``$XDG_CACHE_HOME/jaxbail/xla``, else ``~/.cache/jaxbail/xla``; ``JAXBAIL_COMPILE_CACHE=DIR`` moves it;
where JAX's own cache directory is already configured, e.g. by ``JAX_COMPILATION_CACHE_DIR``, that one is kept).
Every compiled program is cached, however quick to compile. A cache that cannot be used (a directory that
cannot be created or written, unreadable or corrupt entries) never stops a run: it compiles instead and
prints one warning line on stderr.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

__all__ = ["default_cache_dir", "enable_compile_cache"]

ENV_VAR = "JAXBAIL_COMPILE_CACHE"
_JAX_MESSAGES = ("Error reading persistent compilation cache entry",
                 "Error writing persistent compilation cache entry")
_warned = False
_hooked = False


def default_cache_dir() -> Path:
    """``$JAXBAIL_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/jaxbail/xla``, else ``~/.cache/jaxbail/xla``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "jaxbail" / "xla"


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(f"jaxbail: warning: {message}", file=sys.stderr, flush=True)


def enable_compile_cache(directory: str | Path | None = None) -> Path | None:
    """Use ``directory`` (default :func:`default_cache_dir`) as JAX's persistent compilation cache.

    Call before anything compiles. Returns the directory, or ``None`` (after one warning line) where it
    cannot be created or written. JAX's own warnings about unreadable entries (each then compiled afresh)
    become that same single line.
    """
    import jax

    if directory is None and not os.environ.get(ENV_VAR) and jax.config.jax_compilation_cache_dir:
        directory = jax.config.jax_compilation_cache_dir  # the user's (or the test session's) JAX cache
    directory = default_cache_dir() if directory is None else Path(directory).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        _warn_once(f"compilation cache {str(directory)!r} cannot be used ({type(err).__name__}: "
                   f"{err.strerror or err}); compiling instead")
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    global _hooked
    if _hooked:
        return directory
    _hooked = True
    show = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text.startswith(_JAX_MESSAGES):
            _warn_once(f"compilation cache {str(directory)!r} has an unusable entry ({text.split(': ', 1)[-1]}); "
                       "compiling instead (delete the directory to rebuild the cache)")
            return
        show(message, category, filename, lineno, file, line)
    warnings.showwarning = showwarning
    return directory
