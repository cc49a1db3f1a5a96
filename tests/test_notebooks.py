"""The notebooks: each is a jupytext source ``NN_name.py`` paired with the executed ``NN_name.ipynb``; the two
hold the same cells, each runs top to bottom (small settings), and each is committed with its outputs.

Execution needs nbformat, nbclient, ipykernel, jupytext and matplotlib (the ``test`` extra); the checks on
the committed files need nothing beyond the standard library and jupytext.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = ["01_quickstart.ipynb", "02_linear_vs_sublinear.ipynb", "03_sweeps.ipynb", "04_pretrained_llm.ipynb",
            "05_world_model_and_multi_agent.ipynb"]
NOTEBOOKS = sorted(set(EXPECTED) | {p.name for p in NOTEBOOK_DIR.glob("*.ipynb")})
COLAB = "https://colab.research.google.com/github/jaxbail/jaxbail/blob/main/notebooks/{name}"
CELL_TIMEOUT_S = 300


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return _source({"source": output.get("text", "")})
    return _source({"source": output.get("data", {}).get("text/plain", "")})


def _images(cells: list[dict]) -> int:
    return sum("image/png" in out.get("data", {}) for cell in cells if cell["cell_type"] == "code"
               for out in cell.get("outputs", []))


def _errors(cells: list[dict]) -> list[str]:
    return [f"cell {i}: {out.get('ename')}: {out.get('evalue')}" for i, cell in enumerate(cells)
            if cell["cell_type"] == "code" for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def _all_text(cells: list[dict]) -> str:
    return "\n".join(_text(out) for cell in cells if cell["cell_type"] == "code" for out in cell.get("outputs", []))


def test_expected_notebooks_exist():
    missing = [name for name in EXPECTED if not (NOTEBOOK_DIR / name).exists()]
    assert not missing, f"missing notebooks: {missing}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_its_jupytext_source(name):
    """``NN_name.ipynb`` holds exactly the cells of ``NN_name.py`` (run ``jupytext --sync`` or
    ``python notebooks/execute_notebooks.py`` after editing the source), and the source is paired with it."""
    import jupytext

    source = NOTEBOOK_DIR / name.replace(".ipynb", ".py")
    assert source.exists(), f"{name}: no jupytext source {source.name}"
    text = jupytext.read(source)
    assert text.metadata["jupytext"]["formats"] == "ipynb,py:percent", \
        "pair it: jupytext --set-formats ipynb,py:percent"
    committed = json.loads((NOTEBOOK_DIR / name).read_text(encoding="utf-8"))["cells"]
    expected = [(c.cell_type, c.source) for c in text.cells]
    assert [(c["cell_type"], _source(c)) for c in committed] == expected, \
        f"{name} differs from {source.name}: re-run python notebooks/execute_notebooks.py notebooks/{source.name}"


def test_no_notebook_source_without_its_notebook():
    sources = {p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py")}
    assert sources == {Path(n).stem for n in NOTEBOOKS}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_badge_and_outputs(name):
    """Committed with the Colab badge, the guarded Colab install, and the full-settings outputs, figures included."""
    nb = json.loads((NOTEBOOK_DIR / name).read_text(encoding="utf-8"))
    cells = nb["cells"]
    first = cells[0]
    assert first["cell_type"] == "markdown" and _source(first).lstrip().startswith("# "), "first cell: a title"
    assert COLAB.format(name=name) in _source(first), "first cell: the Open in Colab badge for this notebook"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert '"google.colab" in sys.modules' in _source(code[0]), "first code cell: the Colab-only install"
    assert 'os.environ.get("JAXBAIL_NOTEBOOK_SMALL") == "1"' in _source(code[1]), "second code cell: the sizes"
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), \
        f"{name}: not executed top to bottom in one kernel (execution counts {counts}); re-run it before committing"
    assert not _errors(cells), f"{name}: committed with errors: {_errors(cells)}"
    assert _images(cells) >= 1, f"{name}: committed without figures"
    assert "SMALL = False" in _all_text(cells), f"{name}: committed outputs must come from the full settings"


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A ``python3`` kernel of this interpreter, small settings, inline figures, temporary files in tmp_path."""
    jupyter = tmp_path / "jupyter"
    spec = jupyter / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jaxbail tests)", "language": "python"}))
    previous = os.environ.get("JUPYTER_PATH")
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter) + (os.pathsep + previous if previous else ""))
    monkeypatch.setenv("JAXBAIL_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # compiles dominate the small runs: skip LLVM's optimisations (about half the compile time on CPU)
    flags = os.environ.get("XLA_FLAGS", "")
    monkeypatch.setenv("XLA_FLAGS", (flags + " --xla_backend_optimization_level=0").strip())
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, kernel_env):
    """A copy runs top to bottom with JAXBAIL_NOTEBOOK_SMALL=1, without errors, and draws at least one figure."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    copy = kernel_env / name
    shutil.copyfile(NOTEBOOK_DIR / name, copy)
    nb = nbformat.read(copy, as_version=4)
    for cell in nb.cells:  # start from a clean copy: every output checked below is fresh
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", startup_timeout=120,
                            resources={"metadata": {"path": str(kernel_env)}})
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{name} failed:\n{err}")
    nbformat.write(nb, copy)
    cells = json.loads(copy.read_text(encoding="utf-8"))["cells"]
    assert not _errors(cells), _errors(cells)
    assert "SMALL = True" in _all_text(cells), "the small settings did not reach the kernel"
    assert _images(cells) >= 1, f"{name} produced no figure"
