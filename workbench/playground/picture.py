"""A still picture of a playground: the decision boundary with the points, and the losses.

This is what a saved notebook shows (the live view is drawn by the browser and is gone when
the notebook is reopened), what the lesson displays under nbval, and the README screenshot's
fallback. It is drawn with matplotlib on an Agg figure that pyplot does not track.
"""

from __future__ import annotations

import math

from workbench.data.problems import LIMIT
from workbench.views.plots import agg_figure, png_bytes

# the ends of the heat map's "RdBu" (as in the live view): red for class 0, blue for class 1;
# training points in these colours, validation points paler with a dark edge
CLASS_COLORS = ("#b2182b", "#2166ac")
PALE_COLORS = ("#f4a582", "#92c5de")


def draw_boundary(ax, probabilities, split, *, title: str = ""):
    """P(class 1) as a heat map, training points filled, validation points as rings.

    Parameters
    ----------
    ax : matplotlib Axes
    probabilities : (r, r) array
        From ``pg.boundary(r)``, top row first.
    split : problems.Split
        The points.
    title : str
        Text over the map.

    Returns
    -------
    Axes
    """
    ax.imshow(
        probabilities, extent=(-LIMIT, LIMIT, -LIMIT, LIMIT), cmap="RdBu", vmin=0, vmax=1,
        alpha=0.45, interpolation="bilinear",
    )  # fmt: skip
    for X, y, colors, edge, label in (
        (split.X_train, split.y_train, CLASS_COLORS, "white", "train"),
        (split.X_val, split.y_val, PALE_COLORS, "#222222", "validation"),
    ):
        fill = [colors[int(c)] for c in y]
        ax.scatter(*X.T, c=fill, s=16, edgecolors=edge, linewidths=0.6, label=label)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_xlim(-LIMIT, LIMIT)
    ax.set_ylim(-LIMIT, LIMIT)
    ax.set_aspect("equal")
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])
    ax.set_title(title, fontsize="medium", loc="left")
    return ax


def draw_losses(ax, history, *, trace: dict | None = None, stop=None):
    """Train (dashed) and validation (solid) loss, the stop as a dotted line, the events as
    ticks along the top, and the rule's trace (e.g. Patience's wait) on a second axis.

    Returns
    -------
    Axes
    """
    epochs = history["epoch"]
    ax.plot(epochs, history["train_loss"], "--", color="tab:blue", label="train")
    ax.plot(epochs, history["val_loss"], "-", color="tab:orange", label="validation")
    finite = [v for k in ("train_loss", "val_loss") for v in history[k] if math.isfinite(v)]
    if finite:
        ax.set_ylim(0, min(max(finite), 5 * min(finite) + 1.0) * 1.1)
    for text in getattr(history, "events", []):
        at = int(text.split(":")[0].split()[1])
        ax.axvline(at + 0.5, color="0.6", lw=0.8, ymin=0.93)
    if stop is not None:
        ax.axvline(stop.epoch, color="k", ls=":", lw=1.5, label=f"stop: {stop.rule}")
    if trace:
        (name, values), twin = next(iter(trace.items())), ax.twinx()
        twin.plot(
            epochs[-len(values) :] if values else [],
            values,
            color="0.55",
            lw=1,
            drawstyle="steps-mid",
        )
        twin.set_ylabel(name.split(".")[-1], color="0.45", fontsize="small")
        twin.tick_params(labelsize="small", colors="0.45")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_xlim(0, max(len(epochs), 10) + 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return ax


def picture(pg, *, resolution: int = 60, figsize=(8.5, 3.4), dpi: int = 80):
    """The playground's state now as a figure: boundary and points, losses and the stop.

    Returns
    -------
    matplotlib Figure
    """
    with pg._lock:  # a consistent state while a worker may be training
        probabilities = pg.boundary(resolution)
        history, split, run = pg.history, pg.split, pg.run
        trace = run.trace()
        h = {k: list(v) for k, v in history.items()}
        stop, events = history.stop, list(history.events)
    fig, (ax_map, ax_loss) = agg_figure(figsize, dpi, 2, layout=None)
    fig.subplots_adjust(left=0.05, right=0.92, bottom=0.15, top=0.86, wspace=0.25)
    acc = f"  val acc {h['val_acc'][-1]:.2f}" if h["epoch"] else ""
    draw_boundary(ax_map, probabilities, split, title=f"epoch {len(h['epoch'])}{acc}")
    draw_losses(ax_loss, _Events(h, events), trace=trace, stop=stop)
    if stop is not None:
        fig.suptitle(
            _wrap(f"stopped after epoch {stop.epoch}: {stop.reason}"),
            fontsize="small",
            x=0.5,
            y=0.99,
        )
    return fig


def png(pg, **kw) -> bytes:
    """`picture` as PNG bytes."""
    return png_bytes(picture(pg, **kw))


class _Events(dict):
    def __init__(self, metrics, events):
        super().__init__(metrics)
        self.events = events


def _wrap(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


__all__ = ["draw_boundary", "draw_losses", "picture", "png"]
