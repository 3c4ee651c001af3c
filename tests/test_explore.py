import math

import pytest

from workbench import History
from workbench.explore import default_rule, explore, summary, tunable_rules
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
    before = w.image.value
    w.sliders["patience"].value = 3
    assert w.result.epoch == 18 and w.stop_marker_x == 18
    assert "<b>18</b>" in w.html.value and "22 of 40" in w.html.value
    assert bytes(w.image.value) != bytes(before) and bytes(w.image.value).startswith(b"\x89PNG")
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


def test_several_runs_pick_one_and_average_over_all():
    runs = {"seed 0": u_shaped(), "seed 1": u_shaped(seed_shift=5)}
    w = explore(runs, Patience(5))
    assert w.result.epoch == 20
    assert "over all 2 runs" in w.html.value
    w.run_picker.value = "seed 1"
    assert w.result.epoch == 25 and w.stop_marker_x == 25
    assert explore([u_shaped(), u_shaped()]).run == "run 1"


def test_a_rule_on_a_missing_metric_says_so():
    h = u_shaped()
    del h["train_loss"]
    w = explore(h, RelativeChange(0.01))
    assert w.result is None and w.stop_marker_x is None
    assert "no metric" in w.html.value and "train_loss" in w.html.value


def test_the_widget_displays_as_a_box():
    import ipywidgets as W

    w = explore(u_shaped())
    assert isinstance(w.widget, W.VBox)
    bundle = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_nan_in_the_history_is_survived():
    h = u_shaped()
    h["val_loss"][30] = math.nan
    w = explore(h, Patience(5))
    w.sliders["patience"].value = 20
    assert w.html.value


def test_summary_restores_by_the_runs_monitor_not_the_rules():
    # RelativeChange watches train_loss, but fit(restore_best=True) restores by val_loss.
    from workbench import stopping
    from workbench.explore import summary

    h = {
        "train_loss": [1.0, 0.5, 0.3, 0.299, 0.2],
        "val_loss": [0.9, 0.4, 0.6, 0.7, 0.8],
        "test_acc": [0.5, 0.9, 0.7, 0.6, 0.5],
    }
    s = summary(h, stopping.RelativeChange(0.01))
    assert s["stop_epoch"] == 4 and s["restored_epoch"] == 2
    assert s["test_restored"] == 0.9 and s["test_at_best"] == 0.9


def test_summary_of_an_accuracy_rule_takes_the_highest_as_best():
    h = {"val_acc": [0.3, 0.6, 0.8, 0.7, 0.75, 0.74], "test_acc": [0.3, 0.6, 0.8, 0.7, 0.7, 0.7]}
    s = summary(h, Patience(2, monitor="val_acc"))  # mode "auto": higher is better
    assert s["stop_epoch"] == 5, "val_acc peaked at epoch 3, so patience 2 stops at epoch 5"
    assert s["best_epoch"] == 3, "the best accuracy is the highest one (0.8 at epoch 3)"
