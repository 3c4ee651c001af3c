"""A live learning curve: a `fit` callback that sends each epoch's numbers to a browser chart.

The kernel does no drawing while a run goes on: each epoch appends a few floats to a
`workbench.views.chart.Chart`, which sends them to the page at most every `every` seconds (merged
when epochs come faster) and the page redraws at display rate. The status line above the
curves (the epoch, a bar, and at the end how the run ended) is drawn in the same frame, so
the bar and the curve always agree. When the run ends, the same output also gets a PNG of
the final curve (matplotlib), which a notebook opened fresh shows. Outside Jupyter nothing
is drawn: a progress bar runs in the terminal and fit prints a one-line summary.
"""

from __future__ import annotations

import math
import time

from workbench.views.cells import made_here
from workbench.views.chart import Chart
from workbench.views.plots import best_of, epochs_of, mode_of

_THRESHOLDS = {"wait": "patience", "GL": "alpha", "PQ": "alpha", "ups": "strips",
               "relative_change": "tol"}  # fmt: skip


class LiveCurve:
    """Draw train/validation loss (and accuracy, when recorded) live while `fit` runs.

    Pass it to `fit`: ``fit(model, data, epochs=50, live=True)`` makes one for you. The curve
    marks the best epoch with a dot and the stop epoch with a dotted line; the line above
    says the epoch, and at the end how the run ended ("stopped early at epoch 47: ...").

    To compare runs on one figure, make one LiveCurve and pass it to each `fit` with a label::

        live = wb.LiveCurve()
        h1 = wb.fit(model1, data, epochs=50, live=live, label="no BN")
        h2 = wb.fit(model2, data, epochs=50, live=live, label="BN")

    Each run gets its own colour (validation solid, training dashed). A run started in a
    later cell shows the figure again there, with every run so far.

    Parameters
    ----------
    label : str, optional
        Name of the next run when `fit` is given none.
    every : float
        Least seconds between two updates sent to the page (epochs in between are merged).
    progress : bool
        Show the progress bar (in the chart in Jupyter, tqdm in a terminal).
    trace : bool or "auto"
        Show the stop rule's trace (Patience's wait counter, GL, ...) under the curve;
        "auto" shows it when the run has a stop rule.
    logy : bool
        Start with a log-scale loss axis (a checkbox switches it in the page).
    figsize : (float, float)
        Width and height in inches of the loss panel at 100 pixels an inch.
    dpi : int
        Resolution of the final PNG; its texts stay at least 12 pixels tall at any dpi.
    output : "auto", callable or None
        "auto": the chart in Jupyter, a summary line elsewhere. A callable gets every
        message the page would get (dicts; a full state as ``{"state": ...}``), for tests.
        None draws nothing.
    clock : callable
        Seconds, for throttling (tests pass a fake clock).

    Attributes
    ----------
    chart_ : workbench.views.chart.Chart
        The chart (its ``data`` holds every value sent).
    figure_ : matplotlib Figure or None
        The picture of the runs so far (``live.figure_.savefig("curve.png")``); in
        Jupyter the same picture joins the output when the cell ends.
    draws_ : int
        Updates sent to the page.
    title_ : str
        The status line: the epoch, or how the run ended.
    """

    def __init__(self, label: str | None = None, *, every: float = 0.05, progress: bool = True,
                 trace="auto", logy: bool = False, figsize=(8.0, 2.8), dpi: int = 100,
                 output="auto", clock=time.perf_counter):  # fmt: skip
        self.label = label
        self.every = every
        self.progress = progress
        self.trace = trace
        self.logy = logy
        self.figsize = figsize
        self.dpi = dpi
        self.output = output
        self.clock = clock
        self.chart_ = None
        self._runs = []
        self._shown_in = None
        self._bar = None
        made_here(self)  # re-running the cell that made it closes it

    @property
    def figure_(self):
        """The final picture (matplotlib), drawn from the chart's state when asked for."""
        if self.chart_ is None or not self._runs:
            return None
        return self.chart_.figure(width=int(self.figsize[0] * 100), dpi=self.dpi)

    @property
    def draws_(self) -> int:
        return self.chart_.messages_ if self.chart_ is not None else 0

    @property
    def title_(self) -> str:
        return self.chart_.status.get("text", "") if self.chart_ is not None else ""

    # --- the callback protocol of workbench.train.fit -------------------------------------------
    def on_fit_prepare(self, info: dict | None = None) -> None:
        """Put the chart on screen with a "starting" line before fit builds its optimizer.

        A kernel's first optimizer costs a second or two (torch imports its compiler), and a
        short run would show an empty cell for half its length; the axes come first instead.
        """
        info = info or {}
        if self.chart_ is None:
            self.chart_ = self._new_chart()
        planned = max(
            [info.get("epochs") or 0] + [r["info"].get("epochs") or 0 for r in self._runs]
        )
        for name in self.chart_.spec["panels"]:
            self.chart_.set_panel(name, x_limit=planned or None)
        label = info.get("label") or self.label
        name = f"{label}: " if label and self._runs else ""
        self.chart_.set_status(f"{name}starting", progress=0.0 if self.progress else None)
        self._show()
        self.chart_.flush(force=True)

    def on_fit_start(self, history, info: dict | None = None) -> None:
        """Start a new run (a new colour) on the shared chart, with the epochs it already has."""
        info = info or {}
        label = info.get("label") or self.label
        if label is None and self._runs:
            label = f"run {len(self._runs) + 1}"
        if self.chart_ is None:
            self.chart_ = self._new_chart()
        run = {"history": history, "label": label, "info": info, "sent": 0, "epochs": [],
               "best": None, "id": f"r{len(self._runs)}"}  # fmt: skip
        self._runs.append(run)
        if len(self._runs) == 2:
            self._restyle_first_run()
        self._add_run_layers(run)
        planned = max((r["info"].get("epochs") or 0) for r in self._runs) or None
        for name in self.chart_.spec["panels"]:
            self.chart_.set_panel(name, x_limit=planned)
        self._show()
        self._send_new_rows(run, force=True)
        if self.progress and self._shown_in is None and self.output == "auto":
            from tqdm.auto import tqdm

            done = len(epochs_of(history))
            self._bar = tqdm(total=info.get("epochs"), initial=done, desc=label or "epoch")

    def on_epoch_end(self, history) -> None:
        """Queue the epoch's values; the chart sends them when its throttle allows."""
        if not self._runs or self._runs[-1]["history"] is not history:
            self.on_fit_start(history, {})
        run = self._runs[-1]
        if self._bar is not None:
            self._bar.set_postfix(_latest(history), refresh=False)
            self._bar.update(1)
        self._send_new_rows(run, force=getattr(history, "stop", None) is not None)

    def on_fit_end(self, history) -> None:
        """Send the final state (best and stop marked), add the PNG, end the progress bar."""
        if not self._runs or self._runs[-1]["history"] is not history:
            return
        run = self._runs[-1]
        self._send_new_rows(run, force=True, final=True)
        if self._shown_in is not None:
            self.chart_.finish(width=int(self.figsize[0] * 100), dpi=self.dpi)
        elif callable(self.output):
            self.chart_.snapshot()
        if self._bar is not None:
            stop = getattr(history, "stop", None)
            if stop is not None:
                self._bar.total = self._bar.n  # an early stop is the end, not 47% of it
            self._bar.close()
            self._bar = None
        if self._shown_in is None and self.output == "auto":
            print(self.title_ or "no epochs recorded")

    def close(self) -> None:
        """Let go of the page: the output keeps the curve's last picture, the chart's widget
        closes and a progress bar ends. A later `fit` with this curve shows it afresh."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.chart_ is not None:
            self.chart_.close()
        self._shown_in = None

    # --- the chart --------------------------------------------------------------------------
    def _new_chart(self) -> Chart:
        chart = Chart(height=int(self.figsize[1] * 100 * 0.75), interval=self.every,
                      clock=self.clock)  # fmt: skip
        chart.panel("loss", xlabel="epoch", ylabel="loss", log_toggle=True, logy=self.logy,
                    y_zero=not self.logy)  # fmt: skip
        return chart

    def _show(self) -> None:
        """Connect the chart to its output: a callable, or the running notebook cell."""
        chart = self.chart_
        if callable(self.output):
            if chart.widget is None:
                self.output({"state": chart.state()})
                chart.connect(_Callback(self.output))
            return
        if self.output != "auto":
            return
        shell = _kernel_shell()
        if shell is None:
            return  # plain python or a terminal IPython: the text line will do
        if self._shown_in != shell.execution_count:  # a later cell shows the chart afresh
            chart.show()
            self._shown_in = shell.execution_count

    def _ensure_panel(self, name: str, ylabel: str, height: float, row=None) -> None:
        if name not in self.chart_.spec["panels"]:
            planned = self.chart_.spec["panels"]["loss"].get("x_limit")
            self.chart_.panel(name, xlabel="epoch", ylabel=ylabel, height=height, row=row,
                              x_limit=planned)  # fmt: skip

    def _add_run_layers(self, run) -> None:
        chart, rid, many = self.chart_, run["id"], len(self._runs) > 1
        color = _color(len(self._runs) - 1) if many else None
        name = run["label"] or ""
        chart.line(f"{rid}.train_loss", "loss", label=None if many else "train", dash=True,
                   color=color or _color(0))  # fmt: skip
        chart.line(f"{rid}.val_loss", "loss", label=name if many else "validation",
                   color=color or _color(1))  # fmt: skip
        chart.points(f"{rid}.best", "loss", label=None if many else "best",
                     color=color or _color(1), size=5)  # fmt: skip
        chart.vline(f"{rid}.stop", "loss", color=color or "#333")

    def _restyle_first_run(self) -> None:
        """A second run on the figure: the first one gets a name and one colour."""
        first = self._runs[0]
        first["label"] = first["label"] or "run 1"
        for key in ("train_loss", "val_loss", "best", "stop", "train_acc", "val_acc"):
            if f"r0.{key}" in self.chart_.spec["layers"]:
                label = first["label"] if key == "val_loss" else None
                self.chart_.set_layer(f"r0.{key}", color=_color(0), label=label)

    def _send_new_rows(self, run, *, force: bool = False, final: bool = False) -> None:
        chart, history, rid = self.chart_, run["history"], run["id"]
        epochs = run["epochs"]  # kept, extended with the new rows: no O(n) work per epoch
        if history.get("epoch"):
            epochs += [int(e) for e in history["epoch"][len(epochs) :]]
        else:
            epochs[:] = epochs_of(history)
        new = slice(run["sent"], len(epochs))
        if new.start < new.stop:
            xs = epochs[new]
            if history.get("val_acc"):
                self._ensure_acc(run)
            for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
                if f"{rid}.{key}" in chart.spec["layers"] and history.get(key) is not None:
                    chart.extend(f"{rid}.{key}", xs, [_finite(v) for v in history[key][new]])
            run["sent"] = len(epochs)
        if not (force or chart.due()):
            return
        self._mark_best_and_stop(run)
        self._send_trace(run)
        chart.set_status(**_status(run, self._runs, self.progress, final))
        chart.flush(force=force)

    def _ensure_acc(self, run) -> None:
        rid, many = run["id"], len(self._runs) > 1
        if f"{rid}.val_acc" in self.chart_.spec["layers"]:
            return
        self._ensure_panel("acc", "accuracy", 1.0, row=0)
        color = _color(len(self._runs) - 1) if many else None
        self.chart_.line(f"{rid}.train_acc", "acc", label=None if many else "train",
                         dash=True, color=color or _color(0))  # fmt: skip
        self.chart_.line(f"{rid}.val_acc", "acc", label=None if many else "validation",
                         color=color or _color(1))  # fmt: skip
        self.chart_.vline(f"{rid}.stop_acc", "acc", color=color or "#333")

    def _mark_best_and_stop(self, run) -> None:
        chart, history, info, rid = self.chart_, run["history"], run["info"], run["id"]
        monitor = info.get("monitor") or "val_loss"
        key = monitor if history.get(monitor) and monitor in ("val_loss", "val_acc") else "val_loss"
        found = best_of(history.get(key) or [], info.get("mode") or mode_of(key))
        if found is not None and found != run["best"]:
            run["best"] = found
            epoch = run["epochs"][found[0] - 1]
            chart.set(f"{rid}.best", x=[epoch], y=[found[1]])
            if len(self._runs) == 1:
                chart.set_layer(f"{rid}.best", label=f"best {found[1]:.4g} @ {epoch}")
            if key == "val_acc" and f"{rid}.val_acc" in chart.spec["layers"]:
                chart.set_layer(f"{rid}.best", panel="acc")
        stop = getattr(history, "stop", None)
        if stop is not None:
            chart.set(f"{rid}.stop", x=stop.epoch)
            chart.set_layer(f"{rid}.stop", text=f"stop @ {stop.epoch}")
            if f"{rid}.stop_acc" in chart.spec["layers"]:
                chart.set(f"{rid}.stop_acc", x=stop.epoch)
            if len(self._runs) > 1:
                chart.set_layer(f"{rid}.val_loss", label=f"{run['label']} (stop @ {stop.epoch})")

    def _send_trace(self, run) -> None:
        rule = run["info"].get("stop")
        show = self.trace if self.trace != "auto" else rule is not None
        if not show or rule is None or not hasattr(rule, "trace") or not run["sent"]:
            return
        traces = rule.trace(run["history"])  # pure and prefix-consistent: only new rows change
        if not traces:
            return
        self._ensure_panel("trace", "stop rule", 0.45)
        chart, rid = self.chart_, run["id"]
        epochs = run["epochs"]
        for i, (name, values) in enumerate(traces.items()):
            layer = f"{rid}.trace.{name}"
            if layer not in chart.spec["layers"]:
                many = len(self._runs) > 1
                chart.line(layer, "trace", label=None if many else name,
                           color=_color(len(self._runs) - 1 if many else 2 + i))  # fmt: skip
                limit = _threshold(rule, name)
                if limit is not None and not many:
                    chart.hline(f"{layer}.limit", "trace", text=f"stops at {limit:g}",
                                color=_color(2 + i))  # fmt: skip
                    chart.set(f"{layer}.limit", x=float(limit))
            have = len(chart.data[layer].get("x") or [])
            chart.extend(layer, epochs[have : len(values)], [_finite(v) for v in values[have:]])


def _threshold(rule, trace_name: str):
    """The value at which `rule` fires for the traced quantity (patience for "wait"), or None."""
    owner, _, quantity = trace_name.rpartition(".")
    for sub in getattr(rule, "rules", (rule,)):
        if not owner or type(sub).__name__ == owner:
            value = getattr(sub, _THRESHOLDS.get(quantity, ""), None)
            if isinstance(value, int | float):
                return value
    return None


class _Callback:
    """Stands in for the widget when `output` is a callable: hands it every message."""

    def __init__(self, fn):
        self.fn = fn

    def send(self, msg: dict) -> None:
        self.fn(msg)

    def __setattr__(self, name, value):
        if name == "state":
            self.fn({"state": value})
        object.__setattr__(self, name, value)


def _kernel_shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "kernel") else None


def _color(i: int) -> str:
    from workbench.views.picture import PALETTE

    return PALETTE[i % len(PALETTE)]


def _finite(v):
    return v if v is not None and math.isfinite(v) else None


def _latest(history) -> dict:
    keys = ("train_loss", "val_loss", "val_acc")
    return {k.replace("_loss", ""): f"{history[k][-1]:.4g}" for k in keys if history.get(k)}


def _status(run, runs, progress: bool, final: bool = False) -> dict:
    """The line above the curves: the epoch, or how the run ended, and the bar's state."""
    history, info = run["history"], run["info"]
    name = f"{run['label']}: " if run["label"] and len(runs) > 1 else ""
    epochs = run["epochs"]
    last = epochs[-1] if epochs else 0
    planned = info.get("epochs")
    bar = (last / planned if planned else None) if progress else None
    stop = getattr(history, "stop", None)
    if stop is not None:
        reason = stop.reason or ""
        if reason.startswith("interrupted"):
            return {"text": f"{name}{reason}", "progress": bar, "state": "interrupted", "x": last}
        if stop.rule == "NonFinite":
            return {"text": f"{name}stopped at epoch {stop.epoch}: {reason}", "progress": bar,
                    "state": "error", "x": last}  # fmt: skip
        early = "stopped early" if planned is None or stop.epoch < planned else "stopped"
        text = f"{name}{early} at epoch {stop.epoch}: {reason}"
        return {"text": text, "progress": 1.0 if progress else None, "state": "stopped", "x": last}
    monitor = info.get("monitor") or "val_loss"
    values = history.get(monitor) or []
    latest = f"  {monitor} {values[-1]:.4g}" if values and values[-1] is not None else ""
    total = f"/{planned}" if planned else ""
    if final:
        return {"text": f"{name}ran all {planned} epochs{latest}", "progress": bar,
                "state": "done", "x": last}  # fmt: skip
    return {"text": f"{name}epoch {last}{total}{latest}", "progress": bar, "state": "running",
            "x": last}  # fmt: skip


__all__ = ["LiveCurve"]
