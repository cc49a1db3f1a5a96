"""Build each notebook from its jupytext source (``notebooks/NN_name.py``, percent format) and execute it
top to bottom into the paired ``NN_name.ipynb`` (the file Colab opens and GitHub renders, committed with
its outputs).

Usage, from the repository root: ``python notebooks/execute_notebooks.py [notebooks/NN_name.py ...]``
(default: every notebook). Set ``JAXBAIL_NOTEBOOK_SMALL=1`` for a smoke run (never commit its outputs).
Editing only text or code you do not want to re-run: ``jupytext --sync notebooks/NN_name.py`` updates the
``.ipynb``'s cells and keeps its outputs.
"""

import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

sources = [Path(p) for p in sys.argv[1:]] or sorted(HERE.glob("[0-9][0-9]_*.py"))
for source in sources:
    nb = jupytext.read(source)
    start = time.time()
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(source.parent)}}).execute()
    nbformat.write(nb, source.with_suffix(".ipynb"))
    print(f"{source.with_suffix('.ipynb').name}: {time.time() - start:.1f} s", flush=True)
