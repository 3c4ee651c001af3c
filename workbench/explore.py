"""Replay stop rules over a recorded run with sliders: where would each setting have stopped?

Nothing here trains. `summary` replays one rule over a history and returns the numbers a
lesson asserts on; `explore` wires sliders to it and moves markers on a plot of the
recorded curves. The plot is one Agg figure whose curves are drawn once: a slider only moves
the stop markers (blitted onto the saved background) and sends a new PNG to an `Image`
widget, which is fast enough to follow a dragged slider under the default inline backend.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from workbench import stopping
from workbench.plots import agg_figure, best_of, epochs_of, mode_of, png_bytes

# marker colours per compared rule (hex: they are used in HTML too), apart from the curves'
COLORS = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")
CURVE_COLORS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:gray"}


def _at(values, epoch):
    return values[epoch - 1] if values and epoch and epoch <= len(values) else None


def summary(history: Mapping, rule, *, test_metric: str | None = None) -> dict:
    """Replay `rule` over a recorded history and say what stopping there would have given.

    Parameters
    ----------
    history : mapping
        Metric name -> per-epoch floats of a finished run.
    rule : callable
        A stop rule, e.g. ``stopping.Patience(5)``.
    test_metric : str, optional
        The held-out score to report; default ``test_acc``, else ``test_loss``, if recorded.

    Returns
    -------
    dict
        ``stop_epoch`` (None if the rule never fires), ``reason``, ``epochs`` (recorded),
        ``epoch`` (the last epoch that runs), ``epochs_saved``, ``monitor``, ``value`` (the
        monitored value there), ``best_epoch``/``best_value`` (over the whole run),
        ``restored_epoch`` (best up to the stop by the run's monitor, ``history.monitor`` or
        val_loss: what ``fit(restore_best=True)`` would load), ``test_metric``, ``test``
        (there), ``test_restored``, ``test_at_best`` (at the run's best epoch),
        ``best_test``/``best_test_epoch``.

    >>> h = {"val_loss": [0.9, 0.5, 0.6, 0.7, 0.8], "test_acc": [0.5, 0.8, 0.7, 0.7, 0.6]}
    >>> s = summary(h, stopping.Patience(2))
    >>> s["stop_epoch"], s["epochs_saved"], s["test"], s["test_at_best"]
    (4, 1, 0.7, 0.8)
    """
    stop = rule(history)
    monitor = getattr(rule, "monitor", None) or getattr(history, "monitor", None) or "val_loss"
    mode = _rule_mode(rule, monitor, history)
    n = len(epochs_of(history))
    epoch = stop.epoch if stop is not None else n
    values = list(history.get(monitor) or [])
    best = best_of(values, mode) or (None, None)
    # restore_best and "the best epoch in hindsight" follow the run's monitor (what fit
    # restores by), which differs from the rule's for e.g. RelativeChange on train_loss
    run_monitor = getattr(history, "monitor", None) or "val_loss"
    if run_monitor not in history:
        run_monitor = monitor
    run_mode = getattr(history, "mode", None) if run_monitor != monitor else mode
    run_values = list(history.get(run_monitor) or [])
    run_best = best_of(run_values, run_mode or mode_of(run_monitor, history)) or (None, None)
    restored = best_of(run_values[:epoch], run_mode or mode_of(run_monitor, history))
    restored = restored or (None, None)
    if test_metric is None:
        test_metric = next((m for m in ("test_acc", "test_loss") if history.get(m)), None)
    tests = list(history.get(test_metric) or []) if test_metric else []
    best_test = best_of(tests, mode_of(test_metric)) if tests else None
    return {
        "rule": repr(rule),
        "stop_epoch": stop.epoch if stop is not None else None,
        "reason": stop.reason if stop is not None else None,
        "epochs": n,
        "epoch": epoch,
        "epochs_saved": n - epoch,
        "monitor": monitor,
        "mode": mode,
        "value": _at(values, epoch),
        "best_epoch": best[0],
        "best_value": best[1],
        "restored_epoch": restored[0],
        "test_metric": test_metric if tests else None,
        "test": _at(tests, epoch),
        "test_restored": _at(tests, restored[0]),
        "test_at_best": _at(tests, run_best[0]),
        "best_test": best_test[1] if best_test else None,
        "best_test_epoch": best_test[0] if best_test else None,
    }


def _rule_mode(rule, monitor: str, history: Mapping) -> str:
    """ "min" or "max" as `rule` compares `monitor` (its mode "auto" resolved), else the run's."""
    mode = getattr(rule, "mode", None)
    return stopping.resolve_mode(monitor, mode) if mode else mode_of(monitor, history)


def tunable_rules() -> dict:
    """Rule classes from `stopping.RULES` that have sliders (numeric parameters)."""
    return {name: cls for name, cls in stopping.RULES.items() if cls.params()}


def default_rule(cls, history: Mapping):
    """`cls` built from its slider defaults, a threshold placed inside the data's range."""
    rule = cls(**{name: p.default for name, p in cls.params().items()})
    try:
        adapted = rule.params_for(history)
    except KeyError:
        return rule
    return rule.replace(**{name: p.default for name, p in adapted.items()})


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


class Explorer:
    """The widget `explore` returns; its state is public so tests can drive it.

    Attributes: `widget` (the ipywidgets box shown), `slots` (one per compared rule, each
    with `.rule`, `.dropdown`, `.sliders`), `sliders` and `dropdown` (the first slot's),
    `result`/`results` (the `Stop` or None of each rule), `summaries`, `stop_markers_x`
    (stop epoch drawn per rule, None when hidden), `image` and `html` (the shown widgets).
    """

    def __init__(self, runs: dict, rules: Sequence, test_metric: str | None = None):
        import ipywidgets as W

        self.runs, self.test_metric = runs, test_metric
        self.run = next(iter(runs))
        self.image = W.Image(format="png", layout=W.Layout(width="auto"))
        self.html = W.HTML()
        self.slots = [_Slot(self, rule, COLORS[i % len(COLORS)]) for i, rule in enumerate(rules)]
        head = []
        if len(runs) > 1:
            self.run_picker = W.Dropdown(options=list(runs), description="run")
            self.run_picker.observe(self._pick_run, "value")
            head = [self.run_picker]
        controls = W.HBox([s.box for s in self.slots])
        self.widget = W.VBox([*head, controls, self.image, self.html])
        self._draw_curves()

    # state for tests and lessons
    @property
    def history(self) -> Mapping:
        return self.runs[self.run]

    @property
    def sliders(self) -> dict:
        return self.slots[0].sliders

    @property
    def dropdown(self):
        return self.slots[0].dropdown

    @property
    def result(self):
        return self.slots[0].result

    @property
    def results(self) -> list:
        return [s.result for s in self.slots]

    @property
    def summaries(self) -> list:
        return [s.summary for s in self.slots]

    @property
    def stop_marker_x(self):
        return self.stop_markers_x[0]

    @property
    def stop_markers_x(self) -> list:
        return [
            s.lines[0].get_xdata()[0] if s.lines and s.lines[0].get_visible() else None
            for s in self.slots
        ]

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # drawing
    def _pick_run(self, change) -> None:
        self.run = change["new"]
        self._draw_curves()

    def _draw_curves(self) -> None:
        """Draw the recorded curves once (the slow part), then the markers."""
        h = self.history
        acc = [m for m in ("train_acc", "val_acc", "test_acc") if h.get(m)]
        self.fig, axes = agg_figure((8.0, 2.8), 80, 2 if acc else 1)
        epochs = epochs_of(h)
        loss = [m for m in ("train_loss", "val_loss", "test_loss") if h.get(m)]
        for slot in self.slots:  # a rule may watch a column not drawn yet
            metric = getattr(slot.rule, "monitor", None)
            if metric and h.get(metric) and metric not in loss + acc:
                (acc if "acc" in metric else loss).append(metric)
        self.curves = {}
        for ax, metrics in zip(axes, (loss, acc), strict=False):
            for m in metrics:
                style = "--" if m.startswith("train") else ":" if m.startswith("test") else "-"
                color = CURVE_COLORS.get(m.split("_")[0])
                (line,) = ax.plot(epochs[: len(h[m])], h[m], style, color=color, label=m)
                self.curves[m] = line
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        monitor = getattr(self.slots[0].rule, "monitor", "val_loss")
        found = best_of(h.get(monitor) or [], _rule_mode(self.slots[0].rule, monitor, h))
        if found and monitor in self.curves:
            self.curves[monitor].axes.plot(
                epochs[found[0] - 1], found[1], "o", mfc="none", mec="k", ms=9, label="best"
            )
        for ax in axes:
            ax.legend(fontsize="x-small", loc="best")
        for slot in self.slots:
            slot.make_markers(axes)
        self.fig.canvas.draw()
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        self.update()

    def update(self) -> None:
        """Replay every rule, move the markers, re-render the image, refresh the numbers."""
        for slot in self.slots:
            slot.replay()
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for slot in self.slots:
            for artist in slot.lines + [slot.dot]:
                if artist.get_visible():
                    artist.axes.draw_artist(artist)
        self.image.value = png_bytes(self.fig, draw=False)
        self.html.value = self._table()

    def _table(self) -> str:
        rows = [
            (
                "rule",
                lambda sl, s: f"<b style='color:{sl.color}'>{html.escape(_short(sl.rule))}</b>",
            )
        ]
        rows += [
            ("stops after epoch", _stop_text),
            ("epochs saved", lambda sl, s: f"{s['epochs_saved']} of {s['epochs']}"),
            ("monitored there", _value_text),
            ("test score there", _test_text),
        ]
        body = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{name}</th>"
            + "".join(
                f"<td style='padding-right:2em'>{cell(sl, sl.summary)}</td>" for sl in self.slots
            )
            + "</tr>"
            for name, cell in rows
            if all(sl.summary for sl in self.slots) or name == "rule"
        )
        notes = "".join(
            f"<div style='color:{sl.color}'>{html.escape(sl.note)}</div>"
            for sl in self.slots
            if sl.note
        )
        return f"<table style='font-size:90%'>{body}</table>{notes}{self._across_runs()}"

    def _across_runs(self) -> str:
        if len(self.runs) < 2:
            return ""
        parts = []
        for slot in self.slots:
            try:
                sums = [
                    summary(h, slot.rule, test_metric=self.test_metric) for h in self.runs.values()
                ]
            except (KeyError, ValueError):
                continue
            tests = [s["test"] for s in sums if s["test"] is not None]
            mean_test = f", test there {sum(tests) / len(tests):.4g}" if tests else ""
            mean = sum(s["epoch"] for s in sums) / len(sums)
            never = sum(s["stop_epoch"] is None for s in sums)
            never = f" ({never} never stop)" if never else ""
            saved = sum(s["epochs_saved"] for s in sums) / len(sums)
            parts.append(
                f"<div style='color:{slot.color}'>over all {len(sums)} runs: stops after epoch "
                f"{mean:.1f} on average{never}{mean_test}, {saved:.1f} epochs saved</div>"
            )
        return "".join(parts)


def _short(rule) -> str:
    """``Patience(patience=5, min_delta=0)``: the rule with its slider parameters only."""
    names = type(rule).params() if hasattr(type(rule), "params") else {}
    args = ", ".join(f"{k}={getattr(rule, k):g}" for k in names if hasattr(rule, k))
    return f"{type(rule).__name__}({args})" if names else repr(rule)


def _stop_text(slot, s) -> str:
    if s["stop_epoch"] is None:
        return f"never stops within {s['epochs']} epochs"
    return f"<b>{s['stop_epoch']}</b>"


def _value_text(slot, s) -> str:
    best = f"best {_fmt(s['best_value'])} @ {s['best_epoch']}"
    return f"{s['monitor']} {_fmt(s['value'])} ({best}; restore_best loads epoch {s['restored_epoch']})"


def _test_text(slot, s) -> str:
    if s["test_metric"] is None:
        return "no test score recorded"
    return (
        f"{s['test_metric']} {_fmt(s['test'])} (at the best val epoch {_fmt(s['test_at_best'])}; "
        f"best of run {_fmt(s['best_test'])} @ {s['best_test_epoch']})"
    )


class _Slot:
    """One rule being tuned: a dropdown, its sliders, its markers and its latest summary."""

    def __init__(self, explorer: Explorer, rule, color: str):
        import ipywidgets as W

        self.explorer, self.rule, self.color = explorer, rule, color
        self.result, self.summary, self.note, self.error = None, None, "", ""
        self.lines, self.dot = [], None
        names = list(tunable_rules())
        kind = type(rule).__name__
        self.dropdown = W.Dropdown(
            options=names if kind in names else [kind, *names], value=kind,
            layout=W.Layout(width="13em"),
        )  # fmt: skip
        self.dropdown.observe(self._pick_rule, "value")
        self.box = W.VBox(layout=W.Layout(border=f"2px solid {color}", padding="2px", margin="2px"))
        self._build_sliders()

    def _build_sliders(self) -> None:
        import ipywidgets as W

        self.sliders = {}
        try:
            params = self.rule.params_for(self.explorer.history)
        except KeyError:
            params = self.rule.params()
        for name, p in params.items():
            value = getattr(self.rule, name, p.default)
            low, high = min(p.low, value), max(p.high, value)
            if p.kind == "int":
                slider = W.IntSlider(value=value, min=low, max=high, step=max(1, int(p.step)))
            else:
                digits = max(0, -math.floor(math.log10(p.step))) if p.step > 0 else 3
                slider = W.FloatSlider(
                    value=value, min=low, max=high, step=p.step, readout_format=f".{digits}f"
                )
            slider.description, slider.tooltip = name, p.doc
            slider.style.description_width = "8.5em"
            slider.observe(self._move, "value")
            self.sliders[name] = slider
        self.box.children = [self.dropdown, *self.sliders.values()]

    def _pick_rule(self, change) -> None:
        cls = tunable_rules().get(change["new"])
        if cls is None:
            return
        self.rule = default_rule(cls, self.explorer.history)
        self._build_sliders()
        self.explorer._draw_curves()  # the monitored curve may differ (RelativeChange: train)

    def _move(self, change) -> None:
        name = next(k for k, s in self.sliders.items() if s is change["owner"])
        try:
            self.rule, self.error = self.rule.replace(**{name: change["new"]}), ""
        except (TypeError, ValueError) as error:
            self.error = f"{name}: {error}"
        self.explorer.update()

    def make_markers(self, axes) -> None:
        self.lines = [ax.axvline(1, color=self.color, lw=2, animated=True) for ax in axes]
        (self.dot,) = axes[0].plot([], [], "o", color=self.color, ms=7, animated=True)

    def replay(self) -> None:
        history, self.note = self.explorer.history, self.error
        try:
            self.summary = summary(history, self.rule, test_metric=self.explorer.test_metric)
        except KeyError as error:  # the rule watches a metric this run did not record
            self.summary, self.result = None, None
            self.note = str(error)
        else:
            self.result = self.rule(history)
            if self.result is not None and not self.error:
                self.note = f"{type(self.rule).__name__}: {self.result.reason}"
        stop = self.summary and self.summary["stop_epoch"]
        for line in self.lines:
            line.set_visible(bool(stop))
            line.set_xdata([stop or 1, stop or 1])
        curve = self.explorer.curves.get(self.summary["monitor"]) if self.summary else None
        self.dot.set_visible(bool(stop) and curve is not None and curve.axes is self.dot.axes)
        if self.dot.get_visible():
            self.dot.set_data([stop], [self.summary["value"]])


def explore(
    history_or_histories, rule=None, *, rules: Sequence | None = None, test_metric=None
) -> Explorer:
    """Sliders for stop rules replayed over recorded runs: stop epoch, scores there, epochs saved.

    Show the result as the last expression of a cell. Each rule gets its own colour: its
    stop marker on the curves and its column of numbers. Pick another rule from its
    dropdown; its sliders change with it. Works under the default inline backend.

    Parameters
    ----------
    history_or_histories : mapping, or a dict/list of them
        One recorded run, or several (label -> history, e.g. one per seed): a dropdown picks
        the run drawn, and a line gives the averages over all of them.
    rule : stop rule, optional
        The rule to tune; default ``Patience(5)``.
    rules : sequence of stop rules, optional
        Several rules to compare side by side, e.g. ``[Patience(5), GeneralizationLoss(5)]``.
    test_metric : str, optional
        The held-out score reported; default ``test_acc``, else ``test_loss``.

    Returns
    -------
    Explorer
        Displays as an ipywidgets box; ``.sliders``, ``.result``, ``.summaries`` and
        ``.stop_marker_x`` expose its state.
    """
    runs = history_or_histories
    if isinstance(runs, Mapping) and all(isinstance(v, Mapping) for v in runs.values()):
        runs = dict(runs)
    elif isinstance(runs, Mapping):
        runs = {"run": runs}
    else:
        runs = {f"run {i + 1}": h for i, h in enumerate(runs)}
    if not runs:
        raise ValueError("explore needs at least one recorded history")
    if rules is None:
        rules = [rule if rule is not None else stopping.Patience(5)]
    return Explorer(runs, list(rules), test_metric)


__all__ = ["Explorer", "default_rule", "explore", "summary", "tunable_rules"]
