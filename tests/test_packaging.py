"""The conda environment, pyproject.toml, the Makefile, the README and CI agree."""

import json
import os
import re
import signal
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge's name -> PyPI's name


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    name = CONDA_NAMES.get(name.lower(), name.lower()).replace("_", "-")
    return name, spec.replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(map(_split, project["dependencies"]))
    wanted |= dict(map(_split, project["optional-dependencies"]["test"]))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    got = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            got |= dict(_split(d) for d in dep["pip"] if not d.startswith("-e"))
        elif not dep.startswith(("python", "pip")):
            got |= dict(
                [_split(dep.replace("=", "==", 1) if re.search(r"[^<>=!]=[^=]", dep) else dep)]
            )
    assert got == wanted


def test_ci_runs_the_readme_test_command_and_nothing_else():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert [c for c in commands if c] == ["make lab", "make test"]
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == ["make test"]


def test_cpu_torch_pin_is_a_setup_detail_not_a_dependency():
    # GPU users must be able to install a CUDA build: the package only asks for a range.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert "==" not in torch_req
    assert "TORCH  ?= torch==2.13.0" in (ROOT / "Makefile").read_text()


@pytest.mark.slow
def test_make_lab_serves_the_lessons(tmp_path):
    # The README's first command, as a person runs it: JupyterLab comes up on 127.0.0.1 with
    # the lessons in its file browser (root needs --allow-root, which the Makefile adds).
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), BROWSER="true")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        url = None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", line)
            url = found and found.groups()
        assert url, "make lab did not start JupyterLab on 127.0.0.1"
        base, token = url
        names = _get_json(f"{base}/api/contents?token={token}", deadline)["content"]
        names = {item["name"] for item in names}
        assert "00_welcome.ipynb" in names and "03_threshold_vs_patience.ipynb" in names
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _get_json(url: str, deadline: float):
    # the server prints its URL a moment before it accepts connections
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.load(response)
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
