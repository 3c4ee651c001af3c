import json
import math

import pytest

from workbench.history import History
from workbench.stopping import Stop


def test_json_round_trip_keeps_metrics_stop_and_best_epoch():
    h = History({"epoch": [1, 2, 3], "val_loss": [0.5, float("nan"), 0.4]})
    h.stop, h.best_epoch = Stop(epoch=3, reason="because", rule="Patience"), 3
    back = History.from_json(h.to_json())
    assert back == h and math.isnan(back["val_loss"][1])
    assert back.stop == h.stop and back.best_epoch == 3


def test_plain_data_and_frame():
    h = History()
    h.append(epoch=1, train_loss=1.0)
    h.append(epoch=2, train_loss=0.5)
    assert isinstance(h, dict) and h.epochs == 2
    assert h.to_frame().loc[2, "train_loss"] == 0.5
    h.truncate(1)
    assert h == {"epoch": [1.0], "train_loss": [1.0]}


def refuse(constant):
    raise ValueError(f"{constant} is not JSON")


def test_to_json_is_strict_json_and_reads_back_nan_for_null():
    h = History({"epoch": [1, 2, 3], "val_loss": [0.5, float("nan"), float("inf")]})
    text = h.to_json()
    loaded = json.loads(text, parse_constant=refuse)  # a strict parser would refuse NaN
    assert loaded["metrics"]["val_loss"] == [0.5, None, None], "NaN and inf are written as null"
    back = History.from_json(text)
    assert back["val_loss"][0] == 0.5, "finite values read back unchanged"
    assert all(math.isnan(v) for v in back["val_loss"][1:]), "null reads back as NaN"
    with pytest.raises(ValueError, match="NaN is not JSON"):
        json.loads('{"x": NaN}', parse_constant=refuse)  # the check itself can fail


# --- one shared check of every history a public function takes ----------------------------

GOOD = {"epoch": [1, 2, 3, 4, 5], "val_loss": [0.9, 0.5, 0.6, float("nan"), 0.8]}
ODD = [  # (history, words the message must hold: the column and the row)
    ({"epoch": [1, 2, 3], "val_loss": [0.9, 0.5, 0.6, 0.7, 0.8]},
     ["['epoch'] has 3 rows", "['val_loss'] has 5", "row 4 of 'epoch' is missing"]),
    ({"epoch": [1, 2, 3], "val_loss": [0.9, 0.5, 0.6], "test_acc": [0.5, 0.6]},
     ["['test_acc'] has 2 rows", "row 3 of 'test_acc' is missing"]),
    ({"epoch": [1, 2, 3], "val_loss": [0.9, "0.5", 0.6]},
     ["['val_loss'] holds '0.5' (str) in row 2", "float("]),
    ({"val_loss": [0.9, 0.5, None]}, ["['val_loss'] holds None (NoneType) in row 3", "float('nan')"]),
    ({"epoch": [0, 1, 2], "val_loss": [0.9, 0.5, 0.6]}, ["['epoch'] is 0 in row 1", "count from 1"]),
    ({"epoch": [1, 2, 4], "val_loss": [0.9, 0.5, 0.6]}, ["['epoch'] is 4 in row 3", "count from 1"]),
    ({"epoch": [1, 2, True], "val_loss": [0.9, 0.5, 0.6]}, ["['epoch'] holds True (bool) in row 3"]),
]  # fmt: skip


def _entry_points():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import workbench as wb
    from workbench.explore import replay
    from workbench.stopping import Patience
    from workbench.views import plots

    def plot(fn, *args):
        fig, ax = plt.subplots()
        try:
            return fn(*args, ax=ax)
        finally:
            plt.close(fig)

    return {
        "History": History,
        "summary": lambda h: wb.summary(h, Patience(2)),
        "average": lambda h: replay.average([h], Patience(2)),
        "explore": lambda h: wb.explore(h),
        "plot_history": lambda h: plot(plots.plot_history, h),
        "plot_accuracy": lambda h: plot(plots.plot_accuracy, h),
        "plot_runs": lambda h: plot(plots.plot_runs, {"a": h}),
    }


@pytest.mark.parametrize("entry", list(_entry_points()))
@pytest.mark.parametrize(("history", "words"), ODD)
def test_every_public_function_that_takes_a_history_refuses_an_odd_one(entry, history, words):
    call = _entry_points()[entry]
    with pytest.raises(ValueError) as info:
        call(history)
    for word in words:
        assert word in str(info.value), f"{entry}: {word!r} missing from: {info.value}"


@pytest.mark.parametrize("entry", list(_entry_points()))
def test_a_good_history_with_a_nan_passes_every_check(entry):
    result = _entry_points()[entry](GOOD)
    assert result is not None, f"{entry} should take a history whose diverged epoch is NaN"


def test_summary_of_a_short_epoch_column_is_refused_not_a_negative_saving():
    import workbench as wb
    from workbench.stopping import Patience

    h = {"epoch": [1, 2, 3], "val_loss": [0.9, 0.5, 0.6, 0.7, 0.8]}
    with pytest.raises(ValueError, match=r"history\['epoch'\] has 3 rows"):
        wb.summary(h, Patience(2))  # it used to say epochs_saved=-2
    assert wb.summary(GOOD, Patience(2))["epochs_saved"] == 1, "stops at 4 of 5 epochs"


def test_tensors_and_non_mappings_get_a_message_that_says_what_to_do():
    import torch

    from workbench.history import check_history

    with pytest.raises(
        ValueError, match=r"holds tensor\(0\.5000\) \(Tensor\) in row 1.*\.item\(\)"
    ):
        check_history({"val_loss": [torch.tensor(0.5)]})
    with pytest.raises(TypeError, match="not a recorded run"):
        check_history([0.5, 0.4])
    with pytest.raises(TypeError, match=r"\['val_loss'\] is a float, not a list"):
        check_history({"val_loss": 0.5})
    check_history({"epoch": torch.arange(1, 4), "val_loss": torch.ones(3)})  # tensors are lists


def test_doctests():
    import doctest

    import workbench.history

    result = doctest.testmod(workbench.history)
    assert result.failed == 0 and result.attempted > 0, "a doctest of workbench.history failed"
