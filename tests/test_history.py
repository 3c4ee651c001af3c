import math

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
