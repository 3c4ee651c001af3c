"""The same views in Jupyter Notebook 7, which the README promises alongside JupyterLab 4.

Notebook 7 loads the same prebuilt extensions (anywidget, ipywidgets) in a different page.
A student runs a live fit that stops early and opens the explorer over it: the live curve
is drawn and ends with the stop in its status line, the explorer answers its patience
slider dragged with the mouse, and nothing shows widget text or an error.
"""

import re
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

FAILURE_SHOT = Path("/tmp/workbench_notebook7_failure.png")
CELLS = [
    "import torch\nimport workbench as wb\n\ntorch.set_num_threads(1)\n"
    'data = wb.data.load("digits", seed=0, train_size=250, label_noise=0.2)',
    "model = wb.models.MLP((64, 128, 128, 10), seed=0)\n"
    "history = wb.fit(model, data, epochs=100, lr=2e-3, seed=0, stop=wb.stopping.Patience(10),\n"
    "                 live=True)",
    "explorer = wb.explore(history)\nexplorer",
]
STOPS = re.compile(r"stops after epoch\s+(\d+)")


def test_live_curve_and_explorer_work_in_notebook_7(notebook7):
    from playwright.sync_api import sync_playwright

    notebook7.write("nb7.ipynb", CELLS)  # opened at Notebook 7's /notebooks/ URL below
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        try:
            open_notebook(page, f"{notebook7.url}/notebooks/nb7.ipynb")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            wait_idle(page, timeout=180_000)
            text = page.locator(".jp-Notebook").inner_text()
            found = WIDGET_ERROR.search(text)
            assert not found, f"Notebook 7 shows {found.group(0)!r} instead of the views"
            assert "Traceback" not in text, f"a cell failed in Notebook 7:\n{text[-1500:]}"
            drawn = drawn_canvases(page, ".wb-chart")
            assert drawn >= 1, "the live curve should be drawn on a canvas in Notebook 7"
            status = page.locator(".wb-chart .wb-status-text").first.inner_text()
            assert "stopped early at epoch 20" in status, (
                f"the live curve's status line should name the early stop; it reads {status!r}"
            )

            # the explorer answers its slider: patience 10 -> 7 moves the stop 20 -> 17
            explorer = page.locator(".jp-Cell").nth(2).locator(".jp-OutputArea")
            assert STOPS.search(explorer.inner_text()).group(1) == "20", explorer.inner_text()
            handle = page.locator(".widget-slider .noUi-handle").first
            track = page.locator(".widget-slider .noUi-target").first.bounding_box()
            lo, hi = (float(handle.get_attribute(f"aria-value{k}")) for k in ("min", "max"))
            box = handle.bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] / 2, y)
            page.mouse.down()
            page.mouse.move(track["x"] + track["width"] * (7 - lo) / (hi - lo), y, steps=5)
            page.mouse.up()
            page.wait_for_function(
                """() => /stops after epoch\\s+17/.test(
                    document.querySelectorAll('.jp-Cell')[2].innerText)""",
                timeout=15_000,
            )
            assert float(handle.get_attribute("aria-valuenow")) == 7, (
                "dragging the patience slider should move it from 10 to 7"
            )
        except Exception:
            page.screenshot(path=str(FAILURE_SHOT))
            raise
        finally:
            browser.close()
