"""Shared fixtures: one torch thread per worker, and a private JupyterLab for browser tests."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # The suite runs on two workers of a two-core machine; one thread each avoids
    # oversubscription (and makes CPU float results reproducible run to run).
    torch.set_num_threads(1)


def chromium_path() -> str:
    """Chromium's path, or skip the test with how to install it."""
    path = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
    if path is None:
        pytest.skip(
            "Chromium not found: install it with `apt-get install -y chromium` (as root) "
            "or `make browser-deps`"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook(cells) -> dict:
    """A notebook (nbformat 4 dict) with one code cell per source string."""
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",  # nbformat 4.5 requires ids (a warning now, an error later)
                "metadata": {},
                "outputs": [],
                "source": c,
            }
            for i, c in enumerate(cells)
        ],  # fmt: skip
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@dataclass
class Lab:
    """A running private JupyterLab: its base `url` and the folder it serves (`work`)."""

    url: str
    work: Path

    def write(self, name: str, cells) -> str:
        """Write a notebook of `cells` into the served folder; returns its lab URL."""
        (self.work / name).write_text(json.dumps(notebook(cells)))
        return f"{self.url}/lab/tree/{name}?reset"


@contextlib.contextmanager
def serve(tmp, app: str):
    """Run a private Jupyter server (`app`: "lab" or "notebook") on 127.0.0.1 with its own
    config, data, runtime and settings folders under `tmp`, a free port and no token;
    yields its base URL and stops it at the end."""
    chromium_path()
    pytest.importorskip("playwright.sync_api")
    (tmp / "work").mkdir(exist_ok=True)  # kept when a test restarts the server on `tmp`
    settings = tmp / "settings"
    settings.mkdir(exist_ok=True)
    # The settings `make lab` installs (widget state saved in the notebook), plus no news.
    overrides = json.loads(
        (ROOT / "workbench" / "views" / "static" / "lab-overrides.json").read_text()
    )
    overrides["@jupyterlab/apputils-extension:notification"] = {"fetchNews": "false"}
    (settings / "overrides.json").write_text(json.dumps(overrides))
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        # the kernel is this interpreter (the venv's), whatever is on the system PATH
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        OMP_NUM_THREADS="1",
    )
    port = free_port()
    App = {"lab": "LabApp", "notebook": "JupyterNotebookApp"}[app]
    cmd = [
        sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={tmp / 'work'}", "--IdentityProvider.token=",
        "--ServerApp.password=", f"--{App}.expose_app_in_browser=True",
        f"--{App}.app_settings_dir={settings}", f"--{App}.workspaces_dir={tmp / 'ws'}",
        "--KernelSpecManager.ensure_native_kernel=True",
    ]  # fmt: skip
    if app == "lab":  # options Notebook 7 lacks (an unknown one voids all of its --App. options)
        cmd += [
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    log = open(tmp / "server.log", "w")  # noqa: SIM115 -- closed in the teardown
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"Jupyter {app} did not start:\n" + (tmp / "server.log").read_text()
                    )
                time.sleep(0.3)
        specs = json.load(urllib.request.urlopen(f"{url}/api/kernelspecs", timeout=5))
        argv = specs["kernelspecs"][specs["default"]]["spec"]["argv"]
        assert argv[0] in ("python", sys.executable), argv  # "python" resolves via PATH above
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A private JupyterLab server; yields a `Lab`, stops it at the end."""
    tmp = tmp_path_factory.mktemp("lab")
    with serve(tmp, "lab") as url:
        yield Lab(url, tmp / "work")


@pytest.fixture(scope="session")
def notebook7(tmp_path_factory):
    """A private Jupyter Notebook 7 server; yields a `Lab` (notebooks open at /notebooks/)."""
    pytest.importorskip("notebook", minversion="7")
    tmp = tmp_path_factory.mktemp("nb7")
    with serve(tmp, "notebook") as url:
        yield Lab(url, tmp / "work")


def open_notebook(page, url: str) -> None:
    """Open a notebook in JupyterLab (or Notebook 7) and wait until its kernel is ready."""
    page.goto(url)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.evaluate(
        """async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            await panel.context.sessionContext.ready;
        }"""
    )


def wait_idle(page, timeout: int = 120_000) -> None:
    """Wait until the notebook's kernel is idle and no cell shows [*] (queued or running)."""
    page.wait_for_function(
        """() => {
            const ctx = window.jupyterapp.shell.currentWidget.context.sessionContext;
            return ctx.session && ctx.session.kernel && ctx.session.kernel.status === 'idle'
                && ![...document.querySelectorAll('.jp-InputArea-prompt')]
                      .some(p => p.textContent.includes('[*]'));
        }""",
        timeout=timeout,
    )


WIDGET_ERROR = re.compile(r"Error displaying widget|model not found|(VBox|HBox)\(children=")


# true for a canvas holding drawn pixels (a canvas never drawn is blank)
_DRAWN = """(c) => {
    if (!c.width || !c.height) return false;
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) return true;
    return false;
}"""


def drawn_canvases(page, within: str = ".jp-OutputArea-output") -> int:
    """How many canvases under `within` hold drawn pixels."""
    return page.evaluate(
        f"(within) => [...document.querySelectorAll(within + ' canvas')].filter({_DRAWN}).length",
        within,
    )


def pictures_by_cell(page) -> list:
    """For each notebook cell, its outputs' drawn canvases and loaded images."""
    return page.evaluate(
        f"""() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell => ({{
            canvases: [...cell.querySelectorAll('.jp-OutputArea-output canvas')]
                .filter({_DRAWN}).length,
            imgs: [...cell.querySelectorAll('.jp-OutputArea-output img')]
                .filter(i => i.complete && i.naturalWidth > 0).length,
        }}))"""
    )


def run_all(page, timeout_ms: int = 150_000) -> list:
    """Run every cell; wait until all have run (or one wrote to stderr); return the errors."""
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => document.querySelector('.jp-OutputArea-output[data-mime-type='
                + '"application/vnd.jupyter.stderr"]') ||
            [...document.querySelectorAll('.jp-InputArea-prompt')]
                .every(p => /\\[\\d+\\]/.test(p.textContent))""",
        timeout=timeout_ms,
    )
    errors = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()
    return [e for e in errors if "Error" in e or "Traceback" in e]
