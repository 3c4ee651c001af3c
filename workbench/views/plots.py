"""Static learning-curve plots: each function takes a history and an Axes and returns the Axes.

A history is any mapping of metric name -> list of per-epoch floats (a `History` or a plain
dict). Epochs count from 1. Nothing here trains or changes the history; the live curve and
the stop-rule explorer draw with the same helpers.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

from workbench.history import check_history
from workbench.stopping import resolve_mode

LOSSES = ("train_loss", "val_loss")
ACCURACIES = ("train_acc", "val_acc")
MIN_PX = 11  # the smallest text readable on a projector at 100% zoom, in screen pixels


def epochs_of(history: Mapping) -> list:
    """The epoch numbers of a history: its ``epoch`` column, else 1, 2, ..., n.

    >>> epochs_of({"val_loss": [0.5, 0.4, 0.45]})
    [1, 2, 3]
    """
    if "epoch" in history and len(history["epoch"]):
        return [int(e) for e in history["epoch"]]
    n = max((len(v) for v in history.values()), default=0)
    return list(range(1, n + 1))


def mode_of(metric: str, history: Mapping | None = None) -> str:
    """Whether lower ("min") or higher ("max") is better for `metric`.

    The history's own ``mode`` counts when it monitors `metric`; "auto" (or none) means
    higher is better for accuracies, lower for everything else (`stopping.resolve_mode`).

    >>> mode_of("val_acc"), mode_of("val_loss")
    ('max', 'min')
    """
    mode = None
    if history is not None and getattr(history, "monitor", None) == metric:
        mode = getattr(history, "mode", None)
    return resolve_mode(metric, mode)


def best_of(values: Sequence[float], mode: str = "min") -> tuple[int, float] | None:
    """The 1-based epoch and value of the best finite entry, or None if there is none.

    Ties go to the earliest epoch, as a stop rule counts them.

    >>> best_of([0.5, 0.3, 0.3, float("nan")])
    (2, 0.3)
    """
    best = None
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            continue
        if best is None or (v < best[1] if mode == "min" else v > best[1]):
            best = (i + 1, v)
    return best


def _label(metric: str) -> str:
    return metric.replace("_", " ").replace("val", "validation")


def _draw_stop(ax, stop, color, label=None):
    """A vertical line at the stop epoch with the reason in its legend entry."""
    reason = getattr(stop, "reason", "") or ""
    text = f"stop @ {stop.epoch}" + (f": {reason}" if reason else "")
    if label:
        text = f"{label} {text}"
    # a long reason is wrapped: the legend beside the plot must not outgrow the figure
    text = textwrap.fill(text, 34, subsequent_indent="  ")
    return ax.axvline(stop.epoch, color=color, linestyle=":", linewidth=1.5, label=text)


def font_pt(fig, px: float = MIN_PX) -> float:
    """The font size in points that is `px` pixels tall on screen for `fig`'s dpi.

    >>> from matplotlib.figure import Figure
    >>> font_pt(Figure(dpi=72)), font_pt(Figure(dpi=144))
    (11.0, 5.5)
    """
    return px * 72 / fig.dpi


def legend_beside(ax, **kw):
    """A legend to the right of the Axes, outside it: no curve, marker or stop line crosses it.

    Parameters
    ----------
    ax : matplotlib Axes
    **kw
        Passed to ``ax.legend`` (e.g. ``handles``).

    Returns
    -------
    matplotlib Legend
    """
    kw.setdefault("fontsize", font_pt(ax.figure))
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, **kw)


def readable(ax, px: float = MIN_PX):
    """Raise every text of `ax` (ticks, axis labels, title, legend) to at least `px` pixels.

    Parameters
    ----------
    ax : matplotlib Axes
    px : float
        Smallest height on screen at 100% zoom, for the figure's dpi.

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.text import Text

    pt = font_pt(ax.figure, px)
    for text in ax.findobj(Text):  # titles, axis labels, legend, annotations, tick labels
        text.set_fontsize(max(text.get_fontsize(), pt))
    for axis in (ax.xaxis, ax.yaxis):  # tick labels are made anew at each draw
        ticks = axis.get_major_ticks()[:1]
        size = ticks[0].label1.get_fontsize() if ticks else pt
        axis.set_tick_params(which="both", labelsize=max(size, pt))
    return ax


def plot_history(
    history: Mapping,
    ax=None,
    *,
    metrics: Sequence[str] = LOSSES,
    label: str | None = None,
    stop=None,
    best: bool = True,
    color=None,
):
    """Draw metrics against epoch, with the best epoch (a dot) and the stop epoch (a line).

    Parameters
    ----------
    history : mapping
        Metric name -> per-epoch floats (a `History` or a plain dict).
    ax : matplotlib Axes, optional
        Where to draw; a new figure's Axes when None.
    metrics : sequence of str
        Columns to draw; missing ones are skipped. Training curves are dashed.
    label : str, optional
        Run name put in front of each legend entry (for overlaying runs).
    stop : Stop, optional
        Where to draw the stop line; defaults to ``history.stop`` when the history has one.
    best : bool
        Mark the best epoch of the last validation metric drawn (or of ``history.monitor``).
    color : optional
        One colour for all of this run's lines (used when overlaying runs).

    Returns
    -------
    matplotlib Axes
    """
    check_history(history, "history" if label is None else f"run {label!r}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5))
    epochs = epochs_of(history)
    drawn = [m for m in metrics if history.get(m)]
    lines = {}
    for m in drawn:
        style = "--" if m.startswith("train") else "-"
        name = f"{label} {_label(m)}" if label else _label(m)
        kw = {} if color is None else {"color": color}
        (lines[m],) = ax.plot(epochs[: len(history[m])], history[m], style, label=name, **kw)
    if best and drawn:
        monitor = getattr(history, "monitor", None)
        if monitor not in drawn:
            monitor = next((m for m in reversed(drawn) if not m.startswith("train")), drawn[-1])
        found = best_of(history[monitor], mode_of(monitor, history))
        if found is not None:
            ax.plot(
                epochs[found[0] - 1],
                found[1],
                "o",
                color=lines[monitor].get_color(),
                label=f"{label + ' ' if label else ''}best {_label(monitor)} @ {epochs[found[0] - 1]}",
            )
    stop = stop if stop is not None else getattr(history, "stop", None)
    if stop is not None:
        first = lines[drawn[-1]].get_color() if drawn else "k"
        _draw_stop(ax, stop, color if color is not None else first, label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy" if drawn and all("acc" in m for m in drawn) else "loss")
    if drawn:
        legend_beside(ax)
    return readable(ax)


def plot_accuracy(history: Mapping, ax=None, **kw):
    """Draw the accuracy curves (train dashed, validation and test solid).

    Parameters
    ----------
    history : mapping
        Needs ``train_acc``/``val_acc`` (``test_acc`` is drawn too when present).
    ax : matplotlib Axes, optional
        Where to draw.
    **kw
        Passed to `plot_history` (label, stop, best, color).

    Returns
    -------
    matplotlib Axes
    """
    kw.setdefault("metrics", (*ACCURACIES, "test_acc"))
    return plot_history(history, ax, **kw)


def plot_runs(runs: Mapping[str, Mapping], ax=None, *, metric: str = "val_loss", best=True):
    """Overlay one metric of several runs on one Axes, one colour per run.

    Parameters
    ----------
    runs : mapping of str to history
        Label -> history, e.g. ``{"no BN": h1, "BN": h2}``.
    ax : matplotlib Axes, optional
        Where to draw.
    metric : str
        The column to compare.
    best : bool
        Mark each run's best epoch.

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5))
    for i, (name, history) in enumerate(runs.items()):
        plot_history(history, ax, metrics=(metric,), label=name, best=best, color=f"C{i}")
    ax.set_title(_label(metric))
    return readable(ax)


def png_bytes(fig, *, draw: bool = True) -> bytes:
    """Encode a figure's Agg canvas as PNG, fast: no row filters, the fastest zlib level.

    Pillow's encoder tries filters on every row, which took most of a slider update's time;
    a plot's flat colours compress well enough without them (these images are small).

    Parameters
    ----------
    fig : matplotlib Figure
        A figure with an Agg canvas (``FigureCanvasAgg(fig)``).
    draw : bool
        Redraw everything first; pass False after blitting a few artists onto the canvas.

    Returns
    -------
    bytes
    """
    import numpy as np

    if draw:
        fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return encode_png(rgba[..., :3])


def encode_png(pixels) -> bytes:
    """A PNG of an (height, width, 3) uint8 RGB or (height, width, 4) RGBA array.

    >>> import io, numpy as np
    >>> from PIL import Image
    >>> px = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    >>> (np.asarray(Image.open(io.BytesIO(encode_png(px)))) == px).all()
    np.True_
    """
    import struct
    import zlib

    import numpy as np

    height, width, channels = pixels.shape
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # byte 0 of a row: filter 0
    rows[:, 1:] = pixels.reshape(height, -1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
        + chunk(b"IEND", b"")
    )


def agg_figure(figsize=(7, 3), dpi: int = 80, ncols: int = 1, layout="constrained"):
    """A figure that pyplot does not track (so the inline backend never shows it twice).

    Returns
    -------
    (Figure, list of Axes)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


class WithPicture:
    """Show an ipywidget with a PNG of `fig` in the same output (see `with_picture`)."""

    def __init__(self, widget, fig):
        self.widget, self.fig = widget, fig

    def _repr_mimebundle_(self, **kwargs) -> dict:
        import base64

        data = dict(self.widget._repr_mimebundle_(**kwargs))
        data["image/png"] = base64.b64encode(png_bytes(self.fig)).decode("ascii")
        return data


def with_picture(widget, fig) -> WithPicture:
    """`widget` to show in a notebook, with a PNG of `fig` (its picture now) beside it.

    A live session draws the widget; a notebook opened fresh (untrusted), GitHub's viewer
    and nbval show the picture instead of the widget's text (``VBox(children=...)``).

    Parameters
    ----------
    widget : ipywidgets.Widget
        What to show while the kernel runs.
    fig : matplotlib Figure
        The figure the widget draws (an Agg canvas, as from `agg_figure`).

    Returns
    -------
    WithPicture
        Make it the last expression of a cell, or pass it to ``display``.
    """
    return WithPicture(widget, fig)


__all__ = [
    "WithPicture",
    "agg_figure",
    "best_of",
    "encode_png",
    "epochs_of",
    "font_pt",
    "legend_beside",
    "mode_of",
    "plot_accuracy",
    "plot_history",
    "plot_runs",
    "png_bytes",
    "readable",
    "with_picture",
]
