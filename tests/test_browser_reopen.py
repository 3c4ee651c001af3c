"""The next day: a notebook run and saved in the browser, reopened by a new server.

A student runs a lesson (live curves, the stop-rule explorer, a playground, a slider over
pictures), saves, and the server stops overnight; the next day a new server opens the
notebook, with none of the first session's kernels or widget models left. JupyterLab
trusts a notebook the student ran, so it draws each widget output as a widget, from the
widget state saved in the notebook's metadata. `make lab` turns on ipywidgets' saveState
(workbench/views/static/lab-overrides.json); without it every one of these outputs reads "Error
displaying widget: model not found" after the restart (measured: 4 of 4 in the small
notebook below). Each test runs, saves, stops the server, starts a new one on the same
folder and compares, cell by cell, the pictures drawn before and after.
"""

import json
from pathlib import Path

import pytest
from conftest import (
    CHROMIUM_ARGS,
    WIDGET_ERROR,
    chromium_path,
    notebook,
    open_notebook,
    pictures_by_cell,
    serve,
    wait_idle,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "03_threshold_vs_patience.ipynb"
FAILURE_SHOT = Path("/tmp/workbench_reopen_failure.png")

# Every kind of widget output the lessons make, small: a live curve (lessons 00-08), the
# explorer (00-06, 09), a playground (09) and lesson 06's slider over pictures.
CELLS = [
    "import ipywidgets as W\nimport torch\n\nimport workbench as wb\n\n"
    'torch.set_num_threads(1)\ndata = wb.data.load("digits", seed=0, train_size=200)',
    "model = wb.models.MLP((64, 32, 10), seed=0)\n"
    "history = wb.fit(model, data, epochs=15, seed=0, live=True)",
    "wb.explore(history, wb.stopping.Patience(5))",
    'pg = wb.playground(problem="xor", n=100, hidden="4", seed=0)\npg.step(5)\npg',
    "fig, (ax,) = wb.plots.agg_figure()\nax.plot([1, 3, 2])\n"
    'slider = W.SelectionSlider(options=["a", "b"])\n'
    "image = W.Image(value=wb.plots.png_bytes(fig))\n"
    "wb.plots.with_picture(W.VBox([slider, image]), fig)",
]


def _settled(page) -> list:
    """The pictures per cell once every widget has loaded and two looks 0.5 s apart agree."""
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.jp-OutputArea-output')]"
        ".some(o => o.textContent.includes('Loading widget'))",
        timeout=60_000,
    )
    before = pictures_by_cell(page)
    for _ in range(20):
        page.wait_for_timeout(500)
        now = pictures_by_cell(page)
        if now == before:
            return now
        before = now
    return before


def _run_save_restart_reopen(tmp_path, name: str, source: str):
    """Run all of notebook `source` (JSON) in one server, save, stop it, reopen in a new one.

    Returns (sources, pictures before, pictures after, the reopened notebook's text).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = None
        try:
            with serve(tmp_path, "lab") as url:
                (tmp_path / "work" / name).write_text(source)
                page = browser.new_page(viewport={"width": 1100, "height": 1400})
                open_notebook(page, f"{url}/lab/tree/{name}?reset")
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                wait_idle(page, timeout=180_000)
                live = _settled(page)
                page.evaluate(
                    "async () => { await window.jupyterapp.shell.currentWidget.context.save(); }"
                )
                page.close()
            saved = json.loads((tmp_path / "work" / name).read_text())
            assert "widgets" in saved["metadata"], (
                "the saved notebook should carry the widgets' state (ipywidgets' saveState, "
                "set by make lab); without it a reopened notebook cannot draw them"
            )
            with serve(tmp_path, "lab") as url:  # the next day: a new server, new kernels
                page = browser.new_page(viewport={"width": 1100, "height": 1400})
                open_notebook(page, f"{url}/lab/tree/{name}?reset")
                reopened = _settled(page)
                text = page.locator(".jp-Notebook").inner_text()
        except Exception:
            if page is not None and not page.is_closed():
                page.screenshot(path=str(FAILURE_SHOT))
            raise
        finally:
            browser.close()
    sources = ["".join(c["source"]) or "(empty)" for c in saved["cells"]]
    return sources, live, reopened, text


def _check_pictures_came_back(sources, live, reopened, text, at_least: int) -> None:
    found = WIDGET_ERROR.search(text)
    assert not found, (
        f"a notebook reopened by a new server shows {found.group(0)!r} instead of its pictures"
    )
    assert len(live) == len(reopened), f"{len(live)} cells before, {len(reopened)} after"
    shown = [i for i, c in enumerate(live) if c["canvases"] or c["imgs"]]
    assert len(shown) >= at_least, (
        f"after Run All only {len(shown)} cells showed a picture (wanted {at_least}): {live}"
    )
    for i in shown:
        before, after = live[i], reopened[i]
        assert after["canvases"] >= before["canvases"] and after["imgs"] >= before["imgs"], (
            f"the output of cell {i + 1} ({sources[i].splitlines()[0][:60]!r}) drew "
            f"{before} before the restart and {after} after it"
        )


def test_every_kind_of_widget_output_comes_back_after_a_server_restart(tmp_path):
    sources, live, reopened, text = _run_save_restart_reopen(
        tmp_path, "kinds.ipynb", json.dumps(notebook(CELLS))
    )
    _check_pictures_came_back(sources, live, reopened, text, at_least=4)


def test_a_run_lesson_reopened_by_a_new_server_shows_its_charts(tmp_path):
    sources, live, reopened, text = _run_save_restart_reopen(
        tmp_path, "reopened.ipynb", LESSON.read_text()
    )
    _check_pictures_came_back(sources, live, reopened, text, at_least=2)
