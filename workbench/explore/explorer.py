"""Replay stop rules over a recorded run with sliders: where would each setting have stopped?

Nothing here trains. `replay.summary` gives the numbers; `explore` wires sliders to it and
moves markers on a plot of the recorded curves. The plot is one Agg figure whose curves are
drawn once: a slider only moves the stop markers (blitted onto the saved background) and
sends a new PNG to an `Image` widget, fast enough to follow a dragged slider under the
default inline backend. The displayed output also carries that PNG as ``image/png``, so a
saved notebook opened without a kernel (or on GitHub) shows a picture, not widget text.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

from workbench import stopping
from workbench.explore import explain
from workbench.explore.replay import check_runs, repeat_groups, summary
from workbench.explore.sliders import Slot, default_rule, tunable_rules
from workbench.views import marks
from workbench.views.cells import made_here
from workbench.views.plots import (
    agg_figure,
    best_of,
    epochs_of,
    font_pt,
    mode_of,
    png_bytes,
    readable,
)

# marker colours per compared rule (hex: they are used in HTML too), apart from the curves'
COLORS = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22")
CURVE_COLORS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:gray"}
STYLES = {"train": "--", "val": "-", "test": ":"}
SPLITS = {"train": "train", "val": "validation", "test": "test"}


class Explorer:
    """The widget `explore` returns; its state is public so tests can drive it.

    Attributes: `widget` (the ipywidgets box shown), `slots` (one per compared rule, each
    with `.rule`, `.dropdown`, `.sliders`), `sliders` and `dropdown` (the first slot's),
    `result`/`results` (the `Stop` or None of each rule), `summaries`, `stop_markers_x`
    (stop epoch drawn per rule, None when hidden), `image` (the curves' picture), `layer`
    (the stop markers, drawn by the page over it), `html` (the numbers), `groups` (run label
    -> the setting it repeats). `picture()` gives a PNG of the plot with its markers.
    """

    def __init__(self, runs: dict, rules: Sequence, test_metric=None, groups=None):
        import ipywidgets as W

        self.runs, self.test_metric = runs, test_metric
        self.groups = groups or {label: label for label in runs}
        self.run = next(iter(runs))
        # the curves' picture, and over it (same grid cell) the page-drawn stop markers
        self.image = W.Image(format="png", layout=W.Layout(width="auto", grid_area="plot"))
        self.layer = marks.MarkLayer(layout=W.Layout(grid_area="plot"))
        plot = W.GridBox(
            [self.image, self.layer],
            layout=W.Layout(grid_template_areas='"plot"', justify_items="flex-start",
                            align_items="flex-start", width="max-content"),
        )  # fmt: skip
        self.html = W.HTML()
        self._refresh = None
        self.slots = [Slot(self, rule, COLORS[i % len(COLORS)]) for i, rule in enumerate(rules)]
        head = []
        if len(runs) > 1:
            self.run_picker = W.Dropdown(
                options=list(runs), description="run", layout=W.Layout(width="24em")
            )
            self.run_picker.observe(self._pick_run, "value")
            head = [self.run_picker]
        controls = W.HBox([s.box for s in self.slots], layout=W.Layout(flex_flow="row wrap"))
        self.widget = W.VBox([*head, controls, plot, self.html])
        self._draw_curves()
        made_here(self)  # re-running the cell that made it closes it

    def close(self) -> None:
        """Close every widget (rules, sliders, picture, markers) and a pending table refresh.

        Its output is the cell's value, which cannot be replaced: the page hides a closed
        view, and a saved notebook opened without widget state shows the picture.
        """
        from workbench.views.widgets import close_all

        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        close_all(self.widget)

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

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The live widget, plus a picture of its state and a line of text beside it.

        JupyterLab shows the widget when it can; a notebook opened without trust or without
        the widget state (a fresh checkout, GitHub, nbconvert) shows the PNG instead of
        ``VBox(children=...)``.
        """
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["image/png"] = base64.b64encode(self.picture()).decode("ascii")
        bundle["text/plain"] = self.describe()
        return bundle

    def describe(self) -> str:
        """One line per rule: where it stops on the run shown, and what restore_best loads."""
        lines = []
        for slot in self.slots:
            s = slot.summary
            where = "no such metric" if s is None else explain.stop_words(s)
            lines.append(f"{slot.text}: {where}")
        return f"Stop-rule explorer over {self.run!r}\n" + "\n".join(lines)

    # drawing
    def _pick_run(self, change) -> None:
        self.run = change["new"]
        self._draw_curves()

    def _draw_curves(self) -> None:
        """Draw the recorded curves once (the slow part), then the markers."""
        h = self.history
        acc = [m for m in ("train_acc", "val_acc", "test_acc") if h.get(m)]
        self.fig, axes = agg_figure((8.4, 3.0), 80, 2 if acc else 1)
        epochs = epochs_of(h)
        loss = [m for m in ("train_loss", "val_loss", "test_loss") if h.get(m)]
        for slot in self.slots:  # a rule may watch a column not drawn yet
            metric = getattr(slot.rule, "monitor", None)
            if metric and h.get(metric) and metric not in loss + acc:
                (acc if "acc" in metric else loss).append(metric)
        self.curves = {}
        for ax, metrics in zip(axes, (loss, acc), strict=False):
            for m in metrics:
                split = m.split("_")[0]
                (line,) = ax.plot(
                    epochs[: len(h[m])], h[m], STYLES.get(split, "-"),
                    color=CURVE_COLORS.get(split), label=m,
                )  # fmt: skip
                self.curves[m] = line
            ax.set_xlabel("epoch")
            ax.set_ylabel("accuracy" if metrics is acc else "loss")
            ax.grid(alpha=0.3)
        monitor = getattr(self.slots[0].rule, "monitor", "val_loss")
        mode = getattr(self.slots[0].rule, "mode", None)
        mode = stopping.resolve_mode(monitor, mode) if mode else mode_of(monitor, h)
        found = best_of(h.get(monitor) or [], mode)
        if found and monitor in self.curves:
            self.curves[monitor].axes.plot(
                epochs[found[0] - 1], found[1], "o", mfc="none", mec="k", ms=9, label="best"
            )
        self._legend(axes)
        for slot in self.slots:
            slot.make_markers(axes)
        self.fig.canvas.draw()  # the markers are animated: not in this picture
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        self.image.value = png_bytes(self.fig, draw=False)
        self.layer.geometry = marks.geometry(self.fig, axes)
        self.layer.sliders = [
            {name: f"IPY_MODEL_{s.model_id}" for name, s in slot.sliders.items()}
            for slot in self.slots
        ]
        for slot in self.slots:
            slot.tables = {}
        self.update()

    def _legend(self, axes) -> None:
        """One legend beside the panels (outside them: no marker crosses it), by split."""
        from matplotlib.lines import Line2D

        splits = {m.split("_")[0] for m in self.curves}
        handles = [
            Line2D([], [], ls=STYLES[k], color=CURVE_COLORS[k], label=SPLITS[k])
            for k in SPLITS
            if k in splits
        ]
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="k", label="best"))
        for slot in self.slots:
            handles.append(Line2D([], [], color=slot.color, lw=2, label=type(slot.rule).__name__))
        for ax in axes:
            readable(ax)
        self.fig.legend(handles=handles, loc="outside right upper", fontsize=font_pt(self.fig))

    def update(self) -> None:
        """Replay every rule, move the markers, refresh the numbers; the sliders' tables
        follow once the drag pauses (at once outside a kernel)."""
        for slot in self.slots:
            slot.replay()
        self.layer.marks = [self._mark(slot) for slot in self.slots]
        self.html.value = explain.table(self)
        self._refresh = marks.later(marks.REFRESH_S, self._fill_tables, self._refresh)

    def _mark(self, slot) -> dict:
        """Where the page draws `slot`'s marker; its dot sits on the monitored loss curve."""
        curve = self.curves.get(getattr(slot.rule, "monitor", None))
        on_loss = curve is not None and curve.axes is slot.dot.axes
        s = slot.summary
        return {
            "color": slot.color,
            "epoch": s["stop_epoch"] if s else None,
            "y": s["value"] if s and on_loss else None,
            "dot_axis": 0 if on_loss else None,
        }

    def _fill_tables(self) -> None:
        self._refresh = None
        for slot in self.slots:
            slot.fill_tables()
        self.layer.tables = [dict(slot.tables) for slot in self.slots]

    def picture(self) -> bytes:
        """A PNG of the explorer's plot as it is now: curves and stop markers."""
        canvas = self.fig.canvas
        canvas.restore_region(self.background)
        for slot in self.slots:
            for artist in slot.lines + [slot.dot]:
                if artist.get_visible():
                    artist.axes.draw_artist(artist)
        return png_bytes(self.fig, draw=False)


def recorded_rules(history: Mapping) -> list:
    """The stop rule a run was trained with, as the rules to open the explorer with.

    ``history.rule`` (set by `fit`) gives the rule with its settings; an `AnyOf` gives each
    part that has sliders. Else ``history.stop.rule`` names the rule's class. Empty when
    the history recorded no rule with sliders.
    """
    rule = getattr(history, "rule", None)
    parts = rule.rules if isinstance(rule, stopping.AnyOf) else (rule,)
    found = [r for r in parts if isinstance(r, stopping.Rule) and type(r).params()]
    if found:
        return found
    stop = getattr(history, "stop", None)
    cls = tunable_rules().get(getattr(stop, "rule", None))
    return [default_rule(cls, history)] if cls else []


def explore(
    history_or_histories,
    rule=None,
    *,
    rules: Sequence | None = None,
    test_metric: str | None = None,
    repeats: bool | None = None,
) -> Explorer:
    """Sliders for stop rules replayed over recorded runs: stop epoch, scores there, epochs saved.

    Show the result as the last expression of a cell. Each rule gets its own colour: its
    stop marker on the curves and its column of numbers. Pick another rule from its
    dropdown; its sliders change with it. Works under the default inline backend.

    Parameters
    ----------
    history_or_histories : mapping, or a dict/list of them
        One recorded run, or several (label -> history): a dropdown picks the run drawn.
        ``{"BN": [h0, h1], "no BN": [h2, h3]}`` gives repeats of each setting.
    rule : stop rule, optional
        The rule to tune; default: the rule the run was trained with, else ``Patience(5)``.
    rules : sequence of stop rules, optional
        Several rules to compare side by side, e.g. ``[Patience(5), GeneralizationLoss(5)]``.
    test_metric : str, optional
        The held-out score reported; default ``test_acc``, else ``test_loss``.
    repeats : bool, optional
        Whether the runs are repeats of one setting (averages are shown over repeats only).
        None: runs whose labels differ only by a seed ("seed 3") are repeats.

    Returns
    -------
    Explorer
        Displays as an ipywidgets box; ``.sliders``, ``.result``, ``.summaries`` and
        ``.stop_marker_x`` expose its state.
    """
    runs, settings = check_runs(history_or_histories)
    if rule is not None and rules is not None:
        raise TypeError("pass either rule=... or rules=[...], not both")
    if rules is None:
        first = next(iter(runs.values()))
        rules = [rule] if rule is not None else recorded_rules(first) or [stopping.Patience(5)]
    if not isinstance(rules, Sequence) or isinstance(rules, str):
        raise TypeError(
            f"rules must be a list of stop rules, e.g. rules=[Patience(5)], got {rules!r}; "
            "for a single rule use rule=..."
        )
    rules = list(rules)
    if not rules:
        raise ValueError(
            "rules is empty: pass the rules to compare, e.g. rules=[Patience(5), "
            "GeneralizationLoss(5)], or leave rules out to tune the run's own rule"
        )
    for i, r in enumerate(rules):
        if not isinstance(r, stopping.Rule):
            raise TypeError(
                f"rules[{i}] is {r!r}, not a stop rule: use one from workbench.stopping, "
                "e.g. Patience(5)"
            )
    if test_metric is not None and not any(test_metric in h for h in runs.values()):
        have = sorted({m for h in runs.values() for m in h})
        raise ValueError(f"test_metric={test_metric!r} is not recorded; the runs have {have}")
    groups = repeat_groups(list(runs), repeats, settings)
    return Explorer(runs, rules, test_metric, groups)


__all__ = ["Explorer", "default_rule", "explore", "recorded_rules", "summary", "tunable_rules"]
