"""Every write path failing midway (checkpoint, sweep cells, results.csv, metadata, figures): nothing
half-written is ever read as valid; a rerun finishes to the same results."""

import json
import os

import pytest

from jaxbail import validate
from jaxbail.cli import main

TOML = """name = "f"
seed = 2
episodes = 3
seeds = 2

[instance]
name = "hard"
params = { num_tasks = [2, 3], horizon = 2 }

[planner]
name = ["bail", "eps_bail"]
eps = "0.5"
"""


class Boom(Exception):
    pass


def fail_on_call(monkeypatch, target, attr, n, *, partial=None):
    """Make ``target.attr`` raise :class:`Boom` on its ``n``-th call (1-based); calls before it pass through."""
    real = getattr(target, attr)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            if partial is not None:
                partial(*args)
            raise Boom(f"{attr} failed (test)")
        return real(*args, **kwargs)
    monkeypatch.setattr(target, attr, wrapper)
    return calls


def no_temporaries(root):
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.endswith(".probe")]


@pytest.fixture()
def sweep_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(TOML)
    assert main(["sweep", "s.toml", "--out", "ref", "--no-progress"]) == 0
    capsys.readouterr()
    return tmp_path


def test_atomic_write_leaves_the_old_file_or_the_new_one(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    validate.atomic_write(path, "old")
    fail_on_call(monkeypatch, validate.os, "fsync", 1)
    with pytest.raises(Boom):
        validate.atomic_write(path, "new" * 1000)
    assert path.read_text() == "old" and not no_temporaries(tmp_path)
    monkeypatch.undo()
    fail_on_call(monkeypatch, validate.os, "replace", 1)
    with pytest.raises(Boom):
        validate.atomic_write(path, "new")
    assert path.read_text() == "old" and not no_temporaries(tmp_path)


@pytest.mark.parametrize("failing_write", [1, 2, 4, 6])
def test_sweep_failing_midway_resumes_to_the_same_table(sweep_dir, monkeypatch, capsys, failing_write):
    reference = (sweep_dir / "ref" / "results.csv").read_text()
    # writes: metadata (1), one per cell (2-5), results.csv (6); the n-th one fails, and a cell or the table
    # is even left torn under its name (as a copy without atomic writes would leave it)
    torn = (lambda src, dst: open(dst, "w").write(open(src).read()[:50])) if failing_write > 1 else None
    with pytest.MonkeyPatch.context() as mp, pytest.raises(Boom):
        fail_on_call(mp, validate.os, "replace", failing_write, partial=torn)
        main(["sweep", "s.toml", "--out", "out", "--no-progress"])
    capsys.readouterr()
    assert main(["sweep", "s.toml", "--out", "out", "--status"]) == 0  # never crashes on a torn file
    status = capsys.readouterr().out
    assert "of 4 cells" in status
    assert main(["sweep", "s.toml", "--out", "out", "--no-progress"]) == 0
    assert (sweep_dir / "out" / "results.csv").read_text() == reference


@pytest.mark.parametrize("content", [b"", b"{}", b"[]", b"\xff\xfe", b'{"cell_id": "x"}', None])
def test_corrupt_cell_is_detected_reported_and_recomputed(sweep_dir, capsys, content):
    import shutil

    reference = (sweep_dir / "ref" / "results.csv").read_text()
    shutil.copytree(sweep_dir / "ref", sweep_dir / "out")
    cell = sorted((sweep_dir / "out" / "cells").glob("*.json"))[0]
    text = cell.read_bytes()
    cell.write_bytes(text[: len(text) // 2] if content is None else content)  # None: truncated
    assert main(["sweep", "s.toml", "--out", "out", "--status"]) == 0
    out = capsys.readouterr().out
    assert f"{cell.stem}  corrupt" in out and "3 done, 1 missing of 4 cells" in out and "1 corrupt" in out
    assert main(["sweep", "s.toml", "--out", "out", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "ran 1 cells" in captured.out and "1 corrupt cell files" in captured.err
    assert (sweep_dir / "out" / "results.csv").read_text() == reference
    assert json.loads(cell.read_text())["cell_id"] == cell.stem


def test_cell_of_another_spec_under_this_id_is_not_valid(sweep_dir, capsys):
    import shutil

    shutil.copytree(sweep_dir / "ref", sweep_dir / "out")
    a, b = sorted((sweep_dir / "out" / "cells").glob("*.json"))[:2]
    a.write_bytes(b.read_bytes())  # a whole, parseable file, but another cell's
    assert main(["sweep", "s.toml", "--out", "out", "--status"]) == 0
    assert f"{a.stem}  corrupt" in capsys.readouterr().out


def test_results_table_write_failing_keeps_the_old_table(sweep_dir, monkeypatch):
    from jaxbail import sweep

    table = sweep_dir / "ref" / "results.csv"
    before = table.read_text()
    fail_on_call(monkeypatch, validate.os, "replace", 1, partial=lambda src, dst: open(dst, "a").close())
    with pytest.raises(Boom):
        sweep.write_table(sweep_dir / "ref")
    assert table.read_text() == before and not no_temporaries(sweep_dir)


def test_figure_write_failing_leaves_no_figure(sweep_dir, monkeypatch, capsys):
    import matplotlib.figure

    def half_then_fail(self, fname, **kwargs):
        with open(fname, "wb") as handle:
            handle.write(b"\x89PNG half")
        raise Boom("savefig failed (test)")
    with pytest.MonkeyPatch.context() as mp, pytest.raises(Boom):
        mp.setattr(matplotlib.figure.Figure, "savefig", half_then_fail)
        main(["plot", "ref", "--out", "figs"])
    assert sorted(p.name for p in (sweep_dir / "figs").iterdir()) == []
    assert main(["plot", "ref", "--out", "figs"]) == 0
    assert all(p.stat().st_size > 100 for p in (sweep_dir / "figs").iterdir())


def _save_shipped(path):
    from jaxbail.llm.checkpoint import CHECKPOINT_DIR, SHIPPED, load_checkpoint, save_checkpoint

    config, params, inst, record = load_checkpoint(CHECKPOINT_DIR / SHIPPED["hard"])
    save_checkpoint(path, config, params, inst, dict(record, note=str(path)))
    return config, params, inst, record


@pytest.mark.parametrize("failing_replace", [1, 2])
def test_checkpoint_save_failing_midway_is_never_loaded_as_valid(tmp_path, monkeypatch, failing_replace):
    from jaxbail.llm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    config, params, inst, record = _save_shipped(tmp_path / "m.msgpack")
    old_weights = (tmp_path / "m.msgpack").read_bytes()
    # another model under the same name: the save fails at its first (side file) or second (weights) replace
    import jax

    other = jax.tree.map(lambda x: x + 1.0, params)
    fail_on_call(monkeypatch, validate.os, "replace", failing_replace)
    with pytest.raises(Boom):
        save_checkpoint(tmp_path / "m.msgpack", config, other, inst, record)
    monkeypatch.undo()
    assert not no_temporaries(tmp_path)
    assert (tmp_path / "m.msgpack").read_bytes() == old_weights
    if failing_replace == 1:  # nothing replaced: the old checkpoint is whole and loads
        load_checkpoint(tmp_path / "m.msgpack")
    else:  # new side file, old weights: refused, never the wrong weights under the new record
        with pytest.raises(CheckpointError, match="not the ones its side file records"):
            load_checkpoint(tmp_path / "m.msgpack")


def test_killed_pretrain_leaves_no_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "m.msgpack"
    proc = subprocess.Popen([sys.executable, "-m", "jaxbail.cli", "pretrain", "--instance", "hard", "--out", str(out),
                             "--quick", "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(8.0)  # importing and sampling the prompts: training has not finished
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists() and not (tmp_path / "m.json").exists()
    assert os.listdir(tmp_path) == []  # not even a temporary file
