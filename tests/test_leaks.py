"""Closed (or re-run) views let go of everything: threads, widgets, memory.

Each cycle makes a view, displays it as a notebook cell would, uses it and closes it (or
re-runs its cell). Afterwards ipywidgets' registry and the comm manager hold no more
widgets than before, the object is garbage (a weakref to it is dead after gc.collect()),
no worker thread runs, and the memory that Python allocated (tracemalloc, measured after a
warm-up) grew by under 5 MB over 300 cycles. Before these fixes a displayed playground
kept 63 widgets open after close, and with them itself: 0.4 MB a cycle.

"Displayed" runs inside a stand-in kernel: an IPython shell with a ``kernel`` that says
which cell runs (as JupyterLab does) and a display publisher that keeps each output by its
display id, so the tests can check that a closed view leaves its picture there.
"""

import base64
import gc
import threading
import tracemalloc
import uuid
import weakref

import comm
import pytest
import torch
from ipywidgets.widgets.widget import _instances
from test_explore import u_shaped

import workbench as wb
from workbench.views.chart import Chart

CYCLES = 300
MB = 5.0
TINY = {"n": 24, "hidden": "2"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class Outputs:
    """What the page would show: each output by display id, updates replacing it."""

    def __init__(self):
        self.shown = {}

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        display_id = (transient or {}).get("display_id")
        if display_id is not None and (update or display_id not in self.shown):
            self.shown[display_id] = data
        while len(self.shown) > 3:  # old outputs go, as a re-run cell clears its own
            self.shown.pop(next(iter(self.shown)))

    def clear_output(self, wait=False):
        pass


class Kernel:
    """Says which cell runs, and a new execute request for every run of it."""

    def __init__(self):
        self.parent = {}

    def run_cell(self, cell_id="cell-1"):
        self.parent = {"header": {"msg_id": uuid.uuid4().hex}, "metadata": {"cellId": cell_id}}

    def get_parent(self, channel="shell"):
        return self.parent


@pytest.fixture
def kernel(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    had_shell = InteractiveShell.initialized()
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    fake = Kernel()
    monkeypatch.setattr(shell, "kernel", fake, raising=False)
    monkeypatch.setattr(shell, "display_pub", Outputs())
    fake.outputs, fake.shell = shell.display_pub, shell
    yield fake
    if not had_shell:  # later tests expect plain Python
        InteractiveShell.clear_instance()


PNG = b"\x89PNG stand-in"


@pytest.fixture
def quick_pictures(monkeypatch):
    """Matplotlib's drawing stands in for a constant PNG: 300 cycles with real pictures
    take minutes, and the pictures are not what lives on (the tests of the output below
    draw real ones)."""
    import importlib

    from workbench.playground import picture as playpicture

    explore = importlib.import_module("workbench.explore.explorer")  # wb.explore is the function

    monkeypatch.setattr(playpicture, "png", lambda pg, **kw: PNG)
    monkeypatch.setattr(Chart, "png", lambda self, **kw: PNG)
    monkeypatch.setattr(explore, "png_bytes", lambda fig, **kw: PNG)


def open_widgets() -> tuple:
    return len(_instances), len(comm.get_comm_manager().comms)


def workers() -> list:
    return [t.name for t in threading.enumerate() if t.name.startswith("workbench")]


def check_cycles(cycle, cycles=CYCLES, warm_up=5, rerun=None):
    """Run `cycle` (returning the object it made) `cycles` times; assert nothing stays.

    `rerun` runs the cycles' cell once more, for cycles that a re-run closes."""
    for _ in range(warm_up):  # first calls fill caches (fonts, torch, traitlets) once
        cycle()
    if rerun is not None:
        rerun()
    gc.collect()
    widgets = open_widgets()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        refs = [weakref.ref(cycle()) for _ in range(cycles)]
        if rerun is not None:
            rerun()
        gc.collect()
        grown = (tracemalloc.get_traced_memory()[0] - start) / 1e6
    finally:
        tracemalloc.stop()
    alive = sum(ref() is not None for ref in refs)
    assert alive == 0, f"{alive} of {cycles} closed objects are still alive after gc.collect()"
    assert open_widgets() == widgets, (
        f"open widgets and comms went from {widgets} to {open_widgets()}: closing must close "
        "every widget it made"
    )
    assert workers() == [], f"worker threads still run after close: {workers()}"
    assert grown < MB, f"Python memory grew {grown:.1f} MB over {cycles} cycles (limit {MB})"


def last_output(kernel) -> dict:
    return list(kernel.outputs.shown.values())[-1]


def test_a_displayed_then_closed_playground_lets_go_of_everything(kernel, quick_pictures):
    def cycle():
        kernel.run_cell(uuid.uuid4().hex)  # a new cell each time: only close() frees it
        pg = wb.playground(**TINY)
        pg._ipython_display_()
        pg.step(2)
        pg.close()
        return pg

    check_cycles(cycle)


def test_a_closed_playground_leaves_its_picture_in_the_output(kernel):
    kernel.run_cell()
    pg = wb.playground(**TINY)
    pg._ipython_display_()
    assert WIDGET_MIME in last_output(kernel), "a displayed playground shows its live view"
    pg.step(3).close()
    out = last_output(kernel)
    assert WIDGET_MIME not in out, "a closed view's widget is hidden by the page: not referred to"
    assert out["image/png"] and "epoch 3" in out["text/plain"], "the output keeps the picture"


def test_rerunning_the_cell_of_a_playing_playground_stops_and_frees_it(kernel, quick_pictures):
    cell = "the playground's cell"

    def cycle():
        kernel.run_cell(cell)  # a re-run closes the one made last time
        pg = wb.playground(**TINY, max_epochs=3)
        pg._ipython_display_()
        pg.play()
        return pg

    def rerun():
        kernel.run_cell(cell)
        wb.playground(**TINY)

    check_cycles(cycle, cycles=60, rerun=rerun)
    survivor = cycle()
    kernel.run_cell("another cell")
    wb.playground(**TINY)
    assert not survivor.closed, "a playground made in another cell does not close this one"
    kernel.run_cell(cell)
    a, b = wb.playground(**TINY), wb.playground(**TINY)
    assert survivor.closed and not a.closed and not b.closed, (
        "a re-run closes what earlier runs of the cell made, not what this run makes"
    )
    assert workers() == [], "the re-run stopped the playing playground's thread"


def tiny_fit(live):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(16, 2, generator=g)
    data = wb.data.from_tensors((X, (X[:, 0] > 0).long()), (X[:8], (X[:8, 0] > 0).long()))
    return wb.fit(wb.models.MLP((2, 2, 2)), data, epochs=2, live=live, batch_size=8)


def test_fit_with_live_frees_its_curve_when_the_cell_reruns(kernel, quick_pictures):
    from workbench.views.widgets import ChartWidget

    cell = "the fit's cell"

    def cycle():
        kernel.run_cell(cell)  # the curve is fit's own: a re-run of its cell closes it
        before = set(_instances)  # charts other tests in this process left open are not ours
        tiny_fit(live=True)
        kernel.shell.events.trigger("post_execute")  # the cell ends: its picture is drawn
        assert last_output(kernel)["image/png"], "the finished curve's output has its picture"
        new = [w for key, w in _instances.items() if key not in before]
        (chart,) = [w.chart for w in new if isinstance(w, ChartWidget)]
        return chart

    def rerun():
        kernel.run_cell(cell)
        wb.LiveCurve()

    check_cycles(cycle, rerun=rerun)


def test_a_closed_live_curve_lets_go_and_keeps_its_picture(kernel):
    kernel.run_cell()
    live = wb.LiveCurve(progress=False)
    tiny_fit(live)
    live.close()
    out = last_output(kernel)
    assert WIDGET_MIME not in out and out["image/png"], "a closed curve leaves its picture"


def test_a_closed_live_curve_lets_go_of_everything(kernel, quick_pictures):
    def cycle():
        kernel.run_cell(uuid.uuid4().hex)
        live = wb.LiveCurve(progress=False)
        tiny_fit(live)
        live.close()
        return live

    check_cycles(cycle)


def test_a_closed_explorer_lets_go_of_everything(kernel, quick_pictures):
    history = u_shaped(n=12)

    def cycle():
        kernel.run_cell(uuid.uuid4().hex)
        explorer = wb.explore(history)
        explorer._repr_mimebundle_()  # what displaying it does
        explorer.close()
        return explorer

    # an explorer draws its curves with matplotlib when made (0.3 s on a busy machine):
    # 30 cycles; a leak shows exactly in the widget count and the weakrefs
    check_cycles(cycle, cycles=30)


def test_picking_another_rule_closes_the_last_rules_sliders():
    explorer = wb.explore(u_shaped(n=12))
    old = list(explorer.sliders.values())
    explorer.dropdown.value = "Threshold"
    assert all(s.comm is None for s in old), "the replaced rule's sliders are closed"
    explorer.close()


def test_rerunning_the_explorers_cell_closes_it(kernel):
    kernel.run_cell("explore")
    first = wb.explore(u_shaped(n=12))
    kernel.run_cell("explore")
    wb.explore(u_shaped(n=12))
    assert first.widget.comm is None and first.sliders["patience"].comm is None, (
        "re-running the cell closes the explorer it made before"
    )


def test_a_closed_chart_lets_go_of_everything(kernel, quick_pictures):
    def cycle():
        kernel.run_cell(uuid.uuid4().hex)
        chart = Chart()
        chart.panel("loss")
        chart.line("val", "loss")
        chart.show()
        chart.extend("val", [1, 2], [0.5, 0.4])
        chart.flush(force=True)
        chart.close()
        return chart

    check_cycles(cycle)
    out = last_output(kernel)
    assert WIDGET_MIME not in out and out["image/png"] == base64.b64encode(PNG).decode(), (
        "a closed chart leaves its picture in its output, in place of the widget"
    )
