"""Every lesson survives what a class does with it.

nbval (run by `make test` on notebooks/) checks one clean top-to-bottom run at one thread.
Here each lesson runs as a student uses it, at two threads (the default on a 2-core
laptop): top to bottom in under 60 s (as its title cell promises), then every code cell is
re-run on its own, from the last cell up to the first, in the same kernel, meeting whatever
state the cells below it left (a student scrolling up after Run All). Every re-run must
pass, show as many pictures as the first time (no duplicates) and leave no more matplotlib
figures open (no growing memory).

`test_tryits.py` applies each lesson's "Try it" edits.
"""

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from notebook_runner import NOTEBOOKS, OPEN_FIGURES, code_cells, images, kernel, probe, run_all

LESSON_BUDGET_S = 60
THREADS = None  # a student's kernel: torch's default (every core), fit chooses


def _rerun_each_cell(path) -> None:
    nb = nbformat.read(path, as_version=4)
    with kernel(nb, path, threads=THREADS) as client:
        seconds = run_all(client, nb)
        first = {i: images(c) for i, c in code_cells(nb)}
        figures = int(str(probe(client, OPEN_FIGURES)).strip("'"))
        for i, cell in reversed(code_cells(nb)):
            try:
                client.execute_cell(cell, i)
            except CellExecutionError as err:
                pytest.fail(
                    f"{path.name}: cell {i} fails when re-run on its own after Run All "
                    f"(a student scrolling up):\n{cell.source[:300]}\n{str(err)[-600:]}"
                )
            assert images(cell) == first[i], (
                f"{path.name}: cell {i} shows {images(cell)} pictures when re-run, "
                f"{first[i]} after Run All"
            )
        again = int(str(probe(client, OPEN_FIGURES)).strip("'"))
    assert again <= figures, f"{again - figures} more matplotlib figures open after the re-runs"
    assert seconds < LESSON_BUDGET_S, (
        f"{path.name} took {seconds:.0f} s with torch's default threads (its title promises under 60 s)"
    )


# One class per notebook: `--dist loadscope` then spreads notebooks over the workers.
for _path in NOTEBOOKS:
    _name = "TestRerun_" + _path.stem
    globals()[_name] = pytest.mark.slow(
        type(_name, (), {"test_rerun_each_cell": lambda self, p=_path: _rerun_each_cell(p)})
    )


def test_there_are_lessons():
    assert len(NOTEBOOKS) >= 9, f"expected the nine lessons in notebooks/, found {len(NOTEBOOKS)}"
