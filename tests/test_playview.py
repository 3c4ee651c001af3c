"""The playground's view and controls, driven headless as the page would drive them."""

import threading
import time

import pytest

import workbench as wb
from workbench.playground.picture import picture
from workbench.playground.view import PlaygroundView, bundle

SMALL = {"n": 200, "hidden": "4"}


class FakePage:
    """Stands in for the browser: records what the chart sends (a full copy, sent every
    couple of seconds instead of a diff, is recorded in the diff's shape)."""

    def __init__(self):
        self.messages, self._state = [], None

    def send(self, diff):
        self.messages.append(diff)

    @property
    def state(self):
        return self._state

    @state.setter
    def state(self, state):
        self._state = state
        self.messages.append({"set": state["data"], "status": state["status"]})

    def close(self):
        pass


@pytest.fixture
def view():
    pg = wb.playground(**SMALL)
    v = PlaygroundView(pg)
    page = FakePage()
    v.chart.connect(page)
    yield v, page
    pg.close()


def _wait(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the playground"
        time.sleep(0.01)


def test_controls_start_at_the_playground_settings(view):
    v, _ = view
    for key, widget in v.controls.widgets.items():
        value = tuple(widget.value) if key == "features" else widget.value
        assert value == v.pg.settings[key], f"the {key} control shows another value"


def test_values_off_the_slider_steps_are_shown_exactly_and_record_nothing():
    # a continuous slider would snap lr=0.0123 to its grid and record a change nobody made
    pg = wb.playground(lr=0.0123, noise=0.12, batch_size=7, weight_decay=2e-3, **SMALL)
    v = PlaygroundView(pg)
    for key in ("lr", "noise", "batch_size", "weight_decay"):
        assert v.controls.widgets[key].value == pg.settings[key], key
    assert pg.history.events == []
    pg.close()


def test_a_slider_changes_the_run_and_is_recorded(view):
    v, page = view
    v.controls.step.click()
    v.controls.widgets["lr"].value = 0.1
    v.controls.widgets["batch_norm"].value = True
    assert v.pg.history.events == ["epoch 1: lr 0.03 -> 0.1", "epoch 1: batch norm on"]
    assert "lr 0.03 -&gt; 0.1" in v.controls.events.value, "the events are shown under the controls"
    v.controls.step.click()
    assert v.pg.epoch == 2 and page.messages, "a step sends the new numbers to the page"
    sent = page.messages[-1]["set"]
    assert len(sent["boundary"]["z"]) == 32 and sent["stop"]["x"] is None
    assert "epoch 2" in page.messages[-1]["status"]["text"], "the status line counts epochs"


def test_a_refused_value_is_put_back_with_its_reason(view):
    v, _ = view
    v.controls.widgets["hidden"].value = "8, x"
    assert v.controls.widgets["hidden"].value == "4", "the refused text is replaced"
    assert "layer widths" in v.controls.message.value and v.pg.settings["hidden"] == "4"


def test_the_rule_menu_builds_sliders_from_rule_params(view):
    v, _ = view
    v.controls.rule.value = "Patience"
    assert set(v.controls.rule_sliders) == set(wb.stopping.Patience.params())
    v.controls.rule_sliders["patience"].value = 3
    assert v.pg.settings["stop"] == wb.stopping.Patience(3)
    v.controls.rule.value = "no rule"
    assert v.pg.settings["stop"] is None and v.controls.rule_sliders == {}


def test_play_pushes_while_the_caller_stays_free_and_pause_stops_it(view):
    v, page = view
    v.controls.play.click()
    assert any("playing" in m.get("status", {}).get("text", "") for m in page.messages), (
        "the page must hear at once that the run plays, not after the first epoch"
    )
    _wait(lambda: v.pg.epoch >= 5)
    assert v.pg.playing and threading.current_thread() is threading.main_thread()
    with v.pg._lock:  # the worker cannot apply the change until we let go
        v.controls.widgets["lr"].value = 0.1  # while playing: applies at the next epoch
        assert v.controls.widgets["lr"].value == 0.1, "a waiting change must stay on the slider"
    _wait(lambda: "lr 0.03 -&gt; 0.1" in v.controls.events.value)  # shown once applied
    _wait(lambda: v.pg.history["lr"][-1] == 0.1)
    assert v.pg.playing and v.pg.error is None
    v.controls.pause.click()
    assert not v.pg.playing and len(page.messages) >= 2
    assert any("lr 0.03 -> 0.1" in e for e in v.pg.history.events)


def test_reset_starts_the_curves_over(view):
    v, page = view
    v.controls.step.click()
    v.controls.step.click()
    v.controls.reset.click()
    assert v.pg.epoch == 0
    assert page.messages[-1]["set"]["train_loss"] == {"x": [], "y": []}, "the curves are cleared"


def test_the_stop_shows_its_mark_and_reason(view):
    v, page = view
    v.pg.set(opt="sgd", lr=5.0, weight_decay=0.5)  # diverges: NonFinite fires
    v.controls.play.click()
    _wait(lambda: not v.pg.playing)
    v.pg.pause()  # waits for the worker, which pushes its last state as it ends
    last = page.messages[-1]
    assert last["set"]["stop"]["x"] == v.pg.history.stop.epoch
    assert "NonFinite" not in last["status"]["text"] and "diverged" in last["status"]["text"]


def test_close_ends_the_thread_and_the_widgets():
    pg = wb.playground(**SMALL)
    v = PlaygroundView(pg)
    pg._view = v
    pg.play()
    _wait(lambda: pg.epoch >= 1)
    pg.close()
    assert not [t for t in threading.enumerate() if t.name == "workbench-playground"]
    assert v.widget.comm is None and v.controls.play.comm is None, "the widgets are closed"


def test_the_saved_output_holds_a_picture_and_no_widget_text():
    pg = wb.playground(**SMALL).step(3)
    v = PlaygroundView(pg)
    data = bundle(pg, v)
    assert data["image/png"] and data["text/plain"].startswith("Playground(")
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == v.widget.model_id
    assert "VBox" not in data["text/plain"], "the text form is the playground, not widget text"
    fig = picture(pg)
    assert len(fig.axes) >= 2 and "epoch 3" in fig.axes[0].get_title(loc="left")
    pg.close()


class FakeHandle:
    """Stands in for a display handle: keeps what the output was updated with."""

    def __init__(self):
        self.updates = []

    def update(self, data, raw=False):
        self.updates.append(data)


def test_the_kept_picture_follows_the_run_once_it_pauses(view):
    v, _ = view
    handle = FakeHandle()
    v.handles.append(handle)
    v.pg.step(3)  # paused: the picture is redrawn once the changes settle
    _wait(lambda: handle.updates)
    assert "epoch 3" in handle.updates[-1]["text/plain"] and handle.updates[-1]["image/png"]
