"""A live learning curve: a `fit` callback that redraws the losses while training runs.

It draws into one PNG image shown with ``display(..., display_id=True)`` and replaced in
place with ``handle.update``. That paints while the kernel is busy (an interactive backend
does not) and leaves a single image in the saved notebook. IPython and tqdm are imported
only when a run starts, so `import workbench` needs no display.
"""

from __future__ import annotations

import math
import time

from workbench.plots import agg_figure, best_of, epochs_of, mode_of, png_bytes

# Spend at most this fraction of the run drawing (a redraw costs tens of milliseconds,
# more than a whole epoch on the small lesson workloads).
DRAW_BUDGET = 0.02
MAX_WAIT = 5.0  # seconds: however slow the drawing, the curve moves at least this often


class LiveCurve:
    """Redraw train/validation loss (and accuracy, when recorded) after epochs of a run.

    Pass it to `fit`: ``fit(model, data, epochs=50, live=True)`` makes one for you. The curve
    marks the best epoch with a dot and the stop epoch with a dotted line, and puts the stop
    reason in the title; a progress bar shows the epoch and the latest metrics.

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
        Least seconds between redraws. Redraws are also spaced so that drawing takes at most
        2% of the run; the last epoch (and the stop) is always drawn.
    progress : bool
        Show a tqdm progress bar with the epoch and the latest metrics.
    figsize : (float, float)
        Figure size in inches.
    dpi : int
        Resolution of the image.
    output : "auto", callable or None
        Where the image goes: "auto" shows it in Jupyter (and draws nothing elsewhere, where a
        line of text sums the run up instead); a callable gets the PNG bytes of each redraw;
        None draws nothing.
    clock : callable
        Seconds, for throttling (tests pass a fake clock).

    Attributes
    ----------
    figure_ : matplotlib Figure or None
        The figure, e.g. ``live.figure_.savefig("curve.png")`` after the run.
    draws_ : int
        How many times the figure was redrawn.
    title_ : str
        The text over the curves (the stop and its reason once the run has stopped).
    """

    def __init__(
        self,
        label: str | None = None,
        *,
        every: float = 0.4,
        progress: bool = True,
        figsize=(8.0, 2.8),
        dpi: int = 80,
        output="auto",
        clock=time.perf_counter,
    ):
        self.label = label
        self.every = every
        self.progress = progress
        self.figsize = figsize
        self.dpi = dpi
        self.output = output
        self.clock = clock
        self.figure_ = None
        self.draws_ = 0
        self._runs = []
        self._sink = None
        self._bar = None
        self._next_draw = -math.inf
        self._drawn = None
        self._background = None
        self._legend_state = None

    # --- the callback protocol of workbench.fit -------------------------------------------
    def on_fit_start(self, history, info: dict | None = None) -> None:
        """Start a new run (a new colour) on the shared figure."""
        info = info or {}
        label = info.get("label") or self.label
        if label is None and self._runs:
            label = f"run {len(self._runs) + 1}"
        if label is not None and len(self._runs) == 1 and self._runs[0]["label"] is None:
            self._runs[0]["label"] = "run 1"  # a second run makes the first need a name too
        self._runs.append({"history": history, "label": label, "info": info, "art": None})
        if len(self._runs) == 2:
            self.figure_ = None  # restyle: one colour per run instead of one per curve
        # runs started in the same cell share one image; a later cell shows it afresh
        if not (isinstance(self._sink, _NotebookImage) and self._sink.same_cell()):
            self._sink = self._make_sink()
        # first draw after `every` seconds: a run shorter than that pays for one draw only
        self._next_draw = self.clock() + self.every
        if self.progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=info.get("epochs"), desc=label or "epoch", leave=True)

    def on_epoch_end(self, history) -> None:
        """Update the progress bar; redraw when the throttle allows or the run stopped."""
        if not self._runs or self._runs[-1]["history"] is not history:
            self.on_fit_start(history, {})
        if self._bar is not None:
            self._bar.set_postfix(_latest(history), refresh=False)
            self._bar.update(1)
        if self._sink is None:
            return  # no figure work at all where nobody can see it
        if getattr(history, "stop", None) is not None or self.clock() >= self._next_draw:
            self.redraw()

    def on_fit_end(self, history) -> None:
        """Draw the final state (best and stop marked) and close the progress bar."""
        if self._sink is not None and self._drawn != _state(self._runs):
            self.redraw()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._sink is None and self.output == "auto":
            print(_summary_line(self._runs[-1]) if self._runs else "")

    @property
    def title_(self) -> str:
        """The text over the curves: the epoch and monitored value, or the stop and its reason."""
        return self._title_artist.get_text() if self.figure_ is not None else ""

    # --- drawing -----------------------------------------------------------------------
    def redraw(self) -> None:
        """Update every run's lines and markers, render, and send the image to the output.

        The axes limits are fixed ahead of the data (x up to the planned epochs, y with
        headroom), so most redraws only paste the saved background (axes, ticks, legend)
        and draw the moving artists on it: a few milliseconds instead of a full render.
        A full render happens at the first draw and whenever the data leaves the limits.
        """
        start = self.clock()
        need_acc = any(r["history"].get("val_acc") for r in self._runs)
        fresh = self.figure_ is None or (len(self.figure_.axes) == 2) != need_acc
        if fresh:
            self._new_figure(need_acc)
        for run in self._runs:
            self._update_run(run)
        loss_ax = self.figure_.axes[0]
        title = _title(self._runs[-1])
        if fresh or self._background is None or not self._limits_hold():
            self._full_render(loss_ax, title)
        else:
            canvas = self.figure_.canvas
            canvas.restore_region(self._background)
            self._title_artist.set_text(title)
            for artist in self._moving():
                artist.axes.draw_artist(artist)
        png = png_bytes(self.figure_, draw=False)
        if self._sink is not None:
            self._sink(png)
        self.draws_ += 1
        self._drawn = _state(self._runs)
        now = self.clock()
        # A first draw pays for the figure and font caches: do not let it stall the curve.
        cost = 0.0 if fresh else now - start
        self._next_draw = now + min(max(self.every, cost / DRAW_BUDGET), MAX_WAIT)

    def _moving(self) -> list:
        """The artists that change between redraws (drawn over the saved background)."""
        artists = [self._title_artist]
        for run in self._runs:
            art = run["art"]
            artists += list(art["lines"].values()) + [art["best"]] + art["stops"]
        return [a for a in artists if a.get_visible()]

    def _limits(self) -> list[tuple]:
        """Axes limits that leave room for the rest of the run: x to the planned epochs."""
        planned = max((r["info"].get("epochs") or 0) for r in self._runs)
        seen = max(len(epochs_of(r["history"])) for r in self._runs)
        last = max(planned, seen, 2)
        limits = []
        for keys in (_LOSSES, _ACCS)[: len(self.figure_.axes)]:
            values = [
                v for r in self._runs for k in keys for v in (r["history"].get(k) or [])
                if math.isfinite(v)
            ]  # fmt: skip
            low, high = (min(values), max(values)) if values else (0.0, 1.0)
            if keys is _ACCS:
                low, high = min(low, 0.0), max(high, 1.0)
            else:  # losses fall as a run goes on: start at 0 and leave headroom above
                low, high = min(low, 0.0), high + 0.25 * (high - min(low, 0.0) or 1.0)
            pad = 0.03 * (high - low or 1.0)
            limits.append(((0.0, last + 1.0), (low - pad, high + pad)))
        return limits

    def _limits_hold(self) -> bool:
        for ax, keys in zip(self.figure_.axes, (_LOSSES, _ACCS), strict=False):
            (_, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
            for r in self._runs:
                if len(epochs_of(r["history"])) > x1:
                    return False
                for k in keys:
                    if any(
                        math.isfinite(v) and not y0 <= v <= y1 for v in r["history"].get(k) or []
                    ):
                        return False
        return self._legend_state == _legend_state(self._runs)

    def _full_render(self, loss_ax, title: str) -> None:
        """Render everything: limits, legend and the background that later redraws reuse."""
        for ax, (xlim, ylim) in zip(self.figure_.axes, self._limits(), strict=False):
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
        loss_ax.legend(fontsize="x-small", loc="upper right")
        self._legend_state = _legend_state(self._runs)
        moving = self._moving()
        for artist in moving:  # the background is everything that does not move
            artist.set_visible(False)
        self.figure_.canvas.draw()
        self._background = self.figure_.canvas.copy_from_bbox(self.figure_.bbox)
        for artist in moving:
            artist.set_visible(True)
        self._title_artist.set_text(title)
        for artist in moving:
            artist.axes.draw_artist(artist)

    def _new_figure(self, need_acc: bool) -> None:
        self.figure_, axes = agg_figure(self.figsize, self.dpi, 2 if need_acc else 1, layout=None)
        # fixed margins: a layout engine would cost a third of every redraw
        self.figure_.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.88, wspace=0.22)
        axes[0].set_ylabel("loss")
        # the title is a plain text artist so that it can be redrawn over the background
        self._title_artist = axes[0].text(
            0, 1.03, "", transform=axes[0].transAxes, fontsize="small", ha="left", va="bottom"
        )
        self._background = None
        if need_acc:
            axes[1].set_ylabel("accuracy")
        from matplotlib.ticker import MaxNLocator

        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            # each tick is a handful of artists to build and lay out: a few are enough here
            ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(4))
        for run in self._runs:
            run["art"] = None

    def _update_run(self, run) -> None:
        history = run["history"]
        if run["art"] is None:
            run["art"] = self._artists(run)
        art, epochs = run["art"], epochs_of(history)
        for key, line in art["lines"].items():
            values = history.get(key) or []
            line.set_data(epochs[: len(values)], values)
        key = art["monitor"]
        mode = run["info"].get("mode") if key == run["info"].get("monitor") else None
        found = best_of(history.get(key) or [], mode or mode_of(key))
        art["best"].set_visible(found is not None)
        if found is not None:
            art["best"].set_data([epochs[found[0] - 1]], [found[1]])
        stop = getattr(history, "stop", None)
        for line in art["stops"]:
            line.set_visible(stop is not None)
            if stop is not None:
                line.set_xdata([stop.epoch, stop.epoch])
        if len(self._runs) > 1:
            where = f" (stop @ {stop.epoch})" if stop is not None else ""
            art["lines"]["val_loss"].set_label(f"{run['label']}{where}")
        elif stop is not None:
            art["stops"][0].set_label(f"stop @ {stop.epoch}")

    def _artists(self, run) -> dict:
        color = f"C{self._runs.index(run) % 10}"
        many = len(self._runs) > 1
        axes = self.figure_.axes
        lines = {}
        for key, ax in [("train_loss", 0), ("val_loss", 0), ("train_acc", 1), ("val_acc", 1)]:
            if ax < len(axes):
                train = key.startswith("train")
                name = "_" if many and (train or ax) else ("train" if train else "validation")
                kw = {"color": color} if many else {}
                (lines[key],) = axes[ax].plot([], [], "--" if train else "-", label=name, **kw)
        monitor = run["info"].get("monitor") or "val_loss"
        key = monitor if monitor in lines else "val_loss"
        host = lines[key]
        label = "_" if many else "best"
        (best,) = host.axes.plot([], [], "o", color=host.get_color(), ms=6, label=label)
        stops = [ax.axvline(1, color=color if many else "k", ls=":", lw=1.5) for ax in axes]
        for line in stops:
            line.set_label("_")
        return {"lines": lines, "best": best, "stops": stops, "monitor": key}

    def _make_sink(self):
        if callable(self.output):
            return self.output
        if self.output != "auto":
            return None
        try:
            from IPython import get_ipython
        except ImportError:
            return None
        shell = get_ipython()
        if shell is None or not hasattr(shell, "kernel"):
            return None  # plain python or a terminal IPython: the text line will do
        return _NotebookImage(shell)


class _NotebookImage:
    """Show PNG bytes in the running cell, then replace them in place on later calls."""

    def __init__(self, shell):
        self.shell = shell
        self.handle = None
        self.cell = shell.execution_count

    def same_cell(self) -> bool:
        """True while the cell that first showed the image is still the one running."""
        return self.shell.execution_count == self.cell

    def __call__(self, png: bytes) -> None:
        from IPython.display import Image, display

        if self.handle is None:
            self.handle = display(Image(data=png, format="png"), display_id=True)
        else:
            self.handle.update(Image(data=png, format="png"))


_LOSSES = ("train_loss", "val_loss")
_ACCS = ("train_acc", "val_acc")


def _legend_state(runs) -> tuple:
    # the legend is part of the background: its labels change when a run stops or is added
    return tuple((r["label"], getattr(r["history"], "stop", None) is not None) for r in runs)


def _latest(history) -> dict:
    keys = ("train_loss", "val_loss", "val_acc")
    return {k.replace("_loss", ""): f"{history[k][-1]:.4g}" for k in keys if history.get(k)}


def _state(runs) -> tuple:
    return tuple((len(epochs_of(r["history"])), getattr(r["history"], "stop", None)) for r in runs)


def _title(run) -> str:
    history, info = run["history"], run["info"]
    name = f"{run['label']}: " if run["label"] else ""
    monitor = info.get("monitor") or "val_loss"
    values = history.get(monitor) or []
    if not values:
        return name
    epochs = epochs_of(history)
    found = best_of(values, info.get("mode") or mode_of(monitor))
    best = f" (best {found[1]:.4g} @ {epochs[found[0] - 1]})" if found else ""
    stop = getattr(history, "stop", None)
    if stop is not None:
        return f"{name}stopped after epoch {stop.epoch}: {stop.reason}{best}"
    total = f"/{info['epochs']}" if info.get("epochs") else ""
    return f"{name}epoch {epochs[len(values) - 1]}{total}  {monitor} {values[-1]:.4g}{best}"


def _summary_line(run) -> str:
    return _title(run) or "no epochs recorded"


__all__ = ["LiveCurve"]
