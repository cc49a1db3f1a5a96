"""Scale: seed-axis chunking, streamed statistics, sharding over devices, the CLI's compilation cache."""

import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxbail import stats
from jaxbail.cli import main
from jaxbail.experiment import summarize
from jaxbail.instances import hard, random_instance
from jaxbail.planners import Bail, make_planner
from jaxbail.runner import _seed_chunks, simulate, simulate_many
from jaxbail.streaming import CurveStats, merge, slope_delta

KEY = jax.random.PRNGKey(3)
FIELDS = ("gap_regret", "return_regret", "misspecified", "true_task_posterior", "tasks")
CURVES = ("gap_regret", "return_regret", "misspecified", "true_task_posterior")


def _instance():
    return hard(num_tasks=3, horizon=3)


def test_seed_chunks_are_equal_multiples_of_the_device_count():
    assert _seed_chunks(10, 1, 1, None, "cpu") == (10, 1)
    assert _seed_chunks(10, 1, 1, 4, "cpu") == (4, 3)        # 4 + 4 + 2 (padded to 4)
    assert _seed_chunks(10, 1, 4, None, "cpu") == (12, 1)    # padded to a multiple of 4 devices
    assert _seed_chunks(9, 1, 2, 4, "cpu") == (4, 3)
    assert _seed_chunks(200_000, 2, 1, None, "cpu") == (28_572, 7)  # 32,768 seeds of 2 cells a call at most
    assert _seed_chunks(1_000_000, 1, 1, None, "gpu") == (1_000_000, 1)
    with pytest.raises(ValueError, match=r"chunk_seeds: must be >= 1, got 0"):
        _seed_chunks(10, 1, 1, 0, "cpu")


@pytest.mark.parametrize("chunk_seeds", [4, 5])
def test_seed_axis_chunking_gives_every_seed_the_same_results(chunk_seeds):
    inst = _instance()
    one = simulate(KEY, inst, Bail(), num_episodes=12, num_seeds=11, first_seed=7, progress=False)
    chunked = simulate(KEY, inst, Bail(), num_episodes=12, num_seeds=11, first_seed=7, chunk_seeds=chunk_seeds,
                       progress=False)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(chunked, name), getattr(one, name), err_msg=name)
    np.testing.assert_array_equal(chunked.episodes, one.episodes)


def test_seed_axis_chunking_of_several_cells_and_measured_tv():
    inst = _instance()
    planners = [make_planner("eps_bail", instance=inst, eps_scale=e, eps_power=0.0) for e in (0.1, 0.5)]
    args = dict(num_episodes=9, num_seeds=7, tasks=[None, 1], measure_tv=True, progress=False)
    one = simulate_many(KEY, [inst, inst], planners, **args)
    chunked = simulate_many(KEY, [inst, inst], planners, chunk_seeds=3, chunk_episodes=4, **args)
    for a, b in zip(one, chunked):
        for name in FIELDS + ("tv_to_bail", "mean_tv_to_bail"):
            np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)


def test_streamed_moments_match_the_per_seed_curves():
    inst = random_instance(1, num_tasks=4, num_states=5, num_subgoals=3, horizon=4)
    kept = simulate(KEY, inst, Bail(), num_episodes=30, num_seeds=50, progress=False)
    streamed = simulate(KEY, inst, Bail(), num_episodes=30, num_seeds=50, chunk_seeds=16, keep_curves=False,
                        progress=False)
    assert streamed.gap_regret is None and streamed.tv_to_bail is None and kept.curve_stats is None
    np.testing.assert_array_equal(streamed.tasks, kept.tasks)
    cs = streamed.curve_stats
    assert cs.num_seeds == 50
    curves = np.stack([getattr(kept, name) for name in CURVES])  # [4, N, L]
    np.testing.assert_allclose(cs.total, curves.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(cs.mean, curves.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(cs.m2, curves.var(axis=1) * 50, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cs.gap_comoment, np.cov(curves[0].T, ddof=0) * 50, rtol=1e-9, atol=1e-9)


def test_merge_is_the_moments_of_the_union():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 23, 6)) * rng.uniform(1, 100, size=(4, 1, 6))
    merged = merge(merge(None, CurveStats.of(values[:, :5])), CurveStats.of(values[:, 5:]))
    whole = CurveStats.of(values)
    assert merged.num_seeds == 23
    for a, b in zip(merged[1:], whole[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_delta_slope_interval_is_the_linearised_per_seed_se_and_close_to_the_bootstrap():
    inst = random_instance(2, num_tasks=4, num_states=5, num_subgoals=3, horizon=4)
    planner = make_planner("eps_bail", instance=inst, eps_scale=0.3, eps_power=0.5)
    kept = simulate(KEY, inst, planner, num_episodes=100, num_seeds=1500, progress=False)
    moments = CurveStats.of(np.stack([getattr(kept, name) for name in CURVES]))  # streaming: tested above
    delta = slope_delta(kept.episodes, moments)
    boot = stats.loglog_slope(kept.episodes, kept.gap_regret, num_bootstrap=1000)
    assert delta.slope == pytest.approx(boot.slope, rel=1e-12)
    assert (delta.first_episode, delta.last_episode, delta.num_points) == (
        boot.first_episode, boot.last_episode, boot.num_points)
    # independent: the SE of the slope linearised seed by seed, y_i = sum_j x_j / (x.x) g_ij / m_j
    use = kept.episodes >= kept.episodes.max() / 10
    x = np.log(kept.episodes[use]) - np.log(kept.episodes[use]).mean()
    mean = kept.gap_regret[:, use].mean(axis=0)
    y = kept.gap_regret[:, use] @ (x / (x @ x) / mean)
    se = y.std(ddof=1) / math.sqrt(y.size)
    assert (delta.hi - delta.lo) / 2 == pytest.approx(stats.Z95 * se, rel=1e-9)
    # the bootstrap's half-width has a Monte Carlo relative error of about 1/sqrt(2 B) (B = 1000)
    half_boot = (boot.hi - boot.lo) / 2
    assert abs(half_boot / ((delta.hi - delta.lo) / 2) - 1) < 4 / math.sqrt(2 * 1000)


def test_streamed_summary_matches_the_per_seed_summary():
    inst = _instance()
    planner = make_planner("eps_bail", instance=inst, eps_scale=0.2, eps_power=0.5)
    kept = simulate(KEY, inst, planner, num_episodes=40, num_seeds=64, progress=False)
    streamed = simulate(KEY, inst, planner, num_episodes=40, num_seeds=64, chunk_seeds=20, keep_curves=False,
                        progress=False)
    a, b = summarize(kept, planner="eps_bail"), summarize(streamed, planner="eps_bail")
    assert b.pop("slope_ci_method") == "delta"
    a_ci, b_ci = a.pop("slope_ci95"), b.pop("slope_ci95")
    assert b_ci[0] < b["slope"] < b_ci[1] and a_ci[0] < a["slope"] < a_ci[1]
    assert set(a) == set(b)

    def close(u, v, path):
        if isinstance(u, dict):
            assert set(u) == set(v), path
            for k in u:
                close(u[k], v[k], f"{path}.{k}")
        elif isinstance(u, list):
            assert len(u) == len(v), path
            for i, (p, q) in enumerate(zip(u, v)):
                close(p, q, f"{path}[{i}]")
        elif isinstance(u, float):
            assert v == pytest.approx(u, rel=1e-10, abs=1e-12), path
        else:
            assert u == v, path
    close(a, b, "summary")


_DEVICE_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from jaxbail import runner
    from jaxbail.instances import hard
    from jaxbail.planners import Bail, make_planner

    assert len(jax.devices()) == 4, jax.devices()
    used = []
    shard = runner.shard_seeds
    def recording(tree, mesh, axis):
        out = shard(tree, mesh, axis)
        used.append(len(jax.tree.leaves(out)[0].sharding.device_set))
        return out
    runner.shard_seeds = recording
    inst = hard(num_tasks=3, horizon=3)
    planners = [Bail(), make_planner("eps_bail", instance=inst, eps_scale=0.3, eps_power=0.0)]
    out = {}
    assert runner.resolve_devices("all") == jax.devices()
    for devices in (1, 2, 4):
        used.clear()
        one = runner.simulate(jax.random.PRNGKey(5), inst, Bail(), num_episodes=9, num_seeds=10, first_seed=3,
                              devices=devices, progress=False)
        cells = runner.simulate_many(jax.random.PRNGKey(5), [inst, inst], planners[1:] * 2, num_episodes=9,
                                     num_seeds=6, tasks=[None, 2], devices=devices, chunk_seeds=4,
                                     progress=False)
        fields = ("gap_regret", "return_regret", "misspecified", "true_task_posterior", "tasks")
        out[str(devices)] = {"used": sorted(set(used)),
                             "one": {f: np.asarray(getattr(one, f)).tolist() for f in fields},
                             "cells": [{f: np.asarray(getattr(c, f)).tolist() for f in fields} for c in cells]}
    print(json.dumps(out))
""")


def test_each_seed_is_the_same_on_1_2_and_4_devices():
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"))
    proc = subprocess.run([sys.executable, "-c", _DEVICE_SCRIPT], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["1"]["used"] == [1] and out["2"]["used"] == [2] and out["4"]["used"] == [4]
    for devices in ("2", "4"):
        assert out[devices]["one"] == out["1"]["one"], devices
        assert out[devices]["cells"] == out["1"]["cells"], devices


@pytest.mark.parametrize("devices, message", [
    (0, r"devices: must be 'all' or an integer in \[1, 1\] \(the local cpu devices\), got 0"),
    (2, r"devices: must be 'all' or an integer in \[1, 1\] \(the local cpu devices\), got 2"),
    ("some", r"devices: must be 'all' or an integer in \[1, 1\], got 'some'"),
    ([], r"devices: must be 'all', an integer in \[1, 1\] or a list of devices, got \[\]"),
])
def test_bad_devices_are_refused(devices, message):
    with pytest.raises(ValueError, match=message):
        simulate(KEY, _instance(), Bail(), num_episodes=2, num_seeds=2, devices=devices, progress=False)


def test_cli_refuses_bad_devices(capsys):
    code = main(["run", "--instance", "hard", "--planner", "bail", "--episodes", "2", "--seeds", "2",
                 "--devices", "3", "--no-progress", "--no-compile-cache"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == ("jaxbail: error: --devices: must be 'all' or an integer in [1, 1] (the local cpu "
                           "devices), got 3")


def _cli(args, env_extra):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-m", "jaxbail.cli", *args], capture_output=True, text=True, env=env)


RUN = ["run", "--instance", "hard", "--param", "num_tasks=2", "--param", "horizon=3", "--planner", "bail",
       "--episodes", "20", "--seeds", "16", "--json", "--no-progress"]


def test_compile_cache_directory_option_and_a_corrupt_cache(tmp_path):
    cache = tmp_path / "xla"
    first = _cli(RUN, {"JAXBAIL_COMPILE_CACHE": str(cache)})
    assert first.returncode == 0, first.stderr
    entries = sorted(cache.iterdir())
    assert any("run_cells" in p.name for p in entries), [p.name for p in entries]
    for path in entries:
        path.write_bytes(b"not an executable")
    second = _cli(RUN, {"JAXBAIL_COMPILE_CACHE": str(cache)})
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    warnings = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, second.stderr
    assert warnings[0].startswith(f"jaxbail: warning: compilation cache '{cache}' has an unusable entry (")
    assert warnings[0].endswith("); compiling instead (delete the directory to rebuild the cache)")



def test_no_compile_cache_leaves_the_cache_directory_alone(tmp_path, monkeypatch, capsys):
    off = tmp_path / "off"
    monkeypatch.setenv("JAXBAIL_COMPILE_CACHE", str(off))
    assert main([*RUN, "--no-compile-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["seeds"] == 16 and not off.exists()


def test_an_unusable_cache_directory_warns_once_and_compiles(tmp_path, capsys, monkeypatch):
    from jaxbail import compile_cache

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(compile_cache, "_warned", False)
    assert compile_cache.enable_compile_cache(blocker / "xla") is None
    assert compile_cache.enable_compile_cache(blocker / "xla") is None
    err = capsys.readouterr().err
    assert err == (f"jaxbail: warning: compilation cache '{blocker / 'xla'}' cannot be used (NotADirectoryError: "
                   "Not a directory); compiling instead\n")
    assert err.count("\n") == 1


def test_default_cache_dir(monkeypatch, tmp_path):
    from jaxbail.compile_cache import default_cache_dir

    monkeypatch.delenv("JAXBAIL_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "jaxbail" / "xla"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "jaxbail" / "xla"
    monkeypatch.setenv("JAXBAIL_COMPILE_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


_DISTRIBUTED_SCRIPT = textwrap.dedent("""
    import json, sys
    from jaxbail.devices import init_distributed
    assert init_distributed()
    import jax, numpy as np
    from jaxbail.instances import hard
    from jaxbail.planners import make_planner
    from jaxbail.runner import simulate
    inst = hard(num_tasks=3, horizon=3)
    planner = make_planner("eps_bail", instance=inst, eps_scale=0.2, eps_power=0.0)
    kept = simulate(jax.random.PRNGKey(4), inst, planner, num_episodes=15, num_seeds=9, progress=False)
    streamed = simulate(jax.random.PRNGKey(4), inst, planner, num_episodes=15, num_seeds=9, keep_curves=False,
                        progress=False)
    fields = ("gap_regret", "return_regret", "misspecified", "true_task_posterior", "tasks")
    out = {f: np.asarray(getattr(kept, f)).tolist() for f in fields}
    out["moments"] = [np.asarray(a).tolist() for a in streamed.curve_stats[1:]] + [streamed.curve_stats.num_seeds]
    out["processes"] = jax.process_count()
    print("RESULT " + json.dumps(out))
""")


def test_two_processes_with_jax_distributed_give_the_one_process_results():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, JAXBAIL_COORDINATOR=f"127.0.0.1:{port}", JAXBAIL_NUM_PROCESSES="2",
                   JAXBAIL_PROCESS_ID=str(rank))
        procs.append(subprocess.Popen([sys.executable, "-c", _DISTRIBUTED_SCRIPT], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    results = [json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
               for out, _ in outs]
    assert results[0] == results[1] and results[0]["processes"] == 2
    inst = hard(num_tasks=3, horizon=3)
    planner = make_planner("eps_bail", instance=inst, eps_scale=0.2, eps_power=0.0)
    one = simulate(jax.random.PRNGKey(4), inst, planner, num_episodes=15, num_seeds=9, progress=False)
    for name in FIELDS:
        np.testing.assert_array_equal(np.asarray(results[0][name]), getattr(one, name), err_msg=name)
    total, m2, comoment, count = results[0]["moments"]
    whole = CurveStats.of(np.stack([getattr(one, name) for name in CURVES]))
    assert count == 9
    np.testing.assert_allclose(total, whole.total, rtol=1e-12)
    np.testing.assert_allclose(m2, whole.m2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(comoment, whole.gap_comoment, rtol=1e-9, atol=1e-9)


def test_distributed_environment_needs_the_process_count_and_id(monkeypatch):
    from jaxbail.devices import init_distributed

    monkeypatch.delenv("JAXBAIL_COORDINATOR", raising=False)
    assert init_distributed() is False
    monkeypatch.setenv("JAXBAIL_COORDINATOR", "127.0.0.1:1")
    monkeypatch.delenv("JAXBAIL_NUM_PROCESSES", raising=False)
    with pytest.raises(ValueError, match=r"JAXBAIL_COORDINATOR=host:port needs the integers "
                                         r"JAXBAIL_NUM_PROCESSES and JAXBAIL_PROCESS_ID"):
        init_distributed()


def test_cli_streams_the_statistics_above_the_threshold(monkeypatch, capsys):
    from jaxbail import streaming

    assert main([*RUN, "--no-compile-cache"]) == 0
    kept = json.loads(capsys.readouterr().out)
    monkeypatch.setattr(streaming, "STREAM_ABOVE", 8)
    assert main([*RUN, "--no-compile-cache"]) == 0
    streamed = json.loads(capsys.readouterr().out)
    assert "slope_ci_method" not in kept and streamed.pop("slope_ci_method") == "delta"
    for name in ("seeds", "episodes", "misspecification_events", "theory", "slope_range"):
        assert streamed[name] == kept[name], name
    for name in ("regret_mean", "regret_se", "return_regret_mean", "per_episode_regret_last",
                 "true_task_posterior_final"):
        assert streamed[name] == pytest.approx(kept[name], rel=1e-12, abs=1e-12), name
    np.testing.assert_allclose(streamed["curve"]["regret_mean"], kept["curve"]["regret_mean"], rtol=1e-12)


SWEEP = """
name = "streamed"
seed = 1
episodes = 20
seeds = 12

[instance]
name = "hard"
params = { num_tasks = 2, horizon = 2 }

[planner]
name = "eps_bail"
eps = ["0.1", "0.3"]
"""


def test_sweep_cells_stream_above_the_threshold(tmp_path, monkeypatch):
    from jaxbail import streaming
    from jaxbail.sweep import load_sweep, run_sweep

    config_path = tmp_path / "sweep.toml"
    config_path.write_text(SWEEP)
    run_sweep(load_sweep(config_path), tmp_path / "kept", progress=False)
    monkeypatch.setattr(streaming, "STREAM_ABOVE", 4)
    run_sweep(load_sweep(config_path), tmp_path / "streamed", progress=False)
    kept = sorted((tmp_path / "kept" / "cells").iterdir())
    streamed = sorted((tmp_path / "streamed" / "cells").iterdir())
    assert [p.name for p in kept] == [p.name for p in streamed] and len(kept) == 2
    for a_path, b_path in zip(kept, streamed):
        a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
        assert "slope_ci_method" not in a and b["slope_ci_method"] == "delta"
        for name in ("regret_mean", "regret_se", "return_regret_mean", "per_episode_regret_last"):
            assert b[name] == pytest.approx(a[name], rel=1e-12, abs=1e-12), name
