import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from workbench import History
from workbench.stopping import Stop
from workbench.views.plots import (
    agg_figure,
    best_of,
    epochs_of,
    mode_of,
    plot_accuracy,
    plot_history,
    plot_runs,
    png_bytes,
)


def u_shaped(n=30, bottom=12):
    h = History(
        {
            "epoch": list(range(1, n + 1)),
            "train_loss": [1 / e for e in range(1, n + 1)],
            "val_loss": [0.5 + (e - bottom) ** 2 / 500 for e in range(1, n + 1)],
            "train_acc": [1 - 1 / (e + 1) for e in range(1, n + 1)],
            "val_acc": [0.9 - (e - bottom) ** 2 / 5000 for e in range(1, n + 1)],
        }
    )
    return h


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_epochs_count_from_one_without_an_epoch_column():
    assert epochs_of({"val_loss": [3.0, 2.0]}) == [1, 2]
    assert epochs_of({"epoch": [5, 6], "val_loss": [3.0, 2.0]}) == [5, 6]


@pytest.mark.parametrize(
    ("values", "mode", "expected"),
    [
        ([0.5, 0.3, 0.3, 0.4], "min", (2, 0.3)),
        ([0.5, 0.9, 0.9], "max", (2, 0.9)),
        ([math.nan, 0.4, math.inf], "min", (2, 0.4)),
        ([math.nan], "min", None),
        ([], "min", None),
    ],
)
def test_best_of(values, mode, expected):
    assert best_of(values, mode) == expected


def test_mode_of_reads_the_metric_name_and_the_history():
    assert mode_of("val_acc") == "max"
    assert mode_of("val_loss") == "min"
    assert mode_of("score", History(monitor="score", mode="max")) == "max"


def test_plot_history_returns_the_axes_with_the_curves():
    h = u_shaped()
    fig, ax = plt.subplots()
    assert plot_history(h, ax) is ax
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["validation loss"].get_xdata()) == h["epoch"]
    assert list(lines["train loss"].get_ydata()) == h["train_loss"]
    assert lines["train loss"].get_linestyle() == "--"
    best = lines["best validation loss @ 12"]
    assert list(best.get_xdata()) == [12]


def test_plot_history_draws_the_stop_line_with_its_reason():
    h = u_shaped()
    h.stop = Stop(17, "no improvement for 5 epochs", "Patience")
    ax = plot_history(h)
    stop = [line for line in ax.get_lines() if line.get_label().startswith("stop")]
    assert len(stop) == 1
    assert list(stop[0].get_xdata()) == [17, 17]
    assert "no improvement for 5 epochs" in " ".join(stop[0].get_label().split())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("stop @ 17" in t for t in legend)


def test_plot_history_takes_a_plain_dict_and_an_explicit_stop():
    ax = plot_history({"val_loss": [3.0, 2.0, 2.5]}, stop=Stop(3, "why", "R"), best=False)
    xs = [list(line.get_xdata()) for line in ax.get_lines()]
    assert xs == [[1, 2, 3], [3, 3]]


def test_plot_history_skips_missing_metrics():
    ax = plot_history({"val_loss": [1.0, 0.5]}, metrics=("train_loss", "val_loss"))
    assert [line.get_label() for line in ax.get_lines()][0] == "validation loss"


def test_plot_accuracy_marks_the_highest_validation_accuracy():
    ax = plot_accuracy(u_shaped())
    labels = [line.get_label() for line in ax.get_lines()]
    assert "validation acc" in labels
    assert "best validation acc @ 12" in labels
    assert ax.get_ylabel() == "accuracy"


def test_plot_runs_overlays_one_colour_per_run():
    ax = plot_runs({"no BN": u_shaped(bottom=10), "BN": u_shaped(bottom=20)})
    curves = [line for line in ax.get_lines() if line.get_label().endswith("validation loss")]
    assert [c.get_label() for c in curves] == ["no BN validation loss", "BN validation loss"]
    assert curves[0].get_color() != curves[1].get_color()


def test_png_bytes_of_an_untracked_figure():
    fig, axes = agg_figure((3, 2), 50, 2)
    assert len(axes) == 2
    assert plt.get_fignums() == []  # pyplot never sees it: no duplicate inline output
    axes[0].plot([1, 2], [3, 4])
    png = png_bytes(fig)
    assert png.startswith(b"\x89PNG")


def small_texts(fig, px=11):
    """Visible, non-empty texts of `fig` drawn smaller than `px` screen pixels at its dpi."""
    from matplotlib.text import Text

    fig.canvas.draw()
    return [
        (t.get_text(), round(t.get_fontsize() * fig.dpi / 72, 1))
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() * fig.dpi / 72 < px
    ]


def crossings(ax):
    """Lines of `ax` (curves, best markers, stop lines) with a point drawn inside its legend."""
    import numpy as np

    box = ax.get_legend().get_window_extent()
    crossing = []
    for line in ax.get_lines():
        xy = line.get_transform().transform(line.get_xydata())
        # points along each segment, so a line passing through the box is seen too
        pts = [
            a + (b - a) * t for a, b in zip(xy, xy[1:], strict=False) for t in np.linspace(0, 1, 30)
        ]
        pts = pts or list(xy)
        if any(box.contains(*p) for p in pts):
            crossing.append(line.get_label())
    return crossing


@pytest.mark.parametrize("dpi", [56, 72, 100])
def test_plots_are_readable_on_a_projector(dpi):
    """Every label at least 11 px at 100% zoom, whatever the figure's dpi."""
    h = u_shaped()
    h.stop = Stop(17, "val_loss did not improve by more than 0 for 5 epochs; best 0.5", "Patience")
    for draw in (plot_history, plot_accuracy):
        fig, ax = plt.subplots(figsize=(6, 3), dpi=dpi)
        draw(h, ax)
        assert small_texts(fig) == [], f"texts under 11 px at dpi {dpi}: {small_texts(fig)}"
    fig, ax = plt.subplots(figsize=(6, 3), dpi=dpi)
    plot_runs({"no BN": u_shaped(bottom=10), "BN": u_shaped(bottom=20)}, ax)
    assert small_texts(fig) == [], f"texts under 11 px at dpi {dpi}: {small_texts(fig)}"


def test_no_curve_marker_or_stop_line_crosses_the_legend():
    h = u_shaped()
    h.stop = Stop(29, "no improvement for 5 epochs", "Patience")  # a stop line at the right edge
    fig, ax = plt.subplots(figsize=(6, 3), dpi=72)
    plot_history(h, ax)
    fig.canvas.draw()
    assert crossings(ax) == [], f"drawn across the legend: {crossings(ax)}"
    fig, ax = plt.subplots(figsize=(6, 3), dpi=72)
    plot_runs({"a": u_shaped(bottom=3), "b": u_shaped(bottom=28)}, ax)
    fig.canvas.draw()
    assert crossings(ax) == [], f"drawn across the legend: {crossings(ax)}"


def test_mode_of_resolves_auto_as_fit_does():
    """A history recorded with mode="auto" is lower-is-better for a loss, higher for accuracy."""
    assert mode_of("val_loss", History(monitor="val_loss", mode="auto")) == "min"
    assert mode_of("val_acc", History(monitor="val_acc", mode="auto")) == "max"


def test_doctests():
    import doctest

    import workbench.views.plots

    result = doctest.testmod(workbench.views.plots)
    assert result.failed == 0 and result.attempted > 0, f"{result.failed} doctest(s) failed"


def test_with_picture_puts_a_png_beside_the_widget():
    import base64

    import ipywidgets as W

    from workbench.views import plots

    fig, (ax,) = plots.agg_figure((3, 2), 72)
    ax.plot([1, 2, 3])
    data = plots.with_picture(W.VBox([W.IntSlider()]), fig)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data, "the live widget is still shown"
    png = base64.b64decode(data["image/png"])
    assert png.startswith(b"\x89PNG"), "a saved notebook gets a real PNG of the figure"
