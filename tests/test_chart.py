"""The browser chart's kernel side: what it sends, how often, and its static picture.

`Page` below applies messages the way static/chart.js does (appends at a row index,
replaced columns, spec fields, a full state that replaces everything), so a test can check
that what the page ends up with is exactly the chart's state.
"""

import copy
import io
import math

import pytest

from workbench.views.chart import Chart
from workbench.views.picture import figure_of, grow_x


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Page:
    """What static/chart.js keeps: a copy of spec, data and status, updated by messages."""

    def __init__(self):
        self.state = None
        self.messages = []
        self.gaps = 0

    def send(self, msg):
        self.messages.append(copy.deepcopy(msg))
        spec, data = self.state["spec"], self.state["data"]
        for name, cols in msg.get("extend", {}).items():
            have = len(data.setdefault(name, {}).get("x") or [])
            if cols["at"] > have:
                self.gaps += 1
                continue
            for col, values in cols.items():
                if col != "at":
                    data[name][col] = (data[name].get(col) or [])[: cols["at"]] + values
        for name, cols in msg.get("set", {}).items():
            data.setdefault(name, {}).update(copy.deepcopy(cols))
        for kind in ("panels", "layers"):
            for name, fields in msg.get("spec", {}).get(kind, {}).items():
                spec[kind].setdefault(name, {}).update(fields)
        if "rows" in msg.get("spec", {}):
            spec["rows"] = msg["spec"]["rows"]
        if "status" in msg:
            self.state["status"] = {**self.state["status"], **msg["status"]}

    def __setattr__(self, name, value):
        if name == "state" and value is not None:
            value = copy.deepcopy(value)
            self.__dict__.setdefault("snapshots", 0)
            self.__dict__["snapshots"] += 1
        object.__setattr__(self, name, value)


def connected(chart):
    page = Page()
    page.state = chart.state()
    chart.connect(page)
    return page


def loss_chart(clock=None, **kw):
    chart = Chart(clock=clock or FakeClock(), **kw)
    chart.panel("loss", xlabel="epoch", ylabel="loss", log_toggle=True, x_limit=100)
    chart.line("val", "loss", label="validation")
    chart.points("best", "loss", label="best")
    chart.vline("stop", "loss", text="stop")
    return chart


def test_the_page_ends_with_exactly_the_charts_state():
    clock = FakeClock()
    chart = loss_chart(clock, snapshot_every=1e9, catch_up=None)
    page = connected(chart)
    for epoch in range(1, 41):
        clock.now += 0.013  # epochs faster than the 0.05 s interval: merged messages
        chart.extend("val", [epoch], [1 / epoch])
        chart.set("best", x=[epoch], y=[1 / epoch])
        chart.flush()
    chart.set("stop", x=40)
    chart.set_layer("stop", text="stop @ 40")
    chart.set_status("stopped early at epoch 40", progress=1.0, state="stopped", x=40)
    chart.flush(force=True)
    assert page.state == chart.state(), "what the page draws must be the chart's state"
    assert page.gaps == 0, "no message may skip rows"
    assert 8 <= len(page.messages) <= 13, (
        f"{len(page.messages)} messages for 40 epochs in 0.52 s: expected one per 0.05 s"
    )


def test_a_message_carries_only_the_new_rows():
    clock = FakeClock()
    chart = loss_chart(clock, snapshot_every=1e9, catch_up=None)
    page = connected(chart)
    for epoch in range(1, 101):
        clock.now += 0.1
        chart.extend("val", [epoch], [1 / epoch])
        chart.flush()
    sizes = [len(m["extend"]["val"]["x"]) for m in page.messages]
    assert sizes == [1] * 100, f"each message should hold one new epoch, got sizes {set(sizes)}"
    assert page.messages[-1]["extend"]["val"]["at"] == 99


def test_nothing_is_queued_or_sent_without_a_page():
    chart = loss_chart()
    chart.extend("val", [1], [0.5])
    assert chart.flush(force=True) is False, "without a page there is nothing to send"
    assert chart._diff == {}, "changes must not pile up when nobody will read them"
    assert chart.data["val"] == {"x": [1], "y": [0.5]}


def test_a_full_state_is_sent_now_and_then_for_a_view_opened_late():
    clock = FakeClock()
    chart = loss_chart(clock, snapshot_every=2.0, catch_up=None)
    page = connected(chart)
    page.snapshots = 0
    for epoch in range(1, 101):
        clock.now += 0.1
        chart.extend("val", [epoch], [1 / epoch])
        chart.flush()
    assert 4 <= page.snapshots <= 6, f"{page.snapshots} full states in 10 s, expected one per 2 s"


def test_a_long_loop_sends_few_full_states_by_default():
    clock = FakeClock()
    chart = loss_chart(clock)
    page = connected(chart)
    page.snapshots = 0
    for epoch in range(1, 601):
        clock.now += 0.1
        chart.extend("val", [epoch], [1 / epoch])
        chart.flush()
    # one soon after show (a page that loaded slowly), then one per 30 s: O(rows) each
    assert page.snapshots == 2, f"{page.snapshots} full states in 60 s"


def test_non_finite_values_become_gaps():
    chart = loss_chart()
    page = connected(chart)
    chart.extend("val", [1, 2, 3], [1.0, math.nan, math.inf])
    chart.flush(force=True)
    assert chart.data["val"]["y"] == [1.0, None, None], "NaN/inf must be sent as null (JSON)"
    assert page.state["data"]["val"]["y"] == [1.0, None, None]


def test_set_after_extend_in_one_message_keeps_all_rows():
    chart = loss_chart()
    page = connected(chart)
    chart.extend("val", [1, 2], [1.0, 0.8])
    chart.set("val", x=[1, 2, 3], y=[1.0, 0.8, 0.7])
    chart.extend("val", [4], [0.6])
    chart.flush(force=True)
    assert page.state["data"]["val"] == {"x": [1, 2, 3, 4], "y": [1.0, 0.8, 0.7, 0.6]}


def test_image_and_points_layers_for_a_decision_boundary():
    np = pytest.importorskip("numpy")
    chart = Chart()
    chart.panel("boundary", xlabel="x1", ylabel="x2", grow=False)
    chart.image("p", "boundary", cmap="RdBu", vmin=0, vmax=1)
    chart.points("train", "boundary")
    page = connected(chart)
    grid = np.linspace(0, 1, 12).reshape(3, 4)
    chart.set("p", z=grid, extent=(-1, 1, -1, 1))
    chart.set("train", x=[0.1, -0.5], y=[0.2, 0.4], c=[0, 1])
    chart.flush(force=True)
    assert page.state["data"]["p"]["z"] == grid.tolist(), "a numpy grid is sent as lists"
    fig = figure_of(chart.state(), width=400)
    ax = fig.axes[0]
    assert ax.images and ax.images[0].get_extent() == [-1, 1, -1, 1]
    assert len(ax.collections[0].get_offsets()) == 2, "both points are drawn"


def test_bad_names_say_what_exists():
    chart = loss_chart()
    with pytest.raises(ValueError, match="no panel 'acc'"):
        chart.line("x", "acc")
    with pytest.raises(ValueError, match="layers: \\['best', 'stop', 'val'\\]"):
        chart.extend("train", [1], [1.0])
    with pytest.raises(ValueError, match="exists already"):
        chart.panel("loss")


def test_the_x_axis_grows_with_room_ahead_up_to_the_planned_end():
    assert grow_x({"x_room": 0.25, "x_limit": 1000}, 15) == (0, 20), "15 epochs fill the panel"
    assert grow_x({"x_room": 0.25, "x_limit": 1000}, 400) == (0, 500)
    assert grow_x({"x_room": 0.25, "x_limit": 100}, 90) == (0, 100), "never past the plan"


@pytest.mark.parametrize("dpi", [56, 100, 150])
def test_every_text_of_the_picture_is_at_least_11_pixels(dpi):
    chart = loss_chart()
    chart.panel("acc", row=0, xlabel="epoch", ylabel="accuracy")
    chart.line("acc", "acc", label="validation")
    for epoch in range(1, 31):
        chart.extend("val", [epoch], [1 / epoch])
        chart.extend("acc", [epoch], [1 - 1 / epoch])
    chart.set("stop", x=30)
    chart.set_panel("loss", title="a rather long title " * 6)
    chart.set_status("stopped early at epoch 30: " + "a long reason " * 12, state="stopped")
    fig = chart.figure(width=760, dpi=dpi)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in drawn_texts(fig) if t.get_text()]
    assert len(texts) > 10, "the picture should have ticks, labels, a legend and a title"
    for t in texts:
        px = t.get_fontsize() * dpi / 72
        assert px >= 11, f"{t.get_text()[:30]!r} is {px:.1f} px tall at dpi {dpi}"
        box = t.get_window_extent(renderer)
        assert box.x0 >= -1 and box.x1 <= fig.bbox.width + 1, f"{t.get_text()[:30]!r} is clipped"
        assert box.y0 >= -1 and box.y1 <= fig.bbox.height + 1, f"{t.get_text()[:30]!r} is clipped"


def drawn_texts(fig) -> list:
    """Every text matplotlib draws: tick labels inside the limits, labels, titles, legends."""
    texts = list(fig.texts)
    for ax in fig.axes:
        for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            texts += [
                t.label1 for t in axis.get_major_ticks() if min(lim) <= t.get_loc() <= max(lim)
            ]
        texts += [ax.xaxis.label, ax.yaxis.label, ax.title, *ax.texts]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    return texts


def test_no_mark_is_drawn_across_a_legend():
    chart = loss_chart()
    for epoch in range(1, 21):
        chart.extend("val", [epoch], [1 / epoch])
    chart.set("best", x=[20], y=[0.05])
    chart.set("stop", x=20)
    fig = chart.figure(width=500)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.y0 >= ax.bbox.y1 - 1, "the legend sits above the plot, where no line goes"


def test_the_picture_is_a_small_png():
    from PIL import Image

    chart = loss_chart()
    chart.line("train", "loss", label="train", dash=True)
    for epoch in range(1, 101):
        chart.extend("val", [epoch], [1 / epoch + 0.01 * math.sin(epoch)])
        chart.extend("train", [epoch], [0.8 / epoch])
    png = chart.png(width=800)
    assert Image.open(io.BytesIO(png)).size[0] == 800
    # it is saved in the notebook (lessons stay under ~300 KB with several curves each)
    assert len(png) < 30_000, f"{len(png) // 1000} KB for one curve picture"


def test_the_drawing_module_ships_inside_the_package():
    import tomllib
    from pathlib import Path

    from workbench.views.widgets import STATIC

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "views/static/*" in data["package-data"]["workbench"], "chart.js must be in the wheel"
    esm = (STATIC / "chart.js").read_text()
    assert "export default" in esm and "requestAnimationFrame" in esm
    assert 'const FONT = "12px' in esm, "canvas text (ticks, mark labels) is 12 px"
    assert "http" not in esm.replace("http://www.w3.org", ""), "nothing may be fetched at run time"


def test_the_picture_is_drawn_once_when_the_cell_ends(monkeypatch):
    import types

    from IPython.core.events import EventManager, available_events

    from workbench.views import chart as chart_module
    from workbench.views import widgets

    shell = types.SimpleNamespace()
    shell.events = EventManager(shell, available_events)
    monkeypatch.setattr(chart_module, "_shell", lambda: shell)
    pictures = []
    monkeypatch.setattr(
        widgets, "display_chart", lambda w, text, png, handle: pictures.append(png) or handle
    )
    chart = loss_chart()
    connected(chart)
    chart._handle = "the cell's output"
    for run in range(3):  # three runs on one chart in one cell
        chart.extend("val", [run + 1], [1.0])
        chart.finish()
    assert pictures == [], "no picture while the cell still runs"
    shell.events.trigger("post_execute")
    shell.events.trigger("post_execute")
    assert len(pictures) == 1 and pictures[0].startswith(b"\x89PNG"), "one picture per cell"
    chart.finish(when="now")
    assert len(pictures) == 2, "when='now' draws at once"
