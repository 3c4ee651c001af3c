"""The live curve in real JupyterLab and Chromium: frames, agreement, and what a reload shows.

Runs a 100-epoch training cell (lesson 03's workload, with a late Patience stop so that the
last frame has a stop mark) and records every frame the page draws: when, which epoch the
status line names and which epoch the curve reaches. Then it reloads the page, and opens
the notebook as saved by a non-browser run (nbclient, as the committed lessons are), and
checks that each shows a picture, never a widget's text.
"""

import json
import os
import re
from pathlib import Path

import pytest
from conftest import CHROMIUM_ARGS, chromium_path, notebook, open_notebook, run_all

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
FAILURE_SHOT = Path(os.environ.get("TMPDIR", "/tmp")) / "workbench_browser_live_failure.png"
MIN_FPS = 6  # distinct frames a second of run at least (15 in a 2.5 s run)
# From the cell starting to the chart's first frame (its axes and a "starting" line). The
# issue's budget is 400 ms on a quiet 2-core machine: check it with
# `WB_FIRST_FRAME_BUDGET_MS=400 pytest tests/test_browser_live.py -s` (it prints the time).
# Inside `make test` two workers share two cores with the notebooks, so the suite guards at
# twice the budget; before the chart came up ahead of fit's set-up it took 1.3-1.6 s.
FIRST_FRAME_BUDGET_MS = float(os.environ.get("WB_FIRST_FRAME_BUDGET_MS", 800))

SETUP = (
    "import time\n\nimport torch\n\nimport workbench as wb\n\ntorch.set_num_threads(1)\n"
    'data = wb.data.load("digits", seed=0, train_size=250, label_noise=0.2)'
)
RUN = (
    "cell_started = time.time()\n"  # this kernel's first fit: it pays torch's first optimizer
    "model = wb.models.MLP((64, 128, 128, 10), seed=0)\n"
    "start = time.perf_counter()\n"
    "history = wb.fit(model, data, epochs=100, lr=2e-3, seed=0, stop=wb.stopping.Patience(60),\n"
    "                 live=True)\n"
    "seconds = time.perf_counter() - start"
)
REPORT = (
    'print("RUN", round(seconds, 3), len(history["epoch"]), history.stop.epoch,'
    " round(cell_started * 1000))"
)

RECORD = """() => {
    window.__frames = [];
    new MutationObserver((records) => {
        for (const r of records) {
            const el = r.target;
            if (!el.classList || !el.classList.contains('wb-chart')) continue;
            const text = el.querySelector('.wb-status-text').textContent;
            window.__frames.push({t: performance.now(), wall: Date.now(),
                frame: +el.dataset.frame, x: el.dataset.x, lastX: el.dataset.lastX, text,
                points: JSON.parse(el.dataset.points || '{}')});
        }
    }).observe(document.body, {subtree: true, attributes: true,
                               attributeFilter: ['data-frame']});
}"""


# every element of the chart that holds text: its text, font size and whether it is cut
TEXT_SIZES = """() => [...document.querySelectorAll('.wb-chart *')]
    .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
    .map(e => ({text: e.textContent.slice(0, 40), px: parseFloat(getComputedStyle(e).fontSize),
                cut: e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1}))"""


def _status_epoch(text: str):
    found = re.search(r"epoch (\d+)", text)
    if found is None and text.endswith("starting"):
        return 0  # before epoch 1: nothing on the curve yet either
    return int(found.group(1)) if found else None


def test_live_curve_draws_many_frames_that_agree_with_the_bar(lab):
    from playwright.sync_api import sync_playwright

    IMG.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1200})
        try:
            open_notebook(page, lab.write("live_frames.ipynb", [SETUP, RUN, REPORT]))
            page.evaluate(RECORD)
            errors = run_all(page)
            assert not errors, errors
            report = page.locator(".jp-OutputArea-output", has_text="RUN ").first.inner_text()
            _, seconds, epochs, stop_epoch, started_ms = report.split()
            seconds, epochs, stop_epoch = float(seconds), int(epochs), int(stop_epoch)
            frames = page.evaluate("window.__frames")
            chart = page.locator(".wb-chart").first
            marks = json.loads(chart.get_attribute("data-marks"))
            final_text = chart.locator(".wb-status-text").inner_text()
            chart.screenshot(path=str(IMG / "live_curve.png"))
            texts = page.evaluate(TEXT_SIZES)
            before = chart.get_attribute("data-frame")
            chart.locator(".wb-toggle input").first.click()  # log scale: the page redraws
            page.wait_for_function(
                "(n) => document.querySelector('.wb-chart').dataset.frame !== n", arg=before
            )

            # saved, then reloaded with the kernel alive: the widget comes back with its data
            page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_function(
                "() => !window.jupyterapp.shell.currentWidget.context.model.dirty"
            )
            page.reload()
            page.wait_for_selector(".wb-chart[data-frame]", timeout=60_000)
            reloaded = page.locator(".wb-chart").first
            page.wait_for_function(
                "(n) => document.querySelector('.wb-chart').dataset.lastX === String(n)",
                arg=epochs,
                timeout=30_000,
            )
            assert "stopped early" in reloaded.locator(".wb-status-text").inner_text()
        except Exception:
            page.screenshot(path=str(FAILURE_SHOT))  # what the person would have seen
            raise
        finally:
            browser.close()

    Path(os.environ.get("TMPDIR", "/tmp"), "workbench_live_frames.json").write_text(
        json.dumps(frames)
    )  # for a look when a number is off
    # the run as the student sees it: from the first epoch on the curve to the last one
    moving = [f for f in frames if f["lastX"]]
    end = next(f for f in moving if int(f["lastX"]) == epochs)
    span = (end["t"] - moving[0]["t"]) / 1000
    distinct = {f["lastX"] for f in moving}
    first_ms = frames[0]["wall"] - int(started_ms)  # kernel and page share this machine's clock
    print(
        f"{epochs} epochs drawn over {span:.2f} s in {len(distinct)} distinct frames "
        f"({len(frames)} in all); fit took {seconds:.2f} s; first frame {first_ms} ms "
        f"after the cell started ({frames[0]['text']!r})"
    )
    assert first_ms <= FIRST_FRAME_BUDGET_MS, (
        f"the chart's first frame came {first_ms} ms after the cell started (budget "
        f"{FIRST_FRAME_BUDGET_MS:.0f} ms): a student would look at an empty cell until then"
    )
    assert _status_epoch(frames[0]["text"]) in (0, 1), (
        f"the first frame should say the run is starting or show epoch 1: {frames[0]['text']!r}"
    )
    drawn = frames[-1]["points"]
    for layer in ("r0.train_loss", "r0.val_loss"):
        assert drawn.get(layer) == epochs, (
            f"the finished curve {layer} holds {drawn.get(layer)} points in the page; "
            f"the run recorded {epochs} epochs: some epochs never reached the chart"
        )
    assert len(distinct) >= MIN_FPS * span, (
        f"the curve moved only {len(distinct)} times in {span:.1f} s of run "
        f"(wanted at least {MIN_FPS} a second)"
    )
    # the bar's epoch and the curve's last epoch: equal in each frame, or equal again in 0.2 s
    for i, f in enumerate(frames):
        if _status_epoch(f["text"]) == int(f["lastX"] or 0):
            continue
        later = [g for g in frames[i:] if g["t"] - f["t"] <= 200]
        assert any(_status_epoch(g["text"]) == int(g["lastX"] or 0) for g in later), (
            f"the progress line said {f['text']!r} while the curve reached epoch {f['lastX']}"
        )
    assert final_text.startswith(f"stopped early at epoch {stop_epoch}"), final_text
    assert int(frames[-1]["lastX"]) == epochs, "the last frame must show the last epoch"
    assert len(texts) >= 5, f"the chart should show a status, legends and labels: {texts}"
    for t in texts:  # a projector at 100% zoom
        assert t["px"] >= 11, f"{t['text']!r} is {t['px']} px: too small for a projector"
        assert not t["cut"], f"{t['text']!r} is clipped"
    stops = [m for m in marks if m.get("text", "").startswith("stop @")]
    bests = [m for m in marks if m.get("label", "").startswith("best")]
    assert stops and stops[0]["x"] == stop_epoch, f"no stop mark at {stop_epoch}: {marks}"
    assert bests and len(bests[0]["x"]) == 1, f"no best mark: {marks}"


def test_a_notebook_saved_without_a_browser_opens_with_a_picture(lab):
    """Like a committed lesson: executed by nbclient, opened fresh, the output is a PNG."""
    import nbclient
    import nbformat
    from playwright.sync_api import sync_playwright

    nb = nbformat.from_dict(notebook([SETUP, RUN.replace("Patience(60)", "Patience(5)")]))
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    out = nb.cells[1].outputs
    bundle = next(o for o in out if "application/vnd.jupyter.widget-view+json" in o.get("data", {}))
    assert "image/png" in bundle["data"], "the live curve's output must hold a PNG too"
    assert "stopped early" in bundle["data"]["text/plain"], bundle["data"]["text/plain"]
    nbformat.write(nb, lab.work / "saved.ipynb")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        try:
            open_notebook(page, f"{lab.url}/lab/tree/saved.ipynb?reset")
            output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea")
            output.locator("img").first.wait_for(timeout=30_000)
            text = output.inner_text()
        except Exception:
            page.screenshot(path=str(FAILURE_SHOT))
            raise
        finally:
            browser.close()
    assert "Widget" not in text and "model not found" not in text, text


HEATMAP = """import numpy as np
from workbench.views.chart import Chart

chart = Chart(height=260)
chart.panel("boundary", xlabel="x1", ylabel="x2", grow=False)
chart.image("p", "boundary", cmap="RdBu", vmin=0, vmax=1)
chart.points("data", "boundary", label="training points")
chart.show()
xx = np.linspace(-1, 1, 30)
chart.set("p", z=1 / (1 + np.exp(-6 * (xx[None, :] + xx[:, None]))), extent=(-1, 1, -1, 1))
chart.set("data", x=[-0.5, 0.5], y=[-0.5, 0.5], c=[0, 1])
chart.flush(force=True)"""

PIXELS = """() => {
    const c = document.querySelector('.wb-chart canvas');
    const g = c.getContext('2d');
    const at = (fx, fy) => [...g.getImageData(c.width * fx, c.height * fy, 1, 1).data];
    return {low: at(0.25, 0.75), high: at(0.85, 0.15)};
}"""


def test_a_heat_map_with_points_is_drawn(lab):
    """The playground's decision boundary: an image layer with scatter points on top."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 800})
        try:
            open_notebook(page, lab.write("heatmap.ipynb", [HEATMAP]))
            errors = run_all(page)
            assert not errors, errors
            page.wait_for_function(
                "() => JSON.parse(document.querySelector('.wb-chart')?.dataset.marks || '[]')"
                ".length === 1"
            )
            pixels = page.evaluate(PIXELS)
        except Exception:
            page.screenshot(path=str(FAILURE_SHOT))
            raise
        finally:
            browser.close()
    low, high = pixels["low"], pixels["high"]
    # RdBu: low values red (r > b), high values blue (b > r)
    assert low[0] > low[2] + 50, f"the low corner should be red, got rgba {low}"
    assert high[2] > high[0] + 50, f"the high corner should be blue, got rgba {high}"
