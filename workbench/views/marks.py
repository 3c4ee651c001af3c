"""The explorer's stop markers, drawn in the browser over a matplotlib picture of the curves.

A dragged slider needs no round trip to the kernel: the kernel sends, for each slider,
where the rule would stop at every value of that slider (the other sliders held), and the
page draws the marker from that table at once (`static/explore_marks.js`). The kernel's
own answer (`marks`) follows and is what the numbers below the plot say. Measured in
Chromium on a loaded machine, a slider-to-HTML round trip alone took a median 65 ms; the
page's table lookup paints in a few milliseconds.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import anywidget
import traitlets

REFRESH_S = 0.25  # the other sliders' tables are recomputed once a drag pauses this long


class MarkLayer(anywidget.AnyWidget):
    """A transparent canvas over the explorer's picture that draws the stop markers.

    Traits (all synced to the page): ``geometry`` (the picture's size in pixels and, per
    Axes, its pixel box ``x0, x1, y0, y1`` from the top left and its ``xlim``/``ylim``),
    ``marks`` (per rule: ``color``, ``epoch`` or None, ``y`` of the dot, ``dot_axis``),
    ``tables`` (per rule: slider name -> ``values``, ``epochs``, ``ys`` and ``at``, the
    other sliders' values they hold for), ``sliders`` (per rule: name -> slider model id).
    """

    # the text, not the path, as for ChartWidget: a file's hot-reload hook keeps each alive
    _esm = (Path(__file__).parent / "static" / "explore_marks.js").read_text(encoding="utf-8")
    geometry = traitlets.Dict().tag(sync=True)
    marks = traitlets.List().tag(sync=True)
    tables = traitlets.List().tag(sync=True)
    sliders = traitlets.List().tag(sync=True)


def geometry(fig, axes) -> dict:
    """Pixel boxes and data limits of `axes` in `fig`, for drawing over its picture.

    Returns
    -------
    dict
        ``width``, ``height`` and ``axes``: one ``{x0, x1, y0, y1, xlim, ylim}`` each,
        pixels counted from the top left as in the browser.
    """
    height = fig.bbox.height
    return {
        "width": round(fig.bbox.width),
        "height": round(height),
        "axes": [
            {
                "x0": ax.bbox.x0, "x1": ax.bbox.x1,
                "y0": height - ax.bbox.y1, "y1": height - ax.bbox.y0,
                "xlim": list(ax.get_xlim()), "ylim": list(ax.get_ylim()),
            }
            for ax in axes
        ],
    }  # fmt: skip


def stop_at(rule, history, curve) -> tuple:
    """(stop epoch or None, the monitored value there or None) of `rule` on `history`."""
    try:
        stop = rule(history)
    except (KeyError, ValueError):
        return None, None
    if stop is None:
        return None, None
    ys = curve.get_ydata() if curve is not None else []
    y = float(ys[stop.epoch - 1]) if stop.epoch <= len(ys) else None
    return stop.epoch, y if y is not None and math.isfinite(y) else None


def table(rule, name: str, values, history, curve) -> dict:
    """Where `rule` stops for each of `values` of its parameter `name`, the others held."""
    epochs, ys = [], []
    for value in values:
        try:
            epoch, y = stop_at(rule.replace(**{name: value}), history, curve)
        except (TypeError, ValueError):
            epoch, y = None, None
        epochs.append(epoch)
        ys.append(y)
    at = {k: getattr(rule, k) for k in type(rule).params() if hasattr(rule, k)}
    return {"values": list(values), "epochs": epochs, "ys": ys, "at": at}


def later(seconds: float, callback, previous=None):
    """Run `callback` after `seconds` on the kernel's event loop (replacing `previous`);
    at once where no loop runs (a script, a test). Returns the handle, or None."""
    if previous is not None:
        previous.cancel()
    try:  # ipykernel handles comm messages in a coroutine on its event loop
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return None
    return loop.call_later(seconds, callback)


__all__ = ["REFRESH_S", "MarkLayer", "geometry", "later", "stop_at", "table"]
