"""Test-session setup: a persistent XLA compilation cache per test process, shared with its subprocesses.

Many tests compile the same simulation (same sizes and planner) in several processes: the CLI and
sweep tests run ``python -m jaxbail.cli`` in subprocesses, the notebook tests run kernels. A cache
directory lets every later process load the executable instead of recompiling it. Each pytest-xdist
worker gets its own directory (JAX writes cache entries without a lock unless eviction is on).

Compiles dominate the suite's small runs, so LLVM's backend optimisations are skipped
(``--xla_backend_optimization_level=0``, about 10% of the suite's time): XLA's own HLO passes still
run, and no test times anything (speed is measured in benchmarks/, at the default level).
"""

import os
import tempfile

_FLAG = "--xla_backend_optimization_level=0"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()  # before jax starts

import jax  # noqa: E402

_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
_CACHE = tempfile.mkdtemp(prefix=f"jaxbail-test-xla-cache-{_worker}-")
_SETTINGS = {
    "jax_compilation_cache_dir": _CACHE,
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}
for _name, _value in _SETTINGS.items():
    jax.config.update(_name, _value)
    os.environ[_name.upper()] = str(_value)  # inherited by subprocesses and notebook kernels
# The worker processes themselves do not write the persistent cache: their in-memory cache already shares
# compiles among their tests, and an XLA:CPU executable serialization crashed a worker once (SIGSEGV in
# ``executable.serialize`` during a cache write, in a run that otherwise passed twice). Subprocesses and
# notebook kernels (``JAX_ENABLE_COMPILATION_CACHE`` unset) still share the directory.
jax.config.update("jax_enable_compilation_cache", False)

# pytest-xdist's ``--dist loadfile`` hands whole files to the workers in collection order. Starting the
# longest files first (longest-processing-time-first) keeps the two workers' loads even; the order of the
# tests inside a file is unchanged (a stable sort).
_LONGEST_FIRST = ("test_plot_reproduce.py", "test_smoke.py", "test_notebooks.py", "test_llm_recurrent.py",
                  "test_scale.py", "test_llm.py", "test_sweep.py", "test_llm_cli.py", "test_multi_agent.py",
                  "test_bail_window.py", "test_rates.py", "test_env.py", "test_cli.py", "test_runner_cells.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
