"""Sweeps: validation before work, atomic per-cell results, resume after kill -9, shards, tidy table."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxbail.cli import main
from jaxbail.sweep import TABLE_COLUMNS, expand_cells, load_sweep

SMALL = """
name = "small"
seed = 3
episodes = 40
seeds = 24

[[instances]]
name = "hard"
params = { num_tasks = [2, 3], horizon = 2 }

[[instances]]
name = "actor_slip"
params = { num_tasks = 2, horizon = 2, slip = [0.1, 0.3] }

[planner]
name = ["bail", "eps_bail"]
eps = ["0.1", "anytime:1"]
"""


def write(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(*argv):
    return subprocess.run([sys.executable, "-m", "jaxbail.cli", *argv], capture_output=True, text=True)


def test_grid_expands_to_the_cartesian_product(tmp_path):
    cells = expand_cells(load_sweep(write(tmp_path, SMALL)))
    # 4 instances x (bail + 2 eps variants)
    assert len(cells) == 4 * 3
    assert len({c.cell_id for c in cells}) == len(cells)
    assert {c["eps"] for c in cells if c["planner"] == "eps_bail"} == {"0.1", "anytime:1"}
    assert all(c["eps"] is None for c in cells if c["planner"] != "eps_bail")


def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    config = write(tmp_path, SMALL)
    whole = tmp_path / "whole"
    assert main(["sweep", str(config), "--out", str(whole), "--no-progress"]) == 0
    reference = (whole / "results.csv").read_text()
    rows = reference.strip().splitlines()
    assert rows[0].split(",") == TABLE_COLUMNS
    assert len({r.split(",")[0] for r in rows[1:]}) == 12

    resumed = tmp_path / "resumed"
    rng = random.Random(1234)
    for _attempt in range(1):  # kill -9 at a random moment, then finish
        proc = subprocess.Popen([sys.executable, "-m", "jaxbail.cli", "sweep", str(config), "--out", str(resumed),
                                 "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(3.0, 7.0))  # import and the first batches take about this long
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    for path in (resumed / "cells").glob("*.json"):  # no torn files: every cell file parses
        json.loads(path.read_text())
    done = cli("sweep", str(config), "--out", str(resumed), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert (resumed / "results.csv").read_text() == reference


def test_shards_merge_to_the_same_table_and_status_lists_cells(tmp_path):
    config = write(tmp_path, SMALL.replace("episodes = 40", "episodes = 20"))  # same batches: cached compiles
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    assert main(["sweep", str(config), "--out", str(whole), "--no-progress"]) == 0
    assert main(["sweep", str(config), "--out", str(sharded), "--shard", "0/2", "--no-progress"]) == 0
    proc = cli("sweep", str(config), "--out", str(sharded), "--status")
    assert proc.returncode == 0
    assert "missing" in proc.stdout and proc.stdout.count("done ") >= 1
    assert main(["sweep", str(config), "--out", str(sharded), "--shard", "1/2", "--no-progress"]) == 0
    assert (sharded / "results.csv").read_text() == (whole / "results.csv").read_text()
    status = cli("sweep", str(config), "--out", str(sharded), "--status")
    assert "12 done, 0 missing of 12 cells" in status.stdout


def test_metadata_records_config_hash_versions_and_device(tmp_path):
    config = write(tmp_path, SMALL.replace('name = ["bail", "eps_bail"]', 'name = "bail"'))
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--no-progress"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    import hashlib

    assert meta["config_sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()
    assert {"jax", "jaxlib", "jaxbail", "numpy", "python"} <= set(meta["versions"])
    assert meta["device"].startswith("cpu") and meta["seed"] == 3 and meta["num_cells"] == 4


BAD_TOML = {
    "syntax": ("episodes = [1, 2", r"invalid TOML"),
    "unknown_top_key": (SMALL + "\ncolour = 1\n", r"colour: unknown key"),
    "episodes_zero": (SMALL.replace("episodes = 40", "episodes = 0"), r"episodes: must be a positive integer"),
    "seeds_text": (SMALL.replace("seeds = 24", 'seeds = "many"'), r"seeds: must be a positive integer"),
    "eps_range": (SMALL.replace('"0.1", "anytime:1"', '"1.5"'), r"planner\.eps: eps must lie in \[0, 1\]"),
    "eps_schedule": (SMALL.replace('"0.1", "anytime:1"', '"anytime:x"'), r"planner\.eps: malformed schedule"),
    "unknown_planner": (SMALL.replace('"eps_bail"]', '"greedy"]'), r"planner\.name: unknown planner 'greedy'"),
    "unknown_instance": (SMALL.replace('name = "actor_slip"', 'name = "maze"'),
                         r"instances\[1\]\.name: unknown instance 'maze'"),
    "unknown_param": (SMALL.replace("slip = [0.1, 0.3]", "slipp = 0.1"), r"instances\[1\]\.params\.slipp: unknown"),
    "param_range": (SMALL.replace("slip = [0.1, 0.3]", "slip = [0.1, 1.3]"), r"instances\[1\]\.params\.slip: must lie"),
    "mode": (SMALL.replace("seed = 3", 'seed = 3\nmode = "sometimes"'), r"mode: must be 'bayes' or 'fixed'"),
    "fixed_without_task": (SMALL.replace("seed = 3", 'seed = 3\nmode = "fixed"'), r"task: mode = 'fixed' needs task"),
    "planner_key": (SMALL.replace('eps = ["0.1", "anytime:1"]', 'epz = 0.1'), r"planner\.epz: unknown key"),
}


@pytest.mark.parametrize("case", list(BAD_TOML))
def test_bad_toml_gets_one_line_naming_the_key_and_exit_2(tmp_path, capsys, case):
    text, pattern = BAD_TOML[case]
    config = write(tmp_path, text)
    out = tmp_path / "out"
    code = main(["sweep", str(config), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(pattern, err), err
    assert not out.exists()  # nothing started


def test_sweep_cells_in_one_batch_share_one_compile(tmp_path, monkeypatch):
    import chex
    import jax

    from jaxbail import runner

    traced = jax.jit(chex.assert_max_traces(runner._run_cells_impl, n=1),
                     static_argnames=runner.STATIC_ARGNAMES)
    monkeypatch.setattr(runner, "_run_cells", traced)
    chex.clear_trace_counter()
    config = write(tmp_path, """
episodes = 10
seeds = 8
[instance]
name = "hard"
params = { prior = [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], reveal = [1.0, 0.5] }
[planner]
name = "eps_bail"
eps = ["0.05", "0.2", "auto", "anytime:1"]
""")
    assert main(["sweep", str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    rows = (tmp_path / "o" / "results.csv").read_text().strip().splitlines()
    assert len({r.split(",")[0] for r in rows[1:]}) == 16


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "examples" / "sweeps").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_shipped_example_sweeps_are_valid(path):
    cells = expand_cells(load_sweep(path))
    assert len(cells) >= 2


def test_sweep_expands_coordination_and_instruction_grids(tmp_path):
    config = write(tmp_path, """
episodes = 20
seeds = 4
[[instances]]
name = "coordination"
params = { num_actors = [2, 3], num_tasks = 2, horizon = 2 }

[[instances]]
name = "hard"
params = { num_tasks = 2, horizon = 2, instruction_probs = [0.3, 0.7] }

[planner]
name = ["bail", "eps_bawm"]
eps = "anytime:1"
""")
    cells = expand_cells(load_sweep(config))
    assert len(cells) == 6
    assert {json.dumps(c["instance"]["params"], sort_keys=True) for c in cells} == {
        '{"horizon": 2, "num_actors": 2, "num_tasks": 2}', '{"horizon": 2, "num_actors": 3, "num_tasks": 2}',
        '{"horizon": 2, "instruction_probs": [0.3, 0.7], "num_tasks": 2}'}
    bad = write(tmp_path, config.read_text().replace("num_actors = [2, 3]", "num_actors = [2, 9]"), "bad.toml")
    with pytest.raises(Exception, match=r"instances\[0\]\.params\.num_actors: 9 Actors need joint tables"):
        expand_cells(load_sweep(bad))


def test_sweep_runs_a_coordination_cell_with_its_theory(tmp_path):
    config = write(tmp_path, """
seed = 0
episodes = 1000
seeds = 200
[instance]
name = "coordination"
params = { num_actors = 2, num_tasks = 2, horizon = 3, prior = [0.6, 0.4], reveal = 0.5 }
[planner]
name = "bail"
""")
    assert main(["sweep", str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    import csv

    with open(tmp_path / "o" / "results.csv") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert last["instance"] == "coordination" and last["theory_kind"] == "exact_line"
    assert float(last["theory_value"]) == pytest.approx(1440.0, rel=1e-6)
    assert float(last["eta"]) > 0 and float(last["Dmax"]) == pytest.approx(1.0)


def test_sweep_runs_bawm_and_eps_bawm_on_coordination_with_their_theory(tmp_path):
    config = write(tmp_path, """
seed = 0
episodes = 20
seeds = 4
[instance]
name = "coordination"
params = { num_actors = 2, num_tasks = 2, horizon = 2 }
[planner]
name = ["bawm", "eps_bawm"]
eps = "anytime:1"
""")
    assert main(["sweep", str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    import csv

    with open(tmp_path / "o" / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    last = {r["planner"]: r for r in rows if int(r["episode"]) == 20}
    assert set(last) == {"bawm", "eps_bawm"} and {r["instance"] for r in rows} == {"coordination"}
    # BAWM's mean model (w = 1/2) ties every target: the lowest index, task 0's target; H (1 - 1/2) per episode
    assert last["bawm"]["theory_kind"] == "exact_line" and float(last["bawm"]["theory_value"]) == pytest.approx(20.0)
    assert last["eps_bawm"]["theory_kind"] == "upper_bound"


def test_which_parameters_take_lists_comes_from_the_generators_annotations():
    from jaxbail.instances import list_valued

    assert list_valued("hard") == {"prior", "instruction_probs"}
    assert list_valued("random") == {"instruction_probs"}
    assert list_valued("actor_slip") == list_valued("safe_arm") == {"prior"}
    assert list_valued("coordination") == {"prior", "reveal"}


@pytest.mark.parametrize("reveal, want", [
    ("[0.5, 0.8]", [[0.5, 0.8]]),               # a per-Actor list is one value
    ("[[0.5, 0.8], 1.0]", [[0.5, 0.8], 1.0]),   # a list holding lists is a grid axis
    ("0.5", [0.5]),
])
def test_a_per_actor_reveal_list_is_one_value_and_a_list_of_them_an_axis(tmp_path, reveal, want):
    config = write(tmp_path, f"""
[instance]
name = "coordination"
params = {{ num_actors = 2, num_tasks = 2, horizon = 2, reveal = {reveal} }}
[planner]
name = "bail"
""")
    assert [c["instance"]["params"]["reveal"] for c in expand_cells(load_sweep(config))] == want


def test_a_new_family_is_one_generator_and_one_entry(tmp_path, monkeypatch, capsys):
    """A generator registered in the test: its key becomes ``seed``, its ``Sequence`` parameter takes lists,
    its unannotated one is a scalar whose list is a grid axis; ``jaxbail list`` shows it."""
    from collections.abc import Sequence

    from jaxbail.instances import INSTANCES, Family, hard, instance_by_name, parameters

    seen = []

    def toy(key=0, weights: Sequence[float] | None = None, horizon=2):
        """A toy family: ``hard`` with two tasks."""
        seen.append(key)
        return hard(2, horizon, prior=weights)

    monkeypatch.setitem(INSTANCES, "toy", Family(toy, {"default": ({"seed": 0}, {"seed": 1})}))
    assert list(parameters("toy")) == ["weights", "horizon", "seed"]
    instance_by_name("toy", seed=7)
    assert seen == [7]
    config = write(tmp_path, """
[instance]
name = "toy"
params = { seed = [1, 2], weights = [0.3, 0.7], horizon = [2, 3] }
[planner]
name = "bail"
""")
    cells = expand_cells(load_sweep(config))
    assert sorted((c["instance"]["params"]["seed"], c["instance"]["params"]["horizon"]) for c in cells) == [
        (1, 2), (1, 3), (2, 2), (2, 3)]
    assert all(c["instance"]["params"]["weights"] == [0.3, 0.7] for c in cells)
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "  toy          A toy family: ``hard`` with two tasks.  params: weights, horizon, seed" in listed
