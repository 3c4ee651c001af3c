"""The static picture of a chart: the browser chart's state drawn once by matplotlib.

A saved notebook, GitHub's viewer and nbval cannot run the browser chart, so `Chart.finish`
puts this PNG beside it. It follows the same rules as the page: each panel's legend sits
above its plot (a mark never crosses it), a long title wraps instead of being clipped, the
x axis grows the same way, and every text is at least 12 pixels tall whatever the dpi
(readable on a projector).
"""

from __future__ import annotations

import math
import textwrap

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip
TEXT_PX = 12  # smallest text, in pixels
CMAPS = {"RdBu": "RdBu", "viridis": "viridis", "gray": "gray"}


def grow_x(panel: dict, last: float) -> tuple[float, float]:
    """The x range of a growing axis: room ahead of `last`, round steps, capped at x_limit.

    >>> grow_x({"x_room": 0.25}, 40), grow_x({"x_room": 0.25, "x_limit": 45}, 40)
    ((0, 50), (0, 45))
    """
    if panel.get("xlim"):
        return tuple(panel["xlim"])
    start = panel.get("x_start") or 0
    end = max(last, start + 1) * (1 + panel.get("x_room", 0.25))
    end = max(end, start + panel.get("x_min_span", 10))
    step = _nice_step(end - start, 5)
    end = math.ceil(end / step - 1e-9) * step
    if panel.get("x_limit") is not None:
        end = max(min(end, panel["x_limit"]), last)
    return start, end


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    f = raw / mag
    return (1 if f < 1.5 else 2 if f < 3 else 5 if f < 7 else 10) * mag


def _num(v) -> float:
    return math.nan if v is None else float(v)


def figure_of(state: dict, *, width: int = 760, dpi: int = 100):
    """Draw a chart state (`Chart.state()`) on a new Agg figure `width` pixels wide.

    The layout is computed here in pixels (a layout engine would double the cost of the
    picture): each row gets room for its titles and legends above, ticks and labels below.

    Returns
    -------
    matplotlib Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    spec, data = state["spec"], state["data"]
    rows = [row for row in spec["rows"] if row]
    pt = TEXT_PX * 72 / dpi  # font size in points that makes TEXT_PX pixels at this dpi
    line = TEXT_PX * 1.45  # pixels per line of text
    status = (state.get("status") or {}).get("text") or ""
    status_lines = _wrap(status, width - 16, TEXT_PX * 1.1).splitlines() if status else []
    left, right, gap, below = 62, 14, 62, 40
    boxes, y = [], len(status_lines) * line * 1.1 + (8 if status else 0)
    for row in rows:
        col_w = (width - left - right - gap * (len(row) - 1)) / len(row)
        heads = []
        for name in row:
            panel, handles = spec["panels"][name], _legend_labels(spec, name)
            titles = _wrap(panel.get("title") or "", col_w, TEXT_PX).splitlines()
            heads.append(len(titles) * line + _legend_rows(len(handles), col_w) * line + 6)
        head = max(heads)
        height = spec["height"] * max(spec["panels"][n].get("height", 1.0) for n in row)
        for c, name in enumerate(row):
            boxes.append((name, left + c * (col_w + gap), y + head, col_w, height))
        y += head + height + below
    fig = Figure(figsize=(width / dpi, y / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    if status:
        fig.text(8 / width, 1 - 6 / y, "\n".join(status_lines), fontsize=pt * 1.1, va="top")
    for name, x0, y0, w, h in boxes:
        ax = fig.add_axes((x0 / width, 1 - (y0 + h) / y, w / width, h / y))
        _draw_panel(ax, name, spec, data, pt, w)
    return fig


def _legend_labels(spec: dict, panel: str) -> list:
    return [
        layer["label"]
        for layer in spec["layers"].values()
        if layer["panel"] == panel and layer.get("label") and layer.get("visible") is not False
    ]


def _draw_panel(ax, name: str, spec: dict, data: dict, pt: float, width_px: float) -> None:
    panel = spec["panels"][name]
    ppx = 72 / ax.figure.dpi  # points per pixel: line widths and markers in pixels, as on the page
    highest = []  # thresholds (hlines) that must stay inside the y range
    log = bool(panel.get("logy"))
    last, handles = 0.0, []
    n = 0
    for lname, layer in spec["layers"].items():
        if layer["panel"] != name or layer.get("visible") is False:
            continue
        d = data.get(lname) or {}
        color = layer.get("color") or PALETTE[n % len(PALETTE)]
        n += 1
        kind, label = layer["kind"], layer.get("label") or "_"
        style = {"color": color, "label": label}
        if kind == "line" and d.get("x"):
            ys = [_num(v) for v in d["y"]]
            (h,) = ax.plot(d["x"], ys, "--" if layer.get("dash") else "-",
                           lw=layer.get("width", 2.0) * ppx, **style)  # fmt: skip
            last = max(last, max(d["x"]))
        elif kind == "points" and d.get("x"):
            cs = d.get("c")
            colors = (
                [c if isinstance(c, str) else PALETTE[int(c) % 10] for c in cs] if cs else color
            )
            h = ax.scatter(d["x"], [_num(v) for v in d["y"]], s=(2 * layer.get("size", 4) * ppx) ** 2,
                           c=colors, edgecolors=layer.get("edge") or "none", linewidths=ppx,
                           zorder=3, label=label)  # fmt: skip
            last = max(last, max(d["x"]))
        elif kind in ("vline", "hline") and d.get("x") is not None and math.isfinite(d["x"]):
            draw = ax.axvline if kind == "vline" else ax.axhline
            h = draw(d["x"], ls="--" if layer.get("dash") else "-", lw=1.5 * ppx, **style)
            if kind == "hline":
                highest.append(d["x"])
            if layer.get("text"):
                kw = {"xy": (d["x"], 1), "xycoords": ("data", "axes fraction"),
                      "xytext": (4, -4), "va": "top"} if kind == "vline" else {
                      "xy": (1, d["x"]), "xycoords": ("axes fraction", "data"),
                      "xytext": (-4, 4), "va": "bottom", "ha": "right"}  # fmt: skip
                ax.annotate(
                    layer["text"],
                    textcoords="offset points",
                    fontsize=pt,
                    color=color,
                    bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1},
                    **kw,
                )
        elif kind == "image" and d.get("z"):
            import numpy as np

            z = np.asarray(d["z"], dtype=float)
            h = ax.imshow(z, origin="lower", extent=d["extent"], aspect="auto",
                          cmap=CMAPS.get(layer.get("cmap"), "RdBu"), vmin=layer.get("vmin"),
                          vmax=layer.get("vmax"), alpha=layer.get("alpha", 1.0),
                          interpolation="bilinear" if layer.get("smooth", True) else "nearest")  # fmt: skip
            last = max(last, d["extent"][1])
        else:
            continue
        if label != "_":
            handles.append(h)
    if log:
        ax.set_yscale("log")
    if panel.get("x_grow", True) and not panel.get("xlim"):
        ax.set_xlim(*grow_x(panel, last))
    elif panel.get("xlim"):
        ax.set_xlim(*panel["xlim"])
    if panel.get("ylim"):
        ax.set_ylim(*panel["ylim"])
    elif panel.get("y_zero") and not log:
        ax.set_ylim(bottom=min(0, ax.get_ylim()[0]))
    if highest and not panel.get("ylim"):
        low, high = ax.get_ylim()
        ax.set_ylim(low, max(high, max(highest) + 0.08 * (max(highest) - low)))
    px = 72 / ax.figure.dpi  # points per pixel: pads in pixels, whatever the dpi
    ax.set_xlabel(panel.get("xlabel") or "", fontsize=pt, labelpad=3 * px)
    ax.set_ylabel(panel.get("ylabel") or "", fontsize=pt, labelpad=4 * px)
    ax.tick_params(labelsize=pt, pad=3 * px, length=4 * px)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(max(2, int(width_px // 90)), integer=True))
    if not log:  # each tick costs a few artists to lay out: as many as the page draws
        ax.yaxis.set_major_locator(MaxNLocator(max(2, int(ax.bbox.height // 45))))
    ax.grid(alpha=0.3)
    if handles:  # above the plot, so that no line or mark is ever drawn across it
        ax.legend(handles=handles, fontsize=pt, loc="lower left", bbox_to_anchor=(0, 1.0),
                  ncols=_per_row(len(handles), width_px), frameon=False, borderaxespad=0.1,
                  borderpad=0.1, handlelength=1.8, columnspacing=1.2)  # fmt: skip
    title = panel.get("title") or ""
    if title:
        rows = _legend_rows(len(handles), width_px)
        ax.set_title(_wrap(title, width_px, TEXT_PX), fontsize=pt, loc="left",
                     pad=4 + rows * TEXT_PX * 1.45 * 72 / ax.figure.dpi)  # fmt: skip


def _per_row(n: int, width_px: float) -> int:
    return max(1, min(n, int(width_px // 140)))


def _legend_rows(n: int, width_px: float) -> int:
    return math.ceil(n / _per_row(n, width_px)) if n else 0


def _wrap(text: str, width_px: float, font_px: float) -> str:
    """Wrap `text` to lines that fit `width_px` (a character is about 0.55 em wide)."""
    chars = max(20, int(width_px / (0.55 * font_px)))
    return "\n".join(textwrap.wrap(text, chars)) if len(text) > chars else text


def png_of(state: dict, *, width: int = 760, dpi: int = 100, colors: int = 96) -> bytes:
    """PNG bytes of `figure_of(state, ...)`, with at most `colors` colours.

    The picture is saved into the notebook: a palette of a few dozen colours (lines, text
    and their antialiasing) makes it 3-4 times smaller than full colour, at no visible loss.
    """
    import io

    from PIL import Image

    fig = figure_of(state, width=width, dpi=dpi)
    fig.canvas.draw()
    rgba = fig.canvas.buffer_rgba()
    image = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1)
    image = image.convert("RGB").quantize(colors, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    image.save(buf, format="png", optimize=True)
    return buf.getvalue()


__all__ = ["figure_of", "grow_x", "png_of"]
