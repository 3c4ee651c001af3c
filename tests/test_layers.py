"""The wings' order (docs/design.md) is checked by import-linter in `make lint`; these tests
show that the check passes on the package and fails when a wing imports one above it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(ROOT / "workbench", tmp_path / "workbench",
                    ignore=shutil.ignore_patterns("__pycache__", "assets", "static"))  # fmt: skip
    return tmp_path


def test_the_package_keeps_its_layers(tree):
    result = lint(tree)
    assert result.returncode == 0, f"a wing imports one above it:\n{result.stdout}"
    assert "0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "module, line, message",
    [
        ("stopping/rule.py", "import workbench.views", "workbench.stopping is not allowed to import workbench.views"),
        ("history.py", "from workbench.train import fit", "workbench.history is not allowed to import workbench.train"),
        ("data/models.py", "from workbench.checkpoint import save", "workbench.data is not allowed to import workbench.checkpoint"),
        ("train/fit.py", "from workbench.views import live", "workbench.train is not allowed to import workbench.views"),
        ("explore/replay.py", "import workbench.playground.run", "workbench.explore is not allowed to import workbench.playground"),
        ("search/trials.py", "from workbench.explore import summary", "workbench.search is not allowed to import workbench.explore"),
    ],
)  # fmt: skip
def test_an_import_up_a_floor_breaks_the_contract(tree, module, line, message):
    path = tree / "workbench" / module
    path.write_text(path.read_text() + f"\n{line}  # a lower wing reaching up\n")
    result = lint(tree)
    assert result.returncode != 0, f"import-linter let {module} do `{line}`:\n{result.stdout}"
    assert message in result.stdout, f"expected {message!r} in:\n{result.stdout}"
