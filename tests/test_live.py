import math

import pytest
from test_chart import FakeClock, Page

from workbench import History
from workbench.stopping import Patience, Stop
from workbench.views.live import LiveCurve

REASON = "val_loss did not improve by more than 0 for 5 epochs; best 0.5 at epoch 10"


def record(h, epoch):
    h.append(
        epoch=epoch,
        train_loss=1 / epoch,
        val_loss=0.5 + (epoch - 10) ** 2 / 400,
        val_acc=0.9 - (epoch - 10) ** 2 / 4000,
    )


def run(live, epochs=30, seconds_per_epoch=0.1, stop_at=None, label=None, history=None, rule=None,
        reason=REASON):  # fmt: skip
    """Drive the callback protocol the way workbench.train.fit does."""
    h = history if history is not None else History()
    info = {"epochs": epochs, "monitor": "val_loss", "mode": "min", "label": label, "stop": rule}
    live.on_fit_start(h, info)
    for epoch in range(len(h.get("epoch") or []) + 1, epochs + 1):
        if isinstance(live.clock, FakeClock):
            live.clock.now += seconds_per_epoch
        record(h, epoch)
        if epoch == stop_at:
            h.stop = Stop(epoch, reason, "Patience")
        live.on_epoch_end(h)
        if h.stop is not None:
            break
    live.on_fit_end(h)
    return h


def page_of(live) -> Page:
    """A fake page fed with everything the curve sends (as static/chart.js would be)."""
    page = Page()

    def receive(msg):
        if "state" in msg:
            page.state = msg["state"]
        else:
            page.send(msg)

    live.output = receive
    return page


def test_outside_jupyter_it_draws_nothing_and_prints_a_summary(capsys):
    live = LiveCurve(progress=False)
    h = run(live, stop_at=15)
    assert live.draws_ == 0 and live.chart_.widget is None, "nothing sent where nobody sees it"
    out = capsys.readouterr().out
    assert f"stopped early at epoch 15: {REASON}" in out
    assert len(h["epoch"]) == 15


def test_a_terminal_progress_bar_ends_full_after_an_early_stop(capsys):
    run(LiveCurve(output="auto"), epochs=40, stop_at=12)
    err = capsys.readouterr().err
    assert "12/12" in err, f"an early stop is the end of the run, not 30% of it: {err[-200:]}"


def test_output_none_is_silent(capsys):
    live = LiveCurve(progress=False, output=None)
    run(live)
    assert live.draws_ == 0
    assert capsys.readouterr().out == ""


def test_updates_are_throttled_and_the_page_ends_with_every_epoch():
    live = LiveCurve(every=0.25, clock=FakeClock())
    page = page_of(live)
    run(live, epochs=30, seconds_per_epoch=0.1)
    # 3 simulated seconds, one update every 0.25 s at most, plus the first and the last
    assert 8 <= live.draws_ <= 15, f"{live.draws_} updates in 3 s with every=0.25"
    assert page.state["data"]["r0.val_loss"]["x"] == list(range(1, 31)), "every epoch arrives"
    assert page.state == live.chart_.state(), "the page shows exactly what the kernel holds"


def test_slow_epochs_are_each_sent():
    live = LiveCurve(every=0.05, clock=FakeClock())
    page_of(live)
    run(live, epochs=20, seconds_per_epoch=0.3)
    assert live.draws_ >= 20, f"{live.draws_} updates for 20 slow epochs: each should be sent"


def test_an_early_stop_ends_neutral_with_its_reason_and_marks():
    live = LiveCurve(every=100.0, clock=FakeClock())
    page = page_of(live)
    run(live, epochs=50, stop_at=17)
    status = page.state["status"]
    assert status["text"] == f"stopped early at epoch 17: {REASON}"
    assert status["state"] == "stopped", "an early stop is a success, not an error"
    assert status["progress"] == 1.0, "the bar ends full, not at 17/50"
    data = page.state["data"]
    assert data["r0.stop"]["x"] == 17, "the stop mark is at the stop epoch"
    assert data["r0.best"]["x"] == [10], "the best mark is at the best epoch"
    assert status["text"].count("0.5") <= 1, "the best value is said once"


def test_a_resumed_run_counts_from_the_resumed_epoch():
    live = LiveCurve(every=0.0, clock=FakeClock())
    page = page_of(live)
    h = History()
    for epoch in range(1, 9):
        record(h, epoch)
    statuses = []
    live.output = (lambda inner: lambda m: (statuses.append(m.get("status")), inner(m)))(
        live.output
    )
    run(live, epochs=30, history=h)
    first = next(s for s in statuses if s)
    assert first["text"].startswith("epoch 8/30"), f"the bar should start at 8/30: {first}"
    assert first["progress"] == pytest.approx(8 / 30)
    assert page.state["data"]["r0.val_loss"]["x"][:3] == [1, 2, 3], "the earlier epochs show"


def test_an_interrupted_run_says_so():
    live = LiveCurve(clock=FakeClock())
    page = page_of(live)
    run(live, epochs=50, stop_at=7, reason="interrupted at epoch 7")
    assert page.state["status"]["state"] == "interrupted"
    assert page.state["status"]["text"] == "interrupted at epoch 7"


def test_a_diverged_run_is_an_error_not_a_success():
    live = LiveCurve(clock=FakeClock())
    page = page_of(live)
    h = History()
    live.on_fit_start(h, {"epochs": 3})
    h.append(epoch=1, train_loss=1.0, val_loss=1.0)
    h.append(epoch=2, train_loss=math.nan, val_loss=math.inf)
    h.stop = Stop(2, "val_loss became inf: lower the learning rate", "NonFinite")
    live.on_epoch_end(h)
    live.on_fit_end(h)
    assert page.state["status"]["state"] == "error"
    assert page.state["data"]["r0.val_loss"]["y"] == [1.0, None], "inf is a gap, not a crash"


def test_a_run_that_runs_all_epochs_is_done():
    live = LiveCurve(clock=FakeClock())
    page = page_of(live)
    run(live, epochs=12)
    assert page.state["status"]["state"] == "done"
    assert page.state["status"]["text"].startswith("ran all 12 epochs")


def test_accuracy_gets_a_second_panel_beside_the_loss():
    live = LiveCurve(clock=FakeClock())
    page = page_of(live)
    run(live, epochs=5)
    assert page.state["spec"]["rows"][0] == ["loss", "acc"]
    assert page.state["data"]["r0.val_acc"]["x"] == [1, 2, 3, 4, 5]


def test_the_stop_rules_trace_is_shown_under_the_curve():
    live = LiveCurve(clock=FakeClock())
    page = page_of(live)
    rule = Patience(5)
    h = run(live, epochs=40, rule=rule, stop_at=15)
    assert page.state["spec"]["rows"][-1] == ["trace"], "the trace is a row of its own, below"
    assert page.state["data"]["r0.trace.wait"]["y"] == rule.trace(h)["wait"]
    assert page.state["data"]["r0.trace.wait.limit"]["x"] == 5, "the patience line is drawn"


def test_no_trace_panel_when_asked_not_to():
    live = LiveCurve(clock=FakeClock(), trace=False)
    page = page_of(live)
    run(live, epochs=10, rule=Patience(5))
    assert "trace" not in page.state["spec"]["panels"]


def test_a_shared_live_curve_overlays_labelled_runs():
    live = LiveCurve(clock=FakeClock())
    page = page_of(live)
    run(live, epochs=10, label="no BN")
    run(live, epochs=12, stop_at=8, label="BN")
    layers = page.state["spec"]["layers"]
    labels = [v["label"] for k, v in layers.items() if v["panel"] == "loss" and v.get("label")]
    assert labels == ["no BN", "BN (stop @ 8)"]
    assert layers["r0.val_loss"]["color"] != layers["r1.val_loss"]["color"]
    assert page.state["status"]["text"].startswith("BN: stopped early at epoch 8")


def test_unnamed_runs_are_numbered():
    live = LiveCurve(clock=FakeClock())
    page = page_of(live)
    run(live, epochs=3)
    run(live, epochs=3)
    layers = page.state["spec"]["layers"]
    assert [layers[f"r{i}.val_loss"]["label"] for i in (0, 1)] == ["run 1", "run 2"]


def test_the_final_picture_shows_the_stop():
    live = LiveCurve(clock=FakeClock(), dpi=56)
    page_of(live)
    run(live, epochs=40, stop_at=20)
    fig = live.figure_
    texts = [t.get_text() for t in fig.texts]
    assert any(t.startswith("stopped early at epoch 20") for t in texts), texts
    loss_ax = fig.axes[0]
    assert [a.get_text() for a in loss_ax.texts] == ["stop @ 20"]


def test_runs_started_in_one_cell_share_one_output_a_later_cell_shows_it_again(monkeypatch):
    import types

    from workbench.views import chart, live

    shown = []
    shell = types.SimpleNamespace(execution_count=5)
    monkeypatch.setattr(live, "_kernel_shell", lambda: shell)
    monkeypatch.setattr(chart.Chart, "show", lambda self: shown.append(shell.execution_count))
    curve = LiveCurve(progress=False)
    run(curve, epochs=2, label="a")
    run(curve, epochs=2, label="b")
    assert shown == [5], "two runs in one cell: one chart"
    shell.execution_count = 6
    run(curve, epochs=2, label="c")
    assert shown == [5, 6], "a run in a later cell shows the chart there too"


@pytest.mark.slow
def test_fit_with_live_outside_jupyter(capsys):
    import torch

    import workbench as wb

    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=g)
    y = (X[:, 0] > 0).long()
    model = wb.models.MLP((4, 8, 2))
    live = LiveCurve(progress=False)
    page = page_of(live)
    h = wb.fit(model, ((X, y), (X, y)), epochs=3, live=live, label="tiny")
    assert live.draws_ >= 1 and len(h["epoch"]) == 3
    assert page.state["data"]["r0.val_loss"]["x"] == [1, 2, 3]
    h2 = wb.fit(model, ((X, y), (X, y)), epochs=2, live=True)
    assert len(h2["epoch"]) == 2
    assert "ran all 2 epochs" in capsys.readouterr().out


def test_fit_shows_a_starting_chart_before_it_builds_its_optimizer(monkeypatch):
    """The chart is on screen (axes, "starting") before the set-up a kernel pays once (1-2 s)."""
    import importlib

    import torch

    import workbench as wb

    fit_module = importlib.import_module(
        "workbench.train.fit"
    )  # the module, not wb.fit the function
    seen = []
    live = LiveCurve(progress=False)
    page = page_of(live)
    real = fit_module.make_optimizer

    def make_optimizer(*args, **kwargs):
        seen.append(dict((page.state or {}).get("status") or {}))  # None: nothing sent yet
        return real(*args, **kwargs)

    monkeypatch.setattr(fit_module, "make_optimizer", make_optimizer)
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 3, generator=gen), torch.randn(40, 1, generator=gen)
    h = wb.fit(torch.nn.Linear(3, 1), ((X[:30], y[:30]), (X[30:], y[30:])), epochs=4, live=live)
    assert seen and seen[0].get("text") == "starting", (
        f"the page should say 'starting' before the optimizer is built; it had {seen}"
    )
    assert page.state["spec"]["panels"]["loss"]["x_limit"] == 4, "the axes know the planned epochs"
    assert len(h["epoch"]) == 4 and live.title_.startswith("ran all 4 epochs"), live.title_
