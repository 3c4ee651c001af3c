"""Each lesson's "Try it" edits run: the lesson passes, or an assert explains the change.

A code cell that a "Try it" prompt asks the student to edit carries the metadata
``{"workbench": {"tryit": [["old text", "new text"], ...]}}``. For each pair, the lesson runs
top to bottom with that one edit. Where the edit changes the outcome a claim describes, the
lesson must stop at an assert whose message says so in words, never at a bare
``AssertionError`` or another exception.
"""

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from notebook_runner import NOTEBOOKS, kernel, run_all, tryits


def _try(path, index: int, old: str, new: str) -> None:
    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[index]
    assert old in cell.source, (
        f"{path.name}: cell {index}'s Try-it metadata names {old!r}, which is not in its source"
    )
    cell.source = cell.source.replace(old, new, 1)
    with kernel(nb, path) as client:
        try:
            run_all(client, nb)
        except CellExecutionError as err:
            assert err.ename == "AssertionError" and err.evalue.strip(), (
                f"{path.name}: the Try-it {old!r} -> {new!r} ends in "
                f"{err.ename}: {err.evalue!r}; it should run, or stop at an assert whose "
                f"message explains the changed outcome"
            )


def _cases(path):
    return [pytest.param(i, old, new, id=f"cell{i}-{old[:20]}") for i, old, new in tryits(path)]


for _path in NOTEBOOKS:
    if not tryits(_path):
        continue
    _name = "TestTryit_" + _path.stem

    @pytest.mark.parametrize(("index", "old", "new"), _cases(_path))
    def _test(self, index, old, new, p=_path):
        _try(p, index, old, new)

    globals()[_name] = pytest.mark.slow(type(_name, (), {"test_tryit": _test}))


def test_every_lesson_declares_its_tryits():
    missing = [p.name for p in NOTEBOOKS if not tryits(p)]
    assert not missing, (
        f"lessons with no Try-it metadata (cell metadata workbench.tryit): {missing}"
    )
