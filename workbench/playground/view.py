"""The playground in a notebook: a browser-drawn view with its controls, and its picture.

The view is a `workbench.views.chart.Chart` (drawn by the page; the kernel sends only numbers):
the decision boundary as a heat map with the training points (white edge) and validation
points (dark edge), the losses with the stop rule's mark, and the rule's trace under them.
The status line counts the epochs. Buttons and sliders (`workbench.playground.controls`) call
``pg.set`` and friends; while the run plays, its worker thread pushes the new numbers at
most every `interval` seconds. A long run's curves are thinned for drawing (`Thinned`: at
most about `MAX_POINTS` points a line, the newest always among them), so what a push costs
and sends stays flat however long the class plays; the history keeps every value. The
view reads the run's live history under the playground's lock and takes no lock that an
epoch holds when the student changes a setting while it plays. The same output holds a PNG of the last paused state, which
a notebook opened fresh, GitHub and nbval show instead of the widget.
"""

from __future__ import annotations

import base64
import threading
import uuid

from workbench.data.problems import LIMIT
from workbench.playground.picture import CLASS_COLORS, PALE_COLORS

RESOLUTION = 32  # boundary grid cells per side sent to the page (the page smooths them)
MAX_POINTS = 1000  # points per drawn line at most (a 250 px panel shows fewer)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def bundle(pg, view=None) -> dict:
    """The MIME bundle for `pg`: the view's widget (if any), a PNG of its state, its repr."""
    from workbench.playground.picture import png

    data = {"image/png": base64.b64encode(png(pg)).decode("ascii"), "text/plain": repr(pg)}
    if view is not None:
        data[WIDGET_MIME] = {
            "version_major": 2,
            "version_minor": 0,
            "model_id": view.widget.model_id,
        }
    return data


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where widgets can be shown."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


class PlaygroundView:
    """The live view of one playground (made by displaying it; one per playground).

    Attributes: `chart` (the `Chart`), `controls` (`playcontrols.Controls`), `widget` (the
    box shown), `pushes_` (updates sent to the page), `handles` (display handles to refresh
    with a new PNG when the run pauses).
    """

    def __init__(self, pg, *, interval: float = 0.05):
        import ipywidgets as W

        from workbench.playground.controls import Controls
        from workbench.views.chart import Chart
        from workbench.views.widgets import ChartWidget

        self.pg, self.pushes_, self.handles = pg, 0, []
        self._split, self._timer, self._run, self._source = None, None, None, None
        c = self.chart = Chart(height=250, interval=interval)
        c.panel("map", xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT), grow=False,
                title="P(blue) over the plane: train points bright, validation points pale")  # fmt: skip
        c.panel("loss", row=0, xlabel="epoch", ylabel="loss", y_zero=True, log_toggle=True)
        c.panel("trace", height=0.45, xlabel="epoch", ylabel="rule trace")
        c.image("boundary", "map", cmap="RdBu", vmin=0, vmax=1, alpha=0.85)
        c.points("train", "map", label="train", size=4, edge="#ffffff", color="#555555")
        c.points("val", "map", label="validation", size=3.5, edge="#222222", color="#cccccc")
        c.line("train_loss", "loss", label="train", dash=True, color="#1f77b4")
        c.line("val_loss", "loss", label="validation", color="#ff7f0e")
        c.vline("stop", "loss", label="stop", color="#000000")
        c.line("trace", "trace", label="trace", color="#7f7f7f")
        c.vline("stop_trace", "trace", color="#000000")
        self.lines = {name: Thinned(c, name) for name in ("train_loss", "val_loss", "trace")}
        self._push(force=False)  # the state the page starts from
        c.connect(ChartWidget(chart_id=uuid.uuid4().hex, state=c.state()))
        self.controls = Controls(pg, self)
        self.widget = W.VBox([self.controls.buttons, c.widget, self.controls.box])
        pg.listen(self._on_change)

    # --- from the playground -------------------------------------------------------------
    def _on_change(self, pg, what: str) -> None:
        """Called after epochs (on the worker thread while playing) and changes."""
        if what == "play":  # say so at once; the numbers follow after the first epoch
            self.chart.set_status(self.status(), state="running", x=pg.epoch)
            self.chart.flush(force=True)
            return
        if what in ("epoch", "applied"):  # on the worker thread: push numbers, not widgets
            if what == "applied" or self.chart.due():
                self._push(force=what == "applied")
            if len(pg.run.history.events) != self.controls.events_shown:  # took effect
                self.controls.show_events()
            return
        if what == "change" and pg.playing:  # the worker shows it once applied: no waiting
            self.controls.sync()  # for its epoch here, the slider must answer at once
            return
        self._push()
        self.controls.sync()
        if not pg.playing:
            self._schedule_picture()

    def _push(self, force: bool = True) -> None:
        """Queue what changed since the last push, and send it (throttled unless `force`)."""
        pg, c = self.pg, self.chart
        with pg._lock:
            run = pg.run
            h, n = run.history, run.epoch
            for key in ("train_loss", "val_loss"):
                self.lines[key].update(h["epoch"], h[key], new=run is not self._run)
            if run.split is not self._split:  # new points: noise, fraction, problem, reset
                self._split = split = run.split
                for name, X, y in (
                    ("train", split.X_train, split.y_train),
                    ("val", split.X_val, split.y_val),
                ):
                    colors = CLASS_COLORS if name == "train" else PALE_COLORS
                    c.set(name, x=X[:, 0], y=X[:, 1], c=[colors[int(k)] for k in y])
            grid = run.boundary(RESOLUTION)[::-1]  # the page wants the bottom row first
            c.set("boundary", z=grid, extent=(-LIMIT, LIMIT, -LIMIT, LIMIT))
            stop = h.stop
            c.set("stop", x=None if stop is None else stop.epoch)
            c.set("stop_trace", x=None if stop is None else stop.epoch)
            trace = run.trace()
            name, values = next(iter(trace.items())) if trace else ("rule trace", [])
            source = (run.segment, run.settings["stop"], name)  # another: a new trace line
            new = run is not self._run or source != self._source
            self.lines["trace"].update(h["epoch"][run.segment :][: len(values)], values, new=new)
            self._run, self._source = run, source
            c.set_panel("trace", ylabel=name)
            c.set_status(self.status(), state=_look(pg), x=n)
        if c.widget is not None:
            c.flush(force=force)
            self.pushes_ += 1

    def status(self) -> str:
        """The line over the view: epoch counter, latest numbers, and why it stopped."""
        pg, h = self.pg, self.pg.run.history
        n = len(h["epoch"])
        text = f"epoch {n}"
        if n:
            text += f" · train loss {h['train_loss'][-1]:.3g} · val loss {h['val_loss'][-1]:.3g}"
            text += f" · val acc {h['val_acc'][-1]:.2f}"
        text += f" · {_state(pg)}"
        if h.stop is not None:
            text += f" · stopped after epoch {h.stop.epoch}: {h.stop.reason}"
        if pg.error is not None:
            text += f" · error: {pg.error}"
        return text

    # --- the picture kept in the notebook --------------------------------------------------
    def show(self) -> None:
        """Display the view in the running cell, with the picture beside it."""
        from IPython.display import display

        self.handles.append(display(bundle(self.pg, self), raw=True, display_id=True))

    def _schedule_picture(self, delay: float = 0.4) -> None:
        # slider drags while paused come many a second: draw the picture once they settle
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(delay, self.refresh_picture)
        self._timer.daemon = True
        self._timer.start()

    def refresh_picture(self, view=True) -> None:
        """Put a PNG of the state now into every output that shows this view (with the
        live view unless `view` is False)."""
        if not self.handles:
            return
        data = bundle(self.pg, self if view else None)
        for handle in self.handles:
            handle.update(data, raw=True)

    def close(self) -> None:
        """Leave the last picture in every output, then close every widget (the playground
        pauses first): a closed widget's view is hidden, and a kept one keeps this alive."""
        from workbench.views.widgets import close_all

        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            timer.join()  # a picture being drawn now must not land after the last one
        self.refresh_picture(view=False)
        self.handles = []
        close_all(self.widget)  # the buttons, the chart's widget and the settings are in it
        self.chart.widget = None


class Thinned:
    """One line of the chart drawn from a growing series with at most about `MAX_POINTS`
    points: every `stride`-th value and the newest one (the tip, replaced at each push).

    When the kept points pass `MAX_POINTS` the stride doubles and the line is sent again:
    about log2(epochs / MAX_POINTS) times in a run; between, a push sends the new points.
    """

    def __init__(self, chart, name: str, most: int = MAX_POINTS):
        self.chart, self.name, self.most = chart, name, most
        self.stride, self.kept, self.n = 1, 0, 0

    def update(self, x, y, *, new: bool = False) -> None:
        """Draw the series `x`, `y` (all its values so far); `new`: not the one drawn before."""
        n = len(x)
        resend = new or n < self.n
        if n == self.n == 0 and not resend:
            return
        if resend:
            self.stride, self.kept = 1, 0
        while (n + self.stride - 1) // self.stride > self.most:
            self.stride *= 2
            resend = True
        step = self.stride
        rows = range(0 if resend else self.kept * step, n, step)
        rows = [*rows, n - 1] if n and (n - 1) % step else list(rows)  # the newest, off stride
        xs, ys = [x[i] for i in rows], [y[i] for i in rows]
        if resend:
            self.chart.set(self.name, x=xs, y=ys)
        else:
            self.chart.extend(self.name, xs, ys, at=self.kept)
        self.kept, self.n = (n + step - 1) // step, n


def _look(pg) -> str:
    """The status line's colour (the chart's states): red for a divergence or an error,
    green for a rule's stop, plain while playing or paused."""
    stop = pg.run.history.stop
    if pg.error is not None or (stop is not None and stop.rule == "NonFinite"):
        return "error"
    return "stopped" if stop is not None else "running"


def _state(pg) -> str:
    return "playing" if pg.playing else "stopped" if pg.run.history.stop else "paused"


__all__ = ["PlaygroundView", "bundle", "in_kernel"]
