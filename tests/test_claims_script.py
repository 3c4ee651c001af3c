"""benchmarks/claims.py: the lines it rewrites before running a lesson over seeds."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("claims", ROOT / "benchmarks" / "claims.py")
claims = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(claims)


def _nb(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_seed_and_settings_replace_only_their_setup_lines():
    nb = _nb("import torch", "SEED = 0\nSEEDS = 3  # draws\nN_VAL = 500  # labels\nN_VALID = 1")
    nb = claims.with_settings(claims.with_seed(nb, 7), {"N_VAL": "25", "SEEDS": "5"})
    assert nb.cells[1].source == "SEED = 7\nSEEDS = 5\nN_VAL = 25\nN_VALID = 1", nb.cells[1].source
    assert nb.cells[0].source == "import torch", "other cells are left alone"


def test_a_missing_line_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="SEED = 0"):
        claims.with_seed(_nb("SEED = 1"), 3)
    with pytest.raises(ValueError, match="N_VAL"):
        claims.with_settings(_nb("SEED = 0"), {"N_VAL": "25"})


@pytest.mark.parametrize("lesson", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")),
                         ids=lambda p: p.stem)  # fmt: skip
def test_every_lesson_can_be_run_over_seeds(lesson):
    nb = nbformat.read(lesson, as_version=4)
    claims.with_seed(nb, 1)  # raises if the lesson has no SEED = 0 line
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "measured = " in code or "measured[" in code, (
        f"{lesson.name} defines no `measured` dict, so make claims cannot record its numbers"
    )
