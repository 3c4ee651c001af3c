"""The next day: a lesson run and saved in the browser, reopened after its kernel is gone.

A student runs lesson 03 (a live curve and the stop-rule explorer), saves, shuts the
kernel down (or the server restarts overnight), and opens the notebook again. JupyterLab
trusts a notebook the student ran, so it tries to draw each widget output as a widget; the
widgets' models died with the kernel, and without saved widget state every one reads
"Error displaying widget: model not found". `make lab` turns on ipywidgets' saveState
(workbench/static/lab-overrides.json), so the saved notebook carries each widget's last
state and the page draws the charts again from it, with no kernel behind them.
"""

import json
from pathlib import Path

import pytest
from conftest import (
    CHROMIUM_ARGS,
    WIDGET_ERROR,
    chromium_path,
    drawn_canvases,
    open_notebook,
    wait_idle,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "03_threshold_vs_patience.ipynb"
FAILURE_SHOT = Path("/tmp/workbench_reopen_failure.png")


def test_a_run_lesson_reopened_without_its_kernel_shows_its_charts(lab):
    from playwright.sync_api import sync_playwright

    name = "reopened.ipynb"
    (lab.work / name).write_text(LESSON.read_text())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        try:
            open_notebook(page, f"{lab.url}/lab/tree/{name}?reset")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            wait_idle(page, timeout=180_000)
            live = drawn_canvases(page)
            assert live >= 2, f"after Run All the lesson should draw its charts; {live} drawn"
            page.evaluate(
                """async () => {
                    const panel = window.jupyterapp.shell.currentWidget;
                    await panel.context.save();
                    await panel.context.sessionContext.shutdown();
                }"""
            )
            saved = json.loads((lab.work / name).read_text())
            assert "widgets" in saved["metadata"], (
                "the saved notebook should carry the widgets' state (ipywidgets' saveState, "
                "set by make lab); without it a reopened notebook cannot draw them"
            )
            page.close()

            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            open_notebook(page, f"{lab.url}/lab/tree/{name}?reset")  # a new kernel starts
            page.wait_for_timeout(4000)
            text = page.locator(".jp-Notebook").inner_text()
            found = WIDGET_ERROR.search(text)
            assert not found, (
                f"a lesson reopened after its kernel is gone shows {found.group(0)!r} "
                "instead of its charts"
            )
            drawn = drawn_canvases(page)
            assert drawn >= live, (
                f"the reopened lesson draws {drawn} charts; before it was closed it drew {live}"
            )
        except Exception:
            page.screenshot(path=str(FAILURE_SHOT))
            raise
        finally:
            browser.close()
