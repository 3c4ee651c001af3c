import math

import matplotlib
import pytest

from workbench import History
from workbench.live import LiveCurve
from workbench.stopping import Stop

matplotlib.use("Agg")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def record(h, epoch):
    h.append(
        epoch=epoch,
        train_loss=1 / epoch,
        val_loss=0.5 + (epoch - 10) ** 2 / 400,
        val_acc=0.9 - (epoch - 10) ** 2 / 4000,
    )


def run(live, epochs=30, seconds_per_epoch=0.1, stop_at=None, label=None):
    """Drive the callback protocol the way workbench.fit does."""
    h = History()
    live.on_fit_start(h, {"epochs": epochs, "monitor": "val_loss", "mode": "min", "label": label})
    for epoch in range(1, epochs + 1):
        if live.clock is not None and isinstance(live.clock, FakeClock):
            live.clock.now += seconds_per_epoch
        record(h, epoch)
        if epoch == stop_at:
            h.stop = Stop(epoch, "patience ran out", "Patience")
        live.on_epoch_end(h)
        if h.stop is not None:
            break
    live.on_fit_end(h)
    return h


def test_outside_ipython_it_draws_nothing_and_prints_a_summary(capsys):
    live = LiveCurve(progress=False)
    h = run(live, stop_at=15)
    assert live.draws_ == 0 and live.figure_ is None
    out = capsys.readouterr().out
    assert "stopped after epoch 15: patience ran out" in out
    assert len(h["epoch"]) == 15


def test_output_none_is_silent(capsys):
    live = LiveCurve(progress=False, output=None)
    run(live)
    assert live.draws_ == 0
    assert capsys.readouterr().out == ""


def test_throttle_limits_redraws_and_always_draws_the_end():
    images = []
    live = LiveCurve(progress=False, output=images.append, every=1.0, clock=FakeClock())
    run(live, epochs=30, seconds_per_epoch=0.1)
    # 3 simulated seconds with one draw a second at most, plus the final one
    assert 2 <= live.draws_ <= 4
    assert len(images) == live.draws_
    assert all(png.startswith(b"\x89PNG") for png in images)
    val = live.figure_.axes[0].get_lines()[1]
    assert list(val.get_xdata()) == list(range(1, 31))  # the final draw shows every epoch


def test_the_stop_epoch_is_always_drawn_with_its_reason():
    images = []
    live = LiveCurve(progress=False, output=images.append, every=100.0, clock=FakeClock())
    run(live, epochs=50, stop_at=17)
    assert live.draws_ == 1  # only the stop: the end adds nothing new
    loss_ax = live.figure_.axes[0]
    assert "stopped after epoch 17: patience ran out" in live.title_
    stop_lines = [ln for ln in loss_ax.get_lines() if list(ln.get_xdata()) == [17, 17]]
    assert stop_lines and stop_lines[0].get_visible()
    best = [ln for ln in loss_ax.get_lines() if ln.get_label() == "best"][0]
    assert list(best.get_xdata()) == [10]


def test_no_figure_work_on_throttled_epochs(monkeypatch):
    live = LiveCurve(progress=False, output=lambda png: None, every=100.0, clock=FakeClock())
    calls = []
    monkeypatch.setattr(live, "redraw", lambda: calls.append(1))
    h = History()
    live.on_fit_start(h, {"epochs": 10})
    for epoch in range(1, 11):
        record(h, epoch)
        live.on_epoch_end(h)
    assert calls == []


def test_accuracy_gets_a_second_axes():
    live = LiveCurve(progress=False, output=lambda png: None, clock=FakeClock())
    run(live, epochs=5)
    assert len(live.figure_.axes) == 2
    assert live.figure_.axes[1].get_ylabel() == "accuracy"


def test_a_shared_live_curve_overlays_labelled_runs():
    live = LiveCurve(progress=False, output=lambda png: None, clock=FakeClock())
    run(live, epochs=10, label="no BN")
    run(live, epochs=12, stop_at=8, label="BN")
    labels = [t.get_text() for t in live.figure_.axes[0].get_legend().get_texts()]
    assert labels == ["no BN", "BN (stop @ 8)"]
    colors = {ln.get_color() for ln in live.figure_.axes[0].get_lines() if ln.get_label() in labels}
    assert len(colors) == 2


def test_unnamed_runs_are_numbered():
    live = LiveCurve(progress=False, output=lambda png: None, clock=FakeClock())
    run(live, epochs=3)
    run(live, epochs=3)
    labels = [t.get_text() for t in live.figure_.axes[0].get_legend().get_texts()]
    assert labels == ["run 1", "run 2"]


def test_nan_losses_do_not_break_the_drawing():
    live = LiveCurve(progress=False, output=lambda png: None, clock=FakeClock())
    h = History()
    live.on_fit_start(h, {"epochs": 3})
    h.append(epoch=1, train_loss=1.0, val_loss=1.0)
    h.append(epoch=2, train_loss=math.nan, val_loss=math.inf)
    h.stop = Stop(2, "val_loss became inf", "NonFinite")
    live.on_epoch_end(h)
    live.on_fit_end(h)
    assert live.draws_ == 1


def test_progress_bar_shows_latest_metrics(capsys):
    live = LiveCurve(output=None)
    run(live, epochs=4)
    err = capsys.readouterr().err
    assert "4/4" in err and "val=" in err


@pytest.mark.slow
def test_fit_with_live_true_outside_jupyter():
    import torch

    import workbench as wb

    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=g)
    y = (X[:, 0] > 0).long()
    model = wb.models.MLP((4, 8, 2))
    live = LiveCurve(progress=False, output=lambda png: None)
    h = wb.fit(model, ((X, y), (X, y)), epochs=3, live=live, label="tiny")
    assert live.draws_ >= 1 and len(h["epoch"]) == 3
    h2 = wb.fit(model, ((X, y), (X, y)), epochs=2, live=True)
    assert len(h2["epoch"]) == 2


def test_runs_started_in_one_cell_share_one_image_a_later_cell_shows_a_new_one(monkeypatch):
    import types

    import IPython.display

    from workbench import live
    from workbench.history import History

    shown = []

    class Handle:
        def update(self, obj):
            shown.append("update")

    def display(obj, display_id=None):
        shown.append("new")
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    shell = types.SimpleNamespace(execution_count=5)
    monkeypatch.setattr(live.LiveCurve, "_make_sink", lambda self: live._NotebookImage(shell))
    curve = live.LiveCurve(progress=False)

    def run(label):
        h = History()
        curve.on_fit_start(h, {"epochs": 2, "label": label})
        for epoch in (1, 2):
            h.append(epoch=epoch, train_loss=1.0 / epoch, val_loss=1.2 / epoch)
            curve.on_epoch_end(h)
        curve.on_fit_end(h)

    run("a")
    run("b")
    assert shown.count("new") == 1 and "update" in shown
    shell.execution_count = 6
    run("c")
    assert shown.count("new") == 2


def test_a_blitted_redraw_shows_the_same_pixels_as_a_full_render():
    import io

    import numpy as np
    from PIL import Image

    from workbench.history import History

    images = []
    curve = LiveCurve(progress=False, output=images.append, every=0.0, clock=lambda: 0.0)
    h = History()
    curve.on_fit_start(h, {"epochs": 30, "monitor": "val_loss", "mode": "min"})
    for epoch in range(1, 21):
        h.append(epoch=epoch, train_loss=2 / epoch, val_loss=1 / epoch + 0.01 * epoch,
                 train_acc=1 - 1 / (epoch + 1), val_acc=0.8 - 0.5 / epoch)  # fmt: skip
        curve.on_epoch_end(h)
    assert curve.draws_ == 20
    blitted = np.asarray(Image.open(io.BytesIO(images[-1])))
    curve._background = None  # force the full render of the same state
    curve.redraw()
    full = np.asarray(Image.open(io.BytesIO(images[-1])))
    assert blitted.shape == full.shape
    assert (blitted != full).any(axis=-1).mean() < 0.001  # antialiasing aside, identical
    # the data stayed inside the limits, so only the first draw rendered everything
    assert curve.figure_.axes[0].get_xlim()[1] >= 30
