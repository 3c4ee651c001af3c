"""The playground's engine through its synchronous API, and its worker thread."""

import importlib
import threading
import time

import pytest
import torch

import workbench as wb
from workbench import stopping
from workbench.checkpoint.store import load, save
from workbench.data import problems
from workbench.history import History
from workbench.playground.play import Playground, playground
from workbench.playground.settings import check

pg_module = importlib.import_module("workbench.playground.play")  # wb.playground is the function

SMALL = {"n": 200, "hidden": "4"}  # fast enough for many runs in one test


# --- the 2-D problems --------------------------------------------------------------------
@pytest.mark.parametrize("name", problems.PROBLEMS)
def test_each_problem_is_balanced_seeded_and_split_by_the_training_fraction(name):
    s = problems.make(name, n=300, train_fraction=0.3, seed=1)
    assert len(s.X_train) == 90 and len(s.X_val) == 210, "30% of 300 points train"
    y = torch.cat([s.y_train, s.y_val])
    assert y.float().mean().item() == pytest.approx(0.5, abs=0.1), f"{name}: classes unbalanced"
    clean = torch.cat([s.X_train, s.X_val])
    assert clean.abs().max() <= 1.0 + 1e-6, f"{name}: clean points leave [-1, 1]"
    again = problems.make(name, n=300, train_fraction=0.3, seed=1)
    assert torch.equal(s.X_train, again.X_train), "the same seed must give the same points"
    other = problems.make(name, n=300, train_fraction=0.3, seed=2)
    assert not torch.equal(s.X_train, other.X_train), "another seed must give other points"


def test_noise_moves_the_same_points_instead_of_drawing_new_ones():
    a = problems.make("circles", n=100, noise=0.0)
    b = problems.make("circles", n=100, noise=0.2)
    c = problems.make("circles", n=100, noise=0.4)
    assert torch.equal(a.y_train, b.y_train), "labels must not change with the noise"
    torch.testing.assert_close(c.X_train - a.X_train, 2 * (b.X_train - a.X_train))


def test_extra_features_match_the_network_width():
    X = torch.tensor([[0.5, -1.0]])
    for feats in [(), ("x^2",), ("xy",), ("sin",), problems.FEATURES]:
        assert problems.add_features(X, feats).shape[1] == problems.n_inputs(feats), feats
    assert problems.add_features(X, ["sin"])[0, 2].item() == pytest.approx(1.0)


# --- settings ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"problem": "spirals"}, "choose one of circles"),
        ({"hidden": "8, x"}, "layer widths"),
        ({"hidden": "0"}, "layer widths"),
        ({"activation": "gelu"}, "relu, tanh, sigmoid"),
        ({"features": ["x^3"]}, "choose from"),
        ({"lr": 0}, "learning rate above 0"),
        ({"lr": float("nan")}, "learning rate"),
        ({"batch_size": 0}, "at least 1"),
        ({"noise": 2}, "from 0 to"),
        ({"train_fraction": 1.0}, "0.1 to 0.9"),
        ({"opt": "rmsprop"}, "sgd, momentum, adam"),
        ({"stop": stopping.Patience(5, monitor="test_loss")}, "no metric 'test_loss'"),
        ({"stop": 5}, "rule from workbench.stopping"),
        ({"batch_norm": True, "batch_size": 1}, "batches of at least 2"),
        ({"learning_rate": 0.1}, "not a playground setting"),
    ],
)
def test_bad_settings_are_refused_with_a_message_that_says_what_to_pass(settings, says):
    with pytest.raises(ValueError, match=says):
        playground(**settings)


def test_a_bad_change_changes_nothing():
    pg = playground(**SMALL)
    with pytest.raises(ValueError, match="learning rate"):
        pg.set(batch_size=8, lr=-1)
    assert pg.settings["batch_size"] == 16 and pg.history.events == [], "nothing was applied"
    with pytest.raises(ValueError, match="batches of at least 2"):
        pg.set(batch_norm=True, batch_size=1)


def test_settings_take_several_spellings_and_keep_one():
    assert check("hidden", "8,8") == check("hidden", [8, 8]) == "8, 8"
    assert check("hidden", "") == "", "no hidden layer is a linear model"
    assert check("features", ["xy", "x^2"]) == ("x^2", "xy")


# --- training, events and replay ---------------------------------------------------------
def test_a_hidden_layer_solves_xor():
    pg = playground(problem="xor", hidden="8", seed=0).step(60)
    assert pg.history["val_acc"][-1] > 0.95, "a small hidden layer should separate XOR"
    assert isinstance(pg.history, History) and pg.history["epoch"] == list(range(1, 61))


def test_changes_are_recorded_as_events_with_the_epoch():
    pg = playground(**SMALL).step(3)
    pg.set(lr=0.3)
    pg.step(2).set(batch_norm=True)
    assert pg.history.events == ["epoch 3: lr 0.03 -> 0.3", "epoch 5: batch norm on"]
    pg.step(1)
    assert pg.history["lr"] == [0.03] * 3 + [0.3] * 3, "the new lr applies from the next epoch"


def test_a_dragged_slider_is_one_event_and_dragging_back_is_none():
    pg = playground(**SMALL).step(2)
    for lr in (0.04, 0.05, 0.06):
        pg.set(lr=lr)
    assert pg.history.events == ["epoch 2: lr 0.03 -> 0.06"]
    pg.set(lr=0.03)
    assert pg.history.events == [], "back to the first value: no change to record"
    pg.set(hidden="4").set(hidden="4")
    assert pg.history.events == [], "setting the value in use records nothing"


def test_replay_from_config_is_bit_identical():
    pg = playground(problem="moons", noise=0.2, stop=stopping.Patience(3), seed=3, **SMALL)
    pg.step(5).set(lr=0.1, batch_size=8)
    pg.step(4).set(batch_norm=True, features=["x^2"])
    pg.step(3).set(opt="sgd", noise=0.3, train_fraction=0.7, weight_decay=1e-3)
    pg.step(40)
    assert pg.history.stop is not None, "Patience(3) should fire on this noisy run"
    pg.step(3)  # continue after the stop
    again = playground(**pg.config)
    assert again.history.to_json() == pg.history.to_json(), "replay differs from the run"
    assert again.settings == pg.settings
    for a, b in zip(again.model.parameters(), pg.model.parameters(), strict=True):
        assert torch.equal(a, b), "replayed weights differ"


def test_the_stop_rule_pauses_with_its_reason_and_stepping_on_continues():
    pg = playground(noise=0.5, n=100, hidden="32, 32", stop=stopping.Patience(5), seed=0)
    pg.step(300)
    stop = pg.history.stop
    assert stop is not None and stop.rule == "Patience", "patience should catch overfitting"
    assert pg.epoch == stop.epoch, "the run pauses at the epoch the rule fires"
    assert "did not improve" in stop.reason
    pg.step(1)
    assert pg.epoch == stop.epoch + 1 and pg.history.stop is None
    assert (
        pg.history.events[-1]
        == f"epoch {stop.epoch}: continued after the stop (Patience at epoch {stop.epoch})"
    )


DIVERGING = {"opt": "sgd", "lr": 5.0, "weight_decay": 0.5, **SMALL}  # lr * wd > 2 overshoots


def test_a_diverging_lr_is_stopped_by_nonfinite_even_without_a_rule():
    pg = playground(**DIVERGING).step(100)
    assert pg.history.stop is not None and pg.history.stop.rule == "NonFinite", (
        "SGD with lr * weight_decay > 2 multiplies the weights by |1 - lr wd| > 1 each step: "
        "they overflow, and NonFinite should stop the run"
    )
    assert pg.epoch == pg.history.stop.epoch < 100


def test_rule_changes_and_network_changes_keep_matching_weights():
    pg = playground(**SMALL).step(3)
    first = pg.model[0].weight.detach().clone()
    pg.set(batch_norm=True)
    assert torch.equal(pg.model[0].weight, first), "turning batch norm on keeps the Linear weights"
    pg.set(hidden="4, 4")
    assert torch.equal(pg.model[0].weight, first), "the first layer kept its shape and weights"
    pg.set(stop=stopping.Patience(2))
    assert pg.history.events[-1] == (
        "epoch 3: stop None -> Patience(patience=2, min_delta=0, start_from_epoch=0)"
    ), "a rule change is an event that names the rule's slider parameters"


def test_reset_starts_over_with_the_settings_in_use():
    pg = playground(**SMALL).step(3).set(lr=0.1)
    pg.reset()
    assert pg.epoch == 0 and pg.history.events == [] and pg.config["lr"] == 0.1
    points = pg.split.X_train.clone()
    pg.reset(seed=5)
    assert not torch.equal(pg.split.X_train, points), "a new seed draws new points"


def test_bad_replays_say_what_is_wrong():
    with pytest.raises(ValueError, match="epoch order"):
        playground(events=[{"epoch": 3, "lr": 0.1}, {"epoch": 1, "lr": 0.2}], epochs=5)
    with pytest.raises(ValueError, match="must look like"):
        playground(events=[{"epoch": 1, "lr": 0.1, "noise": 0.1}], epochs=2)
    with pytest.raises(ValueError, match="learning rate"):
        playground(events=[{"epoch": 1, "lr": -1}], epochs=2)


def test_the_history_works_with_explore_and_checkpoints(tmp_path):
    pg = playground(**SMALL).step(4).set(lr=0.1).step(2)
    assert wb.explore(pg.history).result is None, "explore replays rules over the history"
    save(tmp_path / "pg.pt", {"format": "workbench-checkpoint", "history": pg.history.to_dict()})
    back = History.from_dict(load(tmp_path / "pg.pt")["history"])
    assert back == pg.history and back.events == pg.history.events


# --- playing on a worker thread ----------------------------------------------------------
def _wait(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the playground"
        time.sleep(0.01)


def _workers():
    return [t for t in threading.enumerate() if t.name == "workbench-playground"]


def test_play_leaves_the_caller_free_and_a_change_applies_at_the_next_epoch():
    pg = playground(**SMALL)
    seen = []
    pg.listen(lambda p, what: seen.append(what))
    pg.play()
    assert pg.playing, "play returns at once while the worker trains"
    _wait(lambda: pg.epoch >= 3)
    with pytest.raises(RuntimeError, match="pause it first"):
        pg.step()
    pg.set(lr=0.2)
    _wait(lambda: pg.history["lr"][-1] == 0.2)
    pg.pause()
    assert not pg.playing and _workers() == [], "pause leaves no thread behind"
    assert "epoch" in seen and seen[-1] == "pause"
    (event,) = pg.history.events
    changed = pg.history["lr"].index(0.2)  # 0-based index of the first epoch at 0.2
    assert event == f"epoch {changed}: lr 0.03 -> 0.2", "the event names the epoch it applied at"
    again = playground(**pg.config)
    assert again.history.to_json() == pg.history.to_json(), "a played run replays exactly"


def test_a_failing_listener_pauses_the_run_and_keeps_the_error():
    pg = playground(**SMALL)
    pg.listen(lambda p, what: 1 / 0 if what == "epoch" else None)
    pg.play()
    _wait(lambda: not pg.playing)
    pg.pause()
    assert isinstance(pg.error, ZeroDivisionError) and pg.epoch == 1 and _workers() == []


def test_the_rule_pauses_a_playing_run():
    pg = playground(**DIVERGING).play()
    _wait(lambda: not pg.playing)
    pg.pause()  # waits for the worker to finish its last notifications
    assert pg.history.stop.rule == "NonFinite" and _workers() == []


def test_reset_and_close_while_playing_leave_no_thread():
    pg = playground(**SMALL).play()
    _wait(lambda: pg.epoch >= 2)
    pg.reset()
    assert not pg.playing and pg.epoch == 0 and _workers() == []
    pg.play()
    _wait(lambda: pg.epoch >= 2)
    pg.close()
    assert _workers() == [] and pg.closed
    with pytest.raises(RuntimeError, match="closed"):
        pg.play()


def test_only_one_playground_plays_at_a_time():
    a = playground(**SMALL).play()
    b = playground(**SMALL).play()
    assert not a.playing and b.playing, "playing one pauses the other"
    b.pause()
    assert _workers() == []


def test_rerunning_a_cell_closes_the_playground_it_made_before(monkeypatch):
    from workbench.views import cells

    runs = iter(["run 1", "run 2"])  # two runs of one cell, as JupyterLab names them
    monkeypatch.setattr(cells, "_running_cell", lambda: ("cell-1", next(runs)))
    first = playground(**SMALL).play()
    _wait(lambda: first.epoch >= 1)
    second = playground(**SMALL)
    assert first.closed and not first.playing and not second.closed
    assert _workers() == [], "the old playground's thread must end with the re-run"


def test_a_playground_is_an_ordinary_object_without_jupyter():
    pg = Playground(**SMALL)
    assert "Playground(xor" in repr(pg) and pg.boundary(10).shape == (10, 10)


def test_training_uses_one_thread_and_leaves_the_setting_as_it_was(monkeypatch):
    from workbench.playground.run import Run

    seen, train = [], Run._train_epoch
    monkeypatch.setattr(
        Run, "_train_epoch", lambda self: (seen.append(torch.get_num_threads()), train(self))
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        playground(**SMALL).step(2)
        assert torch.get_num_threads() == 2, "the caller's thread count must be restored"
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1], "tiny networks train on one thread (two made batch norm 20x slower)"
