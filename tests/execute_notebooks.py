"""Execute lesson notebooks in place, top to bottom, and save them the way we commit them.

    python tests/execute_notebooks.py notebooks/03_threshold_vs_patience.ipynb [...]

Prints each notebook's run time and size; keeps widget state out of the saved file (it is
large and goes stale) and fails on the first cell that raises.
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 600) -> float:
    """Run `path` in a fresh kernel in its own folder; save it; return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)  # kept while running (Output widgets need it), not saved
    nbformat.write(nb, path)
    return seconds


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as `make test` runs them
    for arg in sys.argv[1:]:
        p = Path(arg)
        s = execute(p)
        print(f"{p}: {s:.1f} s, {p.stat().st_size // 1024} KB", flush=True)
