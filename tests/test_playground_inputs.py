"""Every input of the playground is checked before anything changes or trains.

A bad setting, event, argument or config raises a ValueError (a TypeError for a callback
that is not a function) whose message names the parameter, shows the value, says what is
allowed and gives an example; a refused change leaves the run exactly as it was; NumPy
numbers count wherever Python numbers do; and the widgets cannot put a run in a state that
fails later.
"""

import copy
import json
import re

import numpy as np
import pytest
import torch

from workbench import stopping
from workbench.data import problems
from workbench.playground.controls import rule_classes
from workbench.playground.play import playground
from workbench.playground.run import Run
from workbench.playground.settings import DEFAULTS, RUN_ARGS
from workbench.playground.view import PlaygroundView

SMALL = {"n": 40, "hidden": "3"}  # a run of a few milliseconds per epoch
NAN, INF = float("nan"), float("inf")

# (settings, the parameter the message must name): each refused by playground() and set()
BAD_SETTINGS = [
    ({"problem": None}, "problem"),
    ({"problem": 5}, "problem"),
    ({"problem": "spirals"}, "problem"),
    ({"problem": ["xor"]}, "problem"),
    ({"n": None}, "n"),
    ({"n": True}, "n"),
    ({"n": 200.0}, "n"),
    ({"n": np.float64(300.0)}, "n"),
    ({"n": 10}, "n"),
    ({"n": 10**6}, "n"),
    ({"n": "500"}, "n"),
    ({"noise": None}, "noise"),
    ({"noise": -0.1}, "noise"),
    ({"noise": NAN}, "noise"),
    ({"noise": INF}, "noise"),
    ({"noise": True}, "noise"),
    ({"train_fraction": None}, "train_fraction"),
    ({"train_fraction": 1}, "train_fraction"),
    ({"train_fraction": "0.5"}, "train_fraction"),
    ({"hidden": True}, "hidden"),
    ({"hidden": 8}, "hidden"),
    ({"hidden": None}, "hidden"),
    ({"hidden": 8.0}, "hidden"),
    ({"hidden": b"8"}, "hidden"),  # bytes iterate to character codes: once a layer of 56
    ({"hidden": {8: 8}}, "hidden"),
    ({"hidden": [8.5]}, "hidden"),
    ({"hidden": [True]}, "hidden"),
    ({"hidden": [0]}, "hidden"),
    ({"hidden": [257]}, "hidden"),
    ({"hidden": [8] * 7}, "hidden"),
    ({"hidden": "8;8"}, "hidden"),
    ({"hidden": "-8"}, "hidden"),
    ({"hidden": "8.0"}, "hidden"),
    ({"hidden": "8_0"}, "hidden"),  # int() reads it as 80
    ({"hidden": ["8", "x"]}, "hidden"),
    ({"activation": None}, "activation"),
    ({"activation": "gelu"}, "activation"),
    ({"activation": True}, "activation"),
    ({"batch_norm": None}, "batch_norm"),
    ({"batch_norm": 1}, "batch_norm"),
    ({"batch_norm": "True"}, "batch_norm"),
    ({"features": None}, "features"),
    ({"features": 5}, "features"),
    ({"features": "x^3"}, "features"),
    ({"features": ["xy", 5]}, "features"),
    ({"features": b"xy"}, "features"),
    ({"features": {"xy": 1}}, "features"),
    ({"opt": None}, "opt"),
    ({"opt": "rmsprop"}, "opt"),
    ({"lr": 0}, "lr"),
    ({"lr": -1}, "lr"),
    ({"lr": NAN}, "lr"),
    ({"lr": INF}, "lr"),
    ({"lr": 1000}, "lr"),
    ({"lr": 10**400}, "lr"),  # too large for a float
    ({"lr": "0.1"}, "lr"),
    ({"lr": True}, "lr"),
    ({"lr": None}, "lr"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": -1}, "batch_size"),
    ({"batch_size": 1.5}, "batch_size"),
    ({"batch_size": 16.0}, "batch_size"),
    ({"batch_size": True}, "batch_size"),
    ({"batch_size": None}, "batch_size"),
    ({"weight_decay": -1}, "weight_decay"),
    ({"weight_decay": 2}, "weight_decay"),
    ({"weight_decay": NAN}, "weight_decay"),
    ({"weight_decay": None}, "weight_decay"),
    ({"stop": 5}, "stop"),
    ({"stop": "patience"}, "stop"),
    ({"stop": stopping.Patience}, "stop"),  # the class, not a rule made from it
    ({"stop": lambda history: None}, "stop"),
    ({"stop": stopping.Patience(5, monitor="test_loss")}, "stop"),
    ({"batch_norm": True, "batch_size": 1}, "batch_size"),
    ({"lr": 0.1, "batch_size": 0}, "batch_size"),  # one good value does not go in alone
    ({"learning_rate": 0.1}, "learning_rate"),
    ({"hiden": "8"}, "hiden"),
]
# the playground's other arguments: (arguments, the parameter the message must name)
BAD_ARGUMENTS = [
    ({"seed": -1}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": True}, "seed"),
    ({"seed": "0"}, "seed"),
    ({"seed": None}, "seed"),
    ({"device": "meta"}, "device"),  # accepted once, then failed at the first step
    ({"device": "gpu"}, "device"),
    ({"device": 5}, "device"),
    ({"device": None}, "device"),
    ({"max_epochs": None}, "max_epochs"),
    ({"max_epochs": 0}, "max_epochs"),
    ({"max_epochs": -5}, "max_epochs"),
    ({"max_epochs": 1.5}, "max_epochs"),
    ({"max_epochs": True}, "max_epochs"),
    ({"epochs": -1}, "epochs"),
    ({"epochs": 1.5}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"epochs": None}, "epochs"),
    ({"epoch": 3}, "epoch"),  # a typo of epochs
]
# (events, epochs, the parameter the message must name)
BAD_EVENTS = [
    ([{"epoch": -1, "lr": 0.1}], 3, "epoch"),  # once dropped without a word
    ([{"epoch": 4, "lr": 0.1}], 3, "epoch"),
    ([{"epoch": 2, "lr": 0.1}, {"epoch": 1, "lr": 0.2}], 3, "events"),
    ([{"epoch": 1.0, "lr": 0.1}], 3, "epoch"),
    ([{"epoch": True, "lr": 0.1}], 3, "epoch"),
    ([{"epoch": "1", "lr": 0.1}], 3, "epoch"),
    (["lr=0.1"], 3, "events"),
    ([("epoch", 1)], 3, "events"),
    ([{"epoch": 1}], 3, "events"),
    ([{"lr": 0.1}], 3, "events"),
    ([{"epoch": 1, "lr": 0.1, "noise": 0.1}], 3, "events"),
    ([{"epoch": 1, "learning_rate": 0.1}], 3, "learning_rate"),
    ([{"epoch": 1, "seed": 3}], 3, "seed"),
    ([{"epoch": 1, "lr": -1}], 3, "lr"),
    ([{"epoch": 1, "n": None}], 3, "n"),
    ([{"epoch": 1, "hidden": True}], 3, "hidden"),
    ([{"epoch": 1, "continue": "yes"}], 3, "continue"),
    ([{"epoch": 0, "batch_size": 1}, {"epoch": 0, "batch_norm": True}], 3, "batch_size"),
    ({"epoch": 1, "lr": 0.1}, 3, "events"),
    ("lr", 3, "events"),
    (None, 3, "events"),
    (5, 3, "events"),
]
NUMPY_AND_SPELLINGS = [  # valid: (settings, the canonical values they give)
    ({"seed": np.int64(3)}, {"seed": 3}),
    ({"n": np.int64(60)}, {"n": 60}),
    ({"n": np.int32(60)}, {"n": 60}),
    ({"lr": np.float32(0.25)}, {"lr": 0.25}),
    ({"lr": np.int64(1)}, {"lr": 1.0}),
    ({"noise": np.float16(0.5)}, {"noise": 0.5}),
    ({"train_fraction": np.float64(0.75)}, {"train_fraction": 0.75}),
    ({"batch_size": np.int64(8)}, {"batch_size": 8}),
    ({"weight_decay": np.float32(0.125)}, {"weight_decay": 0.125}),
    ({"batch_norm": np.bool_(True)}, {"batch_norm": True}),
    ({"hidden": np.array([4, 4])}, {"hidden": "4, 4"}),
    ({"hidden": [np.int64(4)]}, {"hidden": "4"}),
    ({"hidden": " 4 ,  4 "}, {"hidden": "4, 4"}),
    ({"hidden": "4 4"}, {"hidden": "4, 4"}),
    ({"hidden": (4, 2)}, {"hidden": "4, 2"}),
    ({"features": " xy ,  sin "}, {"features": ("xy", "sin")}),
    ({"features": "XY"}, {"features": ("xy",)}),
    ({"features": ("xy", "xy")}, {"features": ("xy",)}),
    ({"features": np.array(["sin"])}, {"features": ("sin",)}),
    ({"problem": " Circles "}, {"problem": "circles"}),
    ({"activation": "ReLU"}, {"activation": "relu"}),
    ({"opt": "SGD"}, {"opt": "sgd"}),
    ({"max_epochs": np.int64(10)}, {}),
    ({"epochs": np.int64(2)}, {}),
]


@pytest.fixture
def trained(monkeypatch):
    """The epochs trained while the test runs (0 for an input refused up front)."""
    count, train = [0], Run._train_epoch

    def counting(self):
        count[0] += 1
        train(self)

    monkeypatch.setattr(Run, "_train_epoch", counting)
    return count


def _names(message: str, name: str) -> bool:
    return re.search(rf"(?<![\w^]){re.escape(name)}(?![\w(])", message) is not None


def _assert_helpful(error, name: str) -> None:
    message = str(error)
    assert _names(message, name), f"the message should name {name!r}: {message}"
    assert "e.g." in message, f"the message should give an example (e.g. ...): {message}"


def _id(case) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", repr(case))[:60]


@pytest.mark.parametrize(("settings", "name"), BAD_SETTINGS + BAD_ARGUMENTS, ids=_id)
def test_a_bad_setting_or_argument_is_refused_before_anything_trains(settings, name, trained):
    with pytest.raises(ValueError) as caught:
        playground(**{**SMALL, "epochs": 2, **settings})
    _assert_helpful(caught.value, name)
    assert trained[0] == 0, f"{settings} trained {trained[0]} epoch(s) before it was refused"
    value = next(iter(settings.values()))
    if list(settings) == [name] and name in {*DEFAULTS, *RUN_ARGS} and not callable(value):
        assert repr(value) in str(caught.value), "the message should show the value given"


def _state(pg):
    """Everything a refused change must leave as it was."""
    weights = {k: v.clone() for k, v in pg.model.state_dict().items()}
    snapshot = (pg.settings, pg.next_settings, pg.history.events, pg.config, pg.history.to_json())
    return copy.deepcopy(snapshot), weights


def _assert_same(before, after) -> None:
    (values, weights), (values_after, weights_after) = before, after
    assert values_after == values, "a refused change changed the settings, events or config"
    assert weights_after.keys() == weights.keys(), "a refused change rebuilt the network"
    for key, tensor in weights.items():
        assert torch.equal(weights_after[key], tensor), f"a refused change moved {key}"


CHANGES = [case for case in BAD_SETTINGS if case[1] not in ("learning_rate", "hiden")] + [
    ({"seed": 3}, "seed"),
    ({"device": "cpu"}, "device"),
    ({"epochs": 5}, "epochs"),
    ({"learning_rate": 0.1}, "learning_rate"),
    ({"lr": 0.3, "n": None}, "n"),  # the good half is not applied either
]


@pytest.mark.parametrize(("changes", "name"), CHANGES, ids=_id)
def test_a_refused_change_leaves_the_run_exactly_as_it_was(changes, name):
    pg = playground(**SMALL).step(2).set(lr=0.1).step(1)
    before = _state(pg)
    with pytest.raises(ValueError) as caught:
        pg.set(**changes)
    _assert_helpful(caught.value, name)
    _assert_same(before, _state(pg))
    again = playground(**pg.config)
    assert again.history.to_json() == pg.history.to_json(), "the run must still replay"


def test_a_change_refused_while_playing_is_never_applied():
    pg = playground(**SMALL, max_epochs=40).play()
    with pytest.raises(ValueError, match="n=None"):
        pg.set(n=None)
    with pytest.raises(ValueError, match="batch_size=0"):
        pg.set(lr=0.3, batch_size=0)
    pg.pause()
    assert pg.settings["n"] == 40 and pg.settings["lr"] == 0.03, "a refused change was applied"
    assert pg.history.events == [], f"a refused change was recorded: {pg.history.events}"
    assert playground(**pg.config).history.to_json() == pg.history.to_json()


@pytest.mark.parametrize(("events", "epochs", "name"), BAD_EVENTS, ids=_id)
def test_bad_events_are_refused_before_any_epoch_trains(events, epochs, name, trained):
    with pytest.raises(ValueError) as caught:
        playground(**SMALL, events=events, epochs=epochs)
    _assert_helpful(caught.value, name)
    assert trained[0] == 0, f"the replay trained {trained[0]} epoch(s) before the refusal"


def _change_event(key, value):
    return lambda config: config["events"][0].update({key: value})


BAD_CONFIG = [  # (a change to a real run's config, the parameter the message must name)
    (lambda c: c.update(device="meta"), "device"),
    (lambda c: c.update(epochs=-1), "epochs"),
    (lambda c: c.update(epochs=1), "epoch"),  # its events come after epoch 1
    (lambda c: c.update(seed="0"), "seed"),
    (lambda c: c.update(hidden=None), "hidden"),
    (lambda c: c.update(history=[]), "history"),
    (lambda c: c.update(events=c["events"][::-1]), "events"),
    (_change_event("lr", None), "lr"),
    (_change_event("epoch", -1), "epoch"),
    (_change_event("epoch", 2.0), "epoch"),
]


@pytest.mark.parametrize(("change", "name"), BAD_CONFIG, ids=[n for _, n in BAD_CONFIG])
def test_a_tampered_config_is_refused_before_the_replay_trains(change, name, trained):
    pg = playground(**SMALL).step(2).set(lr=0.1).step(1).set(noise=0.1).step(1)
    config = copy.deepcopy(pg.config)
    change(config)
    trained[0] = 0
    with pytest.raises(ValueError) as caught:
        playground(**config)
    _assert_helpful(caught.value, name)
    assert trained[0] == 0, "the replay trained before it was refused"


BAD_CALLS = [  # (a call on a playground, the parameter the message must name)
    (lambda pg: pg.step(0), "epochs"),
    (lambda pg: pg.step(-1), "epochs"),
    (lambda pg: pg.step(1.5), "epochs"),
    (lambda pg: pg.step(True), "epochs"),
    (lambda pg: pg.step(None), "epochs"),
    (lambda pg: pg.step("2"), "epochs"),
    (lambda pg: pg.reset(seed=-1), "seed"),
    (lambda pg: pg.reset(seed=2**64), "seed"),
    (lambda pg: pg.reset(seed=1.5), "seed"),
    (lambda pg: pg.reset(seed=True), "seed"),
    (lambda pg: pg.boundary(0), "resolution"),
    (lambda pg: pg.boundary(1.5), "resolution"),
    (lambda pg: setattr(pg, "max_epochs", None), "max_epochs"),
]


@pytest.mark.parametrize(
    ("call", "name"), BAD_CALLS, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD_CALLS)]
)
def test_a_bad_argument_to_a_method_changes_nothing(call, name):
    pg = playground(**SMALL).step(2)
    before = _state(pg)
    with pytest.raises(ValueError) as caught:
        call(pg)
    _assert_helpful(caught.value, name)
    _assert_same(before, _state(pg))
    assert pg.max_epochs == 5000


def test_a_listener_that_is_not_a_function_is_refused_when_given():
    pg = playground(**SMALL)
    with pytest.raises(TypeError) as caught:
        pg.listen(5)
    _assert_helpful(caught.value, "callback")
    pg.step(1)  # once it would have failed here, on the first notification


def test_cuda_is_taken_only_where_this_machine_has_it():
    if torch.cuda.is_available():
        pg = playground(**SMALL, device="cuda").step(2)
        assert pg.config["device"].startswith("cuda") and pg.epoch == 2
        bad = f"cuda:{torch.cuda.device_count()}"
        with pytest.raises(ValueError, match=rf"device='{bad}', but this machine has"):
            playground(**SMALL, device=bad)
    else:
        with pytest.raises(ValueError, match=r"device='cuda', but this PyTorch .* (without|no)"):
            playground(**SMALL, device="cuda")
    assert playground(**SMALL, device=torch.device("cpu")).device == torch.device("cpu")


@pytest.mark.parametrize(("settings", "canonical"), NUMPY_AND_SPELLINGS, ids=_id)
def test_numpy_numbers_and_loose_spellings_are_taken_as_plain_values(settings, canonical):
    pg = playground(**{**SMALL, **settings}).step(1)
    for key, value in canonical.items():
        got = pg.seed if key == "seed" else pg.settings[key]
        assert got == value and type(got) is type(value), f"{key}: {got!r}, not {value!r}"
    text = json.dumps(pg.config)  # plain Python values: the config is JSON
    again = playground(**json.loads(text))
    assert again.history.to_json() == pg.history.to_json(), "the JSON config replays the run"


def test_an_event_epoch_may_be_a_numpy_integer():
    pg = playground(**SMALL, events=[{"epoch": np.int64(1), "lr": np.float32(0.5)}], epochs=2)
    assert pg.history["lr"] == [0.03, 0.5] and pg.config["events"] == [{"epoch": 1, "lr": 0.5}]


def test_unknown_names_suggest_the_one_meant():
    for wrong, meant in [("learning_rate", "lr"), ("hiden", "hidden"), ("epoch", "epochs")]:
        with pytest.raises(ValueError, match=f"did you mean '{meant}'"):
            playground(**{wrong: 1})
    with pytest.raises(ValueError, match="did you mean 'spiral'"):
        playground(problem="spirals")
    with pytest.raises(ValueError, match=r"pg\.reset\(seed=1\)"):
        playground(**SMALL).set(seed=1)


# --- the widget path ---------------------------------------------------------------------
@pytest.fixture
def controls():
    pg = playground(**SMALL)
    view = PlaygroundView(pg)
    yield view.controls
    pg.close()


@pytest.mark.parametrize(
    "text", ["8, x", "8;8", "0", "-8", "8.0", "1e1", "8_0", "300", "1 2 3 4 5 6 7", "eight"]
)
def test_garbage_in_the_hidden_box_is_refused_shown_and_put_back(controls, text):
    pg = controls.pg.step(2)
    before = _state(pg)
    controls.widgets["hidden"].value = text
    assert controls.widgets["hidden"].value == "3", "the refused text is replaced"
    assert "hidden=" in controls.message.value and "e.g." in controls.message.value, (
        f"the control should show why {text!r} was refused: {controls.message.value!r}"
    )
    _assert_same(before, _state(pg))
    controls.step.click()
    assert pg.epoch == 3 and pg.error is None, "the run trains on after a refusal"


def test_a_combination_the_controls_cannot_train_is_refused_and_shown(controls):
    pg = controls.pg
    controls.widgets["batch_norm"].value = True
    before = _state(pg)
    controls.widgets["batch_size"].value = 1
    assert controls.widgets["batch_size"].value == 16, "the refused batch size is put back"
    assert "batch_size=1" in controls.message.value, controls.message.value
    _assert_same(before, _state(pg))


def test_every_value_a_control_offers_trains(controls):
    pg = controls.pg
    for key, widget in controls.widgets.items():
        choices = getattr(widget, "options", None)
        if key == "hidden":
            choices = ["", "1", "8, 8", " 2 ,3 ", "256 1 1 1 1 1"]
        elif key == "batch_norm":
            choices = [True, False]
        elif key == "features":
            choices = [(), *((f,) for f in choices), tuple(choices)]
        for value in choices:
            widget.value = value
            controls.step.click()  # a stop (NonFinite at lr 100) is continued by the next step
            assert pg.error is None and "color:#b00020" not in controls.message.value, (
                f"{key}={value!r} from the control failed: {controls.message.value}"
            )
    for name in rule_classes():
        controls.rule.value = name
        for end in ("min", "max"):
            for slider in controls.rule_sliders.values():
                slider.value = getattr(slider, end)
            controls.step.click()
            assert "color:#b00020" not in controls.message.value, (
                f"{name} with its sliders at their {end}: {controls.message.value}"
            )
    assert playground(**pg.config).history.to_json() == pg.history.to_json()


def test_the_ranges_in_messages_are_the_problem_module_ranges():
    low, high = problems.N_POINTS
    assert playground(n=low).settings["n"] == low and playground(n=high).settings["n"] == high
    with pytest.raises(ValueError, match=f"from {low} to {high}"):
        playground(n=high + 1)
