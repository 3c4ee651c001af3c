"""Every lesson survives what a teacher does: running it twice in the same kernel.

nbval (run by `make test` on notebooks/) checks one clean top-to-bottom run. Here each
notebook runs top to bottom (in under 60 s, as its title cell promises) and then again in
the *same* kernel, and the second run must raise nothing, show as many figures per cell as
the first (no duplicates), and leave no more matplotlib figures open (no growing memory).
"""

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSON_BUDGET_S = 60
# 0 when pyplot was never imported (a lesson that draws only with Agg figures or widgets)
OPEN_FIGURES = (
    "import sys\n"
    "len(sys.modules['matplotlib.pyplot'].get_fignums()) if 'matplotlib.pyplot' in sys.modules else 0"
)


def _kinds(cell) -> list[str]:
    return [o.get("output_type") + ":" + ",".join(sorted(o.get("data", {}))) for o in cell.outputs]


def _run_twice(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    probe = nbformat.v4.new_code_cell(OPEN_FIGURES)
    with client.setup_kernel():
        code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        runs, seconds = [], []
        for _ in range(2):
            start = time.perf_counter()
            for i, cell in code:
                client.execute_cell(cell, i)
            seconds.append(time.perf_counter() - start)
            runs.append(({i: _kinds(c) for i, c in code}, _probe(client, probe)))
    (first, figs1), (second, figs2) = runs
    for i, _ in code:
        images = [k for k in first[i] if "image/png" in k]
        again = [k for k in second[i] if "image/png" in k]
        assert len(again) == len(images), (
            f"cell {i} shows {len(again)} figures on a re-run, {len(images)} at first"
        )
    assert figs2 <= figs1, f"{figs2 - figs1} more matplotlib figures open after the re-run"
    # the promise in every title cell: a lesson runs top to bottom in under a minute
    assert seconds[0] < LESSON_BUDGET_S, f"{path.name} took {seconds[0]:.0f} s (budget 60 s)"


def _probe(client, cell):
    cell.outputs = []
    client.nb.cells.append(cell)  # nbclient writes outputs back into the notebook by index
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1)
    finally:
        client.nb.cells.pop()
    data = [o for o in cell.outputs if o.get("output_type") == "execute_result"]
    return int(data[0]["data"]["text/plain"].strip("'")) if data else 0


# One class per notebook: `--dist loadscope` then spreads notebooks over the workers.
for _path in NOTEBOOKS:
    _name = "TestRerun_" + _path.stem
    globals()[_name] = pytest.mark.slow(
        type(_name, (), {"test_runs_twice_in_one_kernel": lambda self, p=_path: _run_twice(p)})
    )


def test_there_are_lessons():
    assert len(NOTEBOOKS) >= 1 or os.environ.get("WORKBENCH_NO_LESSONS")
