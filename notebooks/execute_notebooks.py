"""Execute notebooks in place with nbclient; print wall time per notebook."""
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

for path in map(Path, sys.argv[1:]):
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{path.name}: {time.time() - t0:.1f} s", flush=True)
    nbformat.write(nb, path)
