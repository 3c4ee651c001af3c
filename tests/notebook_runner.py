"""Run lesson notebooks in a kernel the way the tests need: whole, cell by cell, or edited."""

import os
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# 0 when pyplot was never imported (a lesson that draws only with Agg figures or widgets)
OPEN_FIGURES = (
    "import sys\n"
    "len(sys.modules['matplotlib.pyplot'].get_fignums()) if 'matplotlib.pyplot' in sys.modules else 0"
)


@contextmanager
def kernel(nb, path: Path, threads: int | None = 1):
    """A started NotebookClient for `nb`, its kernel using `threads` torch/OpenMP threads.

    threads=None is a student's kernel: no OMP_NUM_THREADS, so torch uses every core and
    `fit` chooses the thread count itself (a count set in the environment is the user's).
    """
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with client.setup_kernel(env=env):
        yield client


def code_cells(nb) -> list[tuple[int, object]]:
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def run_all(client, nb) -> float:
    """Run every code cell top to bottom; return the seconds it took."""
    start = time.perf_counter()
    for i, cell in code_cells(nb):
        client.execute_cell(cell, i)
    return time.perf_counter() - start


def probe(client, source: str):
    """Evaluate `source` in the kernel without leaving a cell behind; return text/plain."""
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)  # nbclient writes outputs back into the notebook by index
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1)
    finally:
        client.nb.cells.pop()
    data = [o for o in cell.outputs if o.get("output_type") == "execute_result"]
    return data[0]["data"]["text/plain"] if data else None


def images(cell) -> int:
    """How many pictures a cell shows (PNG outputs, static pictures of widgets included)."""
    return sum("image/png" in o.get("data", {}) for o in cell.outputs)


def tryits(path: Path) -> list[tuple[int, str, str]]:
    """The Try-it edits a lesson declares: (cell index, old text, new text).

    A code cell that a "Try it" prompt asks the student to edit carries the metadata
    ``{"workbench": {"tryit": [["old text", "new text"], ...]}}``.
    """
    nb = nbformat.read(path, as_version=4)
    return [
        (i, old, new)
        for i, cell in enumerate(nb.cells)
        for old, new in cell.metadata.get("workbench", {}).get("tryit", [])
    ]
