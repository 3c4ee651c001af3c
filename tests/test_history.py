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
