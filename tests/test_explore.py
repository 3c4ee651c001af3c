import math

import pytest

from workbench import History
from workbench.explore.explorer import default_rule, explore, summary, tunable_rules
from workbench.stopping import GeneralizationLoss, Patience, RelativeChange, Threshold

pytest.importorskip("ipywidgets")


def u_shaped(n=40, bottom=15, seed_shift=0):
    e = range(1, n + 1)
    return History(
        {
            "epoch": list(e),
            "train_loss": [1 / k + 0.01 for k in e],
            "val_loss": [0.5 + (k - bottom - seed_shift) ** 2 / 1000 for k in e],
            "val_acc": [0.9 - (k - bottom) ** 2 / 10000 for k in e],
            "test_acc": [0.88 - (k - bottom + 2) ** 2 / 10000 for k in e],
        }
    )


def test_summary_reports_the_stop_and_the_scores_there():
    s = summary(u_shaped(), Patience(5))
    assert s["stop_epoch"] == 20 and s["epoch"] == 20
    assert s["epochs_saved"] == 20 and s["epochs"] == 40
    assert s["best_epoch"] == 15 and s["restored_epoch"] == 15
    assert s["value"] == pytest.approx(0.525)
    assert s["test_metric"] == "test_acc"
    assert s["best_test_epoch"] == 13 and s["best_test"] == pytest.approx(0.88)
    assert s["test"] == pytest.approx(0.88 - 49 / 10000)
    assert s["test_at_best"] == pytest.approx(0.88 - 4 / 10000)
    assert "did not improve" in s["reason"]


def test_summary_when_the_rule_never_fires():
    s = summary(u_shaped(), Patience(50))
    assert s["stop_epoch"] is None and s["reason"] is None
    assert s["epoch"] == 40 and s["epochs_saved"] == 0


def test_summary_falls_back_to_test_loss_and_works_on_plain_dicts():
    h = {"val_loss": [1.0, 0.5, 0.6, 0.7], "test_loss": [1.1, 0.6, 0.55, 0.8]}
    s = summary(h, Patience(2))
    assert (s["test_metric"], s["test"], s["best_test"], s["best_test_epoch"]) == (
        "test_loss",
        0.8,
        0.55,
        3,
    )
    assert summary({"val_loss": [1.0]}, Patience(1))["test_metric"] is None


def test_tunable_rules_have_sliders_and_defaults_fit_the_data():
    rules = tunable_rules()
    assert "Patience" in rules and "NonFinite" not in rules
    h = u_shaped()
    t = default_rule(Threshold, h)
    assert min(h["val_loss"]) <= t.threshold <= max(h["val_loss"])


def test_explore_shows_the_stop_epoch_and_moves_the_marker():
    w = explore(u_shaped(), Patience(5))
    assert w.result.epoch == 20 and w.stop_marker_x == 20
    assert "<b>20</b>" in w.html.value
    before = w.picture()
    w.sliders["patience"].value = 3
    assert w.result.epoch == 18 and w.stop_marker_x == 18
    assert "<b>18</b>" in w.html.value and "22 of 40" in w.html.value
    assert w.picture() != before and w.picture().startswith(b"\x89PNG")
    assert w.layer.marks[0]["epoch"] == 18, "the page draws the marker where the rule stops"
    assert w.summaries[0]["epochs_saved"] == 22


def test_min_delta_slider_changes_the_rule():
    w = explore(u_shaped(), Patience(5))
    w.sliders["min_delta"].value = 0.01
    assert w.slots[0].rule.min_delta == pytest.approx(0.01)
    assert w.result.epoch < 20


def test_never_stops_is_said_in_words_and_hides_the_marker():
    w = explore(u_shaped(), Patience(5))
    w.sliders["patience"].value = 30
    assert w.result is None and w.stop_marker_x is None
    assert "never stops within 40 epochs" in w.html.value


def test_dropdown_switch_rebuilds_the_sliders():
    w = explore(u_shaped(), Patience(5))
    w.dropdown.value = "GeneralizationLoss"
    assert list(w.sliders) == ["alpha"]
    assert isinstance(w.slots[0].rule, GeneralizationLoss)
    assert w.result is not None and w.stop_marker_x == w.result.epoch
    w.sliders["alpha"].value = 1.0
    assert w.result.epoch == summary(u_shaped(), GeneralizationLoss(1.0))["stop_epoch"]
    w.dropdown.value = "Threshold"
    slider = w.sliders["threshold"]
    assert slider.min == pytest.approx(0.5) and slider.max > slider.min
    w.dropdown.value = "RelativeChange"
    assert isinstance(w.slots[0].rule, RelativeChange) and "tol" in w.sliders


def test_sliders_start_at_the_rules_values():
    w = explore(u_shaped(), Patience(7, min_delta=0.002))
    assert w.sliders["patience"].value == 7
    assert w.sliders["min_delta"].value == pytest.approx(0.002)


def test_rules_side_by_side_each_with_its_own_marker_and_colour():
    h = u_shaped()
    w = explore(h, rules=[Patience(5), GeneralizationLoss(5)])
    assert w.stop_markers_x == [20, summary(h, GeneralizationLoss(5))["stop_epoch"]]
    colors = {s.color for s in w.slots}
    assert len(colors) == 2
    assert all(c in w.html.value for c in colors)
    w.slots[1].sliders["alpha"].value = 0.5
    assert w.stop_markers_x[0] == 20  # the other rule is left alone
    assert w.stop_markers_x[1] == summary(h, GeneralizationLoss(0.5))["stop_epoch"]


def test_several_runs_pick_one_and_average_over_the_seeds():
    runs = {"seed 0": u_shaped(), "seed 1": u_shaped(seed_shift=5)}
    w = explore(runs, Patience(5))
    assert w.result.epoch == 20
    assert "averaged over the 2 repeats (seed 0, seed 1)" in w.html.value, (
        "runs labelled only by their seed are repeats of one setting: their mean is shown"
    )
    w.run_picker.value = "seed 1"
    assert w.result.epoch == 25 and w.stop_marker_x == 25
    assert explore([u_shaped(), u_shaped()]).run == "run 1"


def test_runs_of_different_settings_are_never_averaged():
    """A BN run and a plain run are two settings: their mean would describe neither."""
    w = explore({"BN": u_shaped(), "no BN": u_shaped(seed_shift=5)}, Patience(5))
    assert "averaged" not in w.html.value, "a BN run must not be averaged with a plain one"
    assert "No averages" in w.html.value and "repeats=True" in w.html.value
    w = explore({"BN": u_shaped(), "no BN": u_shaped(seed_shift=5)}, repeats=True)
    assert "averaged over the 2 repeats" in w.html.value, "repeats=True says they are repeats"
    w = explore({"seed 0": u_shaped(), "seed 1": u_shaped()}, repeats=False)
    assert "averaged" not in w.html.value, "repeats=False: every run is its own setting"


def test_repeats_given_per_setting_average_within_the_setting_only():
    bn = [u_shaped(), u_shaped(seed_shift=2), u_shaped(seed_shift=4)]
    w = explore({"BN": bn, "no BN": [u_shaped(bottom=30)]}, Patience(5))
    assert list(w.run_picker.options) == ["BN #1", "BN #2", "BN #3", "no BN #1"]
    assert "averaged over the 3 repeats of BN" in w.html.value
    assert "stops after epoch 22.0" in w.html.value, "mean of 20, 22 and 24"
    w.run_picker.value = "no BN #1"
    assert "averaged" not in w.html.value, "one plain run: nothing to average, no BN mixed in"
    assert "one run" in w.html.value


def test_a_rule_on_a_missing_metric_says_so():
    h = u_shaped()
    del h["train_loss"]
    w = explore(h, RelativeChange(0.01))
    assert w.result is None and w.stop_marker_x is None
    assert "no metric" in w.html.value and "train_loss" in w.html.value


def test_the_widget_displays_as_a_box_with_a_picture_beside_it():
    """Without the widget state (a fresh checkout, GitHub) the PNG shows, never VBox(...)."""
    import base64

    import ipywidgets as W

    w = explore(u_shaped())
    assert isinstance(w.widget, W.VBox)
    bundle = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG") and png == w.picture(), "the picture of its state"
    assert "VBox" not in bundle["text/plain"] and "stops after epoch 20" in bundle["text/plain"]


def test_nan_in_the_history_is_survived():
    h = u_shaped()
    h["val_loss"][30] = math.nan
    w = explore(h, Patience(5))
    w.sliders["patience"].value = 20
    assert w.html.value


def test_summary_restores_by_the_runs_monitor_not_the_rules():
    # RelativeChange watches train_loss, but fit(restore_best=True) restores by val_loss.
    from workbench import stopping
    from workbench.explore.explorer import summary

    h = {
        "train_loss": [1.0, 0.5, 0.3, 0.299, 0.2],
        "val_loss": [0.9, 0.4, 0.6, 0.7, 0.8],
        "test_acc": [0.5, 0.9, 0.7, 0.6, 0.5],
    }
    s = summary(h, stopping.RelativeChange(0.01))
    assert s["stop_epoch"] == 4 and s["restored_epoch"] == 2
    assert s["test_restored"] == 0.9 and s["test_at_best"] == 0.9


def test_the_table_gives_the_test_score_of_what_restore_best_loads():
    """The row students need most: the model restore_best would hand back, and its score."""
    w = explore(u_shaped(), Patience(5))
    s = w.summaries[0]
    assert s["restored_epoch"] == 15 and s["test_restored"] == pytest.approx(0.8796)
    assert "restore_best loads" in w.html.value
    assert "test_acc 0.8796</b> (the weights of epoch 15, the best up to the stop)" in w.html.value
    w.sliders["patience"].value = 30  # never stops: restore_best loads the best of the run
    assert "(the weights of epoch 15," in w.html.value


def test_sliders_get_room_and_labels_fit():
    h = u_shaped(n=40)
    w = explore(h, Patience(5))
    patience = w.sliders["patience"]
    assert patience.max <= 40, "a patience beyond the run's 40 epochs only squeezes the steps"
    for name, slider in w.sliders.items():
        width = float(slider.style.description_width.removesuffix("em"))
        assert width >= 0.6 * len(name) + 1, f"label {name!r} would be cut at {width} em"
    assert w.slots[0].box.layout.min_width, "a slot needs a minimum width for its sliders"


def test_the_rule_text_shows_values_as_the_slider_does():
    """Not threshold=0.506104 beside a slider reading 0.51."""
    h = u_shaped()
    h["val_loss"] = [v + 0.000104 for v in h["val_loss"]]  # a range with an ugly minimum
    w = explore(h, Patience(5))
    w.dropdown.value = "Threshold"
    slider = w.sliders["threshold"]
    for value in (slider.value, slider.min + 7 * slider.step):
        slider.value = value
        shown = format(slider.value, slider.readout_format)
        assert w.slots[0].rule.threshold == float(shown), f"rule {w.slots[0].rule} vs {shown}"
        assert f"Threshold(threshold={shown})" in w.html.value, w.html.value[:300]
    w.dropdown.value = "Patience"
    w.sliders["min_delta"].value = 0.003
    assert "min_delta=0.003," in w.html.value and w.slots[0].rule.min_delta == 0.003


def test_opens_with_the_rule_the_run_was_trained_with():
    h = u_shaped()
    h.rule, h.stop = Patience(10, min_delta=0.001), Patience(10, min_delta=0.001)(h)
    w = explore(h)
    assert w.slots[0].rule == Patience(10, min_delta=0.001), "not the default Patience(5)"
    assert w.sliders["patience"].value == 10 and w.result == h.stop
    h.rule = GeneralizationLoss(3) | Patience(7)
    assert [s.rule for s in explore(h).slots] == [GeneralizationLoss(3), Patience(7)]
    loaded = History.from_dict(h.to_dict())  # from a file: only the rule's name survives
    loaded.stop = GeneralizationLoss(3)(h)
    assert isinstance(explore(loaded).slots[0].rule, GeneralizationLoss)


def test_fit_records_its_rule_for_the_explorer():
    import workbench as wb

    data = wb.data.load("digits", seed=0, train_size=150, label_noise=0.3)
    model = wb.models.MLP((64, 32, 10), seed=0)
    history = wb.fit(model, data, epochs=40, lr=1e-2, stop=Patience(3, min_delta=0.01))
    assert history.rule == Patience(3, min_delta=0.01)
    w = explore(history)
    assert w.sliders["patience"].value == 3 and w.result == history.stop


class _AutoRule:
    """A rule that leaves the direction to the metric's name, as mode="auto" does."""

    monitor, mode = "val_acc", "auto"

    def __call__(self, history):
        return None


def test_accuracy_histories_report_the_highest_as_best():
    """mode "auto": higher is better for accuracies, lower for losses."""
    h = u_shaped()  # val_acc peaks at 15, val_loss bottoms at 15
    h["val_acc"] = [0.5 + k / 100 for k in range(1, 41)]  # rising: the best is the last
    s = summary(h, _AutoRule())
    assert (s["mode"], s["best_epoch"]) == ("max", 40), "best accuracy is the highest"
    auto = History(dict(h), monitor="val_loss", mode="auto")  # as fit records with "auto"
    s = summary(auto, Patience(5))
    assert s["restored_epoch"] == 15, "restore_best loads the lowest val_loss, not the highest"
    acc = History(dict(h), monitor="val_acc", mode="auto")
    assert summary(acc, Patience(50))["restored_epoch"] == 40, "the highest val_acc"


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: explore(u_shaped(), rules=[]), ["rules is empty", "rules=[Patience(5)"]),
        (lambda: explore(u_shaped(), rules=[5]), ["rules[0] is 5", "workbench.stopping"]),
        (lambda: explore(u_shaped(), rules=Patience(5)), ["list of stop rules", "rule=..."]),
        (lambda: explore({"epoch": [1, 2], "val_loss": [0.5] * 5}), ["'epoch'] has 2 rows", "row 3 of 'epoch' is missing", "leave the 'epoch' column out"]),
        (lambda: explore({"val_loss": [0.5, "0.4", 0.3]}), ["['val_loss'] holds '0.4' (str) in row 2", "float("]),
        (lambda: explore({"val_loss": [0.5, None]}), ["None (NoneType) in row 2", "float('nan')"]),
        (lambda: explore({"val_loss": 0.5}), ["not a list of per-epoch numbers"]),
        (lambda: explore({"val_loss": []}), ["no recorded epochs"]),
        (lambda: explore([u_shaped(), "run"]), ["'run 2'", "not a recorded run"]),
        (lambda: explore(u_shaped(), test_metric="test_f1"), ["'test_f1' is not recorded"]),
        (lambda: explore(u_shaped(), repeats="yes"), ["repeats must be True, False or None"]),
    ],
)  # fmt: skip
def test_bad_input_names_the_problem_and_what_to_do(call, words):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_the_explorer_figure_is_readable_on_a_projector():
    from matplotlib.text import Text

    w = explore(u_shaped(), rules=[Patience(5), GeneralizationLoss(5)])
    fig = w.fig
    fig.canvas.draw()
    small = [
        (t.get_text(), t.get_fontsize() * fig.dpi / 72)
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() * fig.dpi / 72 < 11
    ]
    assert small == [], f"texts under 11 px: {small}"
    legend = fig.legends[0].get_window_extent() if fig.legends else None
    assert legend is not None, "one legend for the whole figure"
    for ax in fig.axes:
        assert not ax.bbox.overlaps(legend), "a stop marker would be drawn across the legend"
    inside = fig.bbox
    labels = [t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)]
    for t in [t for t in labels + fig.legends[0].get_texts() if t.get_text()]:
        box = t.get_window_extent()
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, f"{t.get_text()!r} is clipped"
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1, f"{t.get_text()!r} is clipped"


@pytest.mark.parametrize(
    "module",
    ["workbench.explore.replay", "workbench.explore.sliders", "workbench.explore.explorer"],
)
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0, f"{result.failed} doctest(s) of {module} failed"


def test_the_page_gets_where_every_slider_value_stops():
    """A dragged slider is drawn from these tables at once, without asking the kernel."""
    h = u_shaped()
    w = explore(h, Patience(5))
    table = w.layer.tables[0]["patience"]
    assert table["values"] == list(range(1, 41))
    for value, epoch in zip(table["values"], table["epochs"], strict=True):
        stop = Patience(value)(h)
        assert epoch == (stop.epoch if stop else None), f"patience {value}"
    assert table["at"]["min_delta"] == 0.0, "the table holds for the other sliders' values"
    w.sliders["min_delta"].value = 0.01
    assert w.layer.tables[0]["patience"]["at"]["min_delta"] == 0.01, "remade for the new delta"
    stop = Patience(7, min_delta=0.01)(h)
    assert w.layer.tables[0]["patience"]["epochs"][6] == stop.epoch
    geometry = w.layer.geometry
    size = (round(w.fig.bbox.width), round(w.fig.bbox.height))
    assert (geometry["width"], geometry["height"]) == size, "the canvas covers the picture"
    assert len(geometry["axes"]) == 2 and geometry["axes"][0]["xlim"][0] < 1
    assert w.layer.sliders[0]["patience"] == f"IPY_MODEL_{w.sliders['patience'].model_id}"


def test_a_slider_of_another_rule_says_which_rule_is_picked():
    """Lesson 03 re-run after the dropdown moved on: say why there is no 'patience' slider."""
    from workbench.explore.sliders import NoSlider

    w = explore(u_shaped(), Patience(5))
    w.dropdown.value = "GeneralizationLoss"
    with pytest.raises(NoSlider) as info:
        w.sliders["patience"]
    assert "now tunes GeneralizationLoss" in str(info.value)
    assert "explorer.dropdown.value = 'Patience'" in str(info.value)
    assert isinstance(info.value, KeyError), "still a KeyError, as before"


def test_the_best_in_the_table_and_in_the_note_are_named_apart():
    """The note's best is up to the stop; the table's is over the whole run (lesson 06)."""
    h = u_shaped()
    h["val_loss"][34] = 0.1  # a later, better epoch that Patience(5) never reaches
    w = explore(h, Patience(5))
    assert "best of the whole run 0.1 @ 35" in w.html.value
    assert "best 0.5 at epoch 15" in w.html.value and "the best up to the stop" in w.html.value


def test_summary_of_an_accuracy_rule_takes_the_highest_as_best():
    h = {"val_acc": [0.3, 0.6, 0.8, 0.7, 0.75, 0.74], "test_acc": [0.3, 0.6, 0.8, 0.7, 0.7, 0.7]}
    s = summary(h, Patience(2, monitor="val_acc"))  # mode "auto": higher is better
    assert s["stop_epoch"] == 5, "val_acc peaked at epoch 3, so patience 2 stops at epoch 5"
    assert s["best_epoch"] == 3, "the best accuracy is the highest one (0.8 at epoch 3)"
