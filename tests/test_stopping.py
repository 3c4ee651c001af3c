"""Tests for workbench.stopping: table-driven cases, validation, introspection, prefix replay."""

import dataclasses
import doctest
import math
import random

import pytest

import workbench.stopping
import workbench.stopping.prechelt
import workbench.stopping.rule
from workbench.stopping import (
    RULES,
    AnyOf,
    Divergence,
    GeneralizationLoss,
    MetricNotFound,
    NonFinite,
    Param,
    Patience,
    ProgressQuotient,
    RelativeChange,
    Rule,
    Stop,
    Threshold,
    UpStrips,
    best_epoch,
)

NAN, INF = math.nan, math.inf

# A hand-computed Prechelt case; all numbers are exact in binary floating point.
#   epoch         1     2     3       4      5      6
#   val_loss      1.0   0.5   0.5625  0.625  0.75   0.75
#   E_opt         1.0   0.5   0.5     0.5    0.5    0.5
#   GL = 100 (val / E_opt - 1):
#                 0     0     12.5    25     50     50
#   train_loss    2.0   1.0   0.75    0.5    0.5625 0.5
#   strips of k=2 end at epochs 2, 4, 6:
#     epoch 2: strip [2, 1]        mean 1.5     min 1    P = 1000 (1.5/1 - 1)       = 500
#     epoch 4: strip [0.75, 0.5]   mean 0.625   min 0.5  P = 1000 (0.625/0.5 - 1)   = 250
#     epoch 6: strip [0.5625, 0.5] mean 0.53125 min 0.5  P = 1000 (0.53125/0.5 - 1) = 62.5
#   PQ = GL / P at strip ends: 0/500 = 0, 25/250 = 0.1, 50/62.5 = 0.8
#   UP (k=2): val at strip ends 0.5 -> 0.625 -> 0.75 rises twice in a row (at epochs 4 and 6)
PRECHELT = {
    "val_loss": [1.0, 0.5, 0.5625, 0.625, 0.75, 0.75],
    "train_loss": [2.0, 1.0, 0.75, 0.5, 0.5625, 0.5],
}

FALLING = {"val_loss": [1.0, 0.8, 0.6, 0.4, 0.2], "train_loss": [1.0, 0.8, 0.6, 0.4, 0.2]}

CASES = [
    # (id, rule, history, expected stop epoch or None)
    ("patience basic", Patience(2), {"val_loss": [1.0, 0.9, 0.95, 0.97, 0.5]}, 4),
    ("patience 1", Patience(1), {"val_loss": [1.0, 1.0]}, 2),
    ("patience reset", Patience(2), {"val_loss": [1.0, 1.1, 0.9, 1.2, 1.3]}, 5),
    ("patience never", Patience(3), FALLING, None),
    ("patience max", Patience(2, monitor="acc", mode="max"), {"acc": [0.5, 0.7, 0.6, 0.7]}, 4),
    ("patience max rising", Patience(1, monitor="acc", mode="max"), {"acc": [0.1, 0.2]}, None),
    # 1.0 -> 0.75 improves by exactly min_delta = 0.25, which does not count.
    ("min_delta equal", Patience(1, min_delta=0.25), {"val_loss": [1.0, 0.75]}, 2),
    ("min_delta more", Patience(1, min_delta=0.25), {"val_loss": [1.0, 0.5]}, None),
    # Small improvements do not move the best: 0.9 and 0.8 are within 0.25 of 1.0.
    ("min_delta creep", Patience(2, min_delta=0.25), {"val_loss": [1.0, 0.9, 0.8, 0.7]}, 3),
    ("nan no improve", Patience(2), {"val_loss": [1.0, NAN, NAN, 0.5]}, 3),
    ("nan first", Patience(2), {"val_loss": [NAN, 1.0, 0.9]}, None),
    ("nan first counts", Patience(1), {"val_loss": [NAN, 1.0]}, 1),
    ("start_from_epoch", Patience(2, start_from_epoch=2), {"val_loss": [0.1, 0.1, 1, 2, 3]}, 5),
    ("start ignores all", Patience(1, start_from_epoch=5), {"val_loss": [1.0, 2.0, 3.0]}, None),
    ("threshold min", Threshold(0.5), {"val_loss": [0.9, 0.5, 0.4]}, 3),
    ("threshold max", Threshold(0.9, monitor="acc", mode="max"), {"acc": [0.5, 0.9, 0.95]}, 3),
    ("threshold never", Threshold(0.1), FALLING, None),
    ("threshold nan", Threshold(0.5), {"val_loss": [NAN, 0.4]}, 2),
    ("divergence min", Divergence(10.0), {"val_loss": [2.0, 10.0, 40.0]}, 3),
    ("divergence max", Divergence(0.2, monitor="acc", mode="max"), {"acc": [0.5, 0.2, 0.1]}, 3),
    ("divergence nan", Divergence(10.0), {"val_loss": [2.0, NAN]}, 2),
    ("divergence never", Divergence(10.0), FALLING, None),
    ("nonfinite nan", NonFinite(), {"val_loss": [1.0, NAN]}, 2),
    ("nonfinite inf", NonFinite(), {"val_loss": [1.0, 2.0, -INF]}, 3),
    ("nonfinite never", NonFinite(), FALLING, None),
    ("relchange", RelativeChange(0.01), {"train_loss": [1.0, 0.5, 0.499]}, 3),
    ("relchange equal", RelativeChange(0.5), {"train_loss": [1.0, 0.5, 0.25]}, None),
    ("relchange zeros", RelativeChange(0.01), {"train_loss": [1.0, 0.0, 0.0]}, 3),
    ("relchange from 0", RelativeChange(0.01), {"train_loss": [0.0, 1.0, 1.0]}, 3),
    ("relchange nan", RelativeChange(0.01), {"train_loss": [1.0, NAN, NAN]}, None),
    ("relchange never", RelativeChange(0.01), FALLING, None),
    ("GL strict", GeneralizationLoss(12.5), PRECHELT, 4),
    ("GL 0", GeneralizationLoss(0.0), PRECHELT, 3),
    ("GL never", GeneralizationLoss(60.0), PRECHELT, None),
    # NaN is not a number of percent above the best (NonFinite and Divergence catch it).
    ("GL nan", GeneralizationLoss(5.0), {"val_loss": [1.0, NAN, 0.9]}, None),
    ("GL nan after 0", GeneralizationLoss(5.0), {"val_loss": [0.0, NAN]}, None),
    ("GL from 0", GeneralizationLoss(5.0), {"val_loss": [0.0, 0.0, 0.1]}, 3),
    ("PQ", ProgressQuotient(0.5, strip=2), PRECHELT, 6),
    ("PQ low", ProgressQuotient(0.05, strip=2), PRECHELT, 4),
    ("PQ never", ProgressQuotient(1.0, strip=2), PRECHELT, None),
    # A flat strip has P = 0: no progress to divide by, so the rule does not fire.
    ("PQ flat", ProgressQuotient(0.0, strip=2), {"val_loss": [1, 2], "train_loss": [1, 1]}, None),
    ("UP 1", UpStrips(1, strip=2), PRECHELT, 4),
    ("UP 2", UpStrips(2, strip=2), PRECHELT, 6),
    ("UP never", UpStrips(3, strip=2), PRECHELT, None),
    ("UP reset", UpStrips(2, strip=1), {"val_loss": [1, 2, 1, 2, 3]}, 5),
    ("anyof earliest", Patience(1) | Threshold(0.95), {"val_loss": [1.0, 0.9, 0.9]}, 2),
    ("anyof none", Patience(5) | Threshold(0.0), FALLING, None),
]


@pytest.mark.parametrize(
    "rule, history, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_cases(rule, history, expected):
    stop = rule(history)
    assert (stop and stop.epoch) == expected
    if stop is not None:
        assert stop.rule in RULES and stop.reason


@pytest.mark.parametrize(
    "rule, history, reason",
    [
        (
            Patience(5),
            {"val_loss": [0.5, 0.3, 0.213, 0.22, 0.23, 0.24, 0.25, 0.26]},
            "val_loss did not improve by more than 0 for 5 epochs; best 0.213 at epoch 3",
        ),
        (
            Patience(1, min_delta=0.01, monitor="val_acc", mode="max"),
            {"val_acc": [0.5, 0.505]},
            "val_acc did not improve by more than 0.01 for 1 epoch; best 0.5 at epoch 1",
        ),
        (
            Threshold(0.9, "acc", "max"),
            {"acc": [0.95]},
            "acc reached 0.95, above the threshold 0.9",
        ),
        (
            # On a tie E_opt keeps its first epoch.
            GeneralizationLoss(5.0),
            {"val_loss": [0.5, 0.5, 0.75]},
            "val_loss 0.75 is 50% above its best 0.5 (epoch 1): GL 50 > alpha 5",
        ),
        (
            Divergence(0.2, "acc", "max"),
            {"acc": [0.1]},
            "acc was 0.1, below the divergence threshold 0.2",
        ),
        (
            RelativeChange(0.01),
            {"train_loss": [1.0, 0.5, 0.499]},
            "train_loss changed by 0.002 relative (0.5 to 0.499), less than tol 0.01",
        ),
        (
            # A negative loss (e.g. a log-likelihood) still gives a non-negative change.
            RelativeChange(0.01),
            {"train_loss": [-2.0, -1.99]},
            "train_loss changed by 0.005 relative (-2 to -1.99), less than tol 0.01",
        ),
        (
            NonFinite(),
            {"val_loss": [INF]},
            "val_loss became inf: training diverged (try a lower learning rate)",
        ),
        (
            GeneralizationLoss(12.5),
            PRECHELT,
            "val_loss 0.625 is 25% above its best 0.5 (epoch 2): GL 25 > alpha 12.5",
        ),
        (
            ProgressQuotient(0.5, strip=2),
            PRECHELT,
            "GL 50 / training progress P2 62.5 = 0.8 > alpha 0.5",
        ),
        (
            UpStrips(2, strip=2),
            PRECHELT,
            "val_loss rose at 2 strip ends in a row (strips of 2 epochs): 0.5 -> 0.625 -> 0.75",
        ),
    ],
)
def test_reasons_name_the_values(rule, history, reason):
    assert rule(history).reason == reason


def test_stop_fields_and_repr():
    stop = Patience(2)({"val_loss": [1.0, 1.0, 1.0]})
    assert stop == Stop(epoch=3, reason=stop.reason, rule="Patience")
    assert repr(stop).startswith("Stop(epoch=3, rule='Patience', reason='val_loss did not")


def test_trace():
    # Values from the hand-computed table above.
    assert GeneralizationLoss(5.0).trace(PRECHELT) == {"GL": [0, 0, 12.5, 25, 50, 50]}
    pq = ProgressQuotient(0.5, strip=2).trace(PRECHELT)["PQ"]
    assert [round(q, 12) for q in pq[1::2]] == [0.0, 0.1, 0.8]
    assert all(math.isnan(q) for q in pq[0::2])
    wait = Patience(2, start_from_epoch=1).trace({"val_loss": [0, 1, 2, 0.5, 3]})["wait"]
    assert math.isnan(wait[0]) and wait[1:] == [0, 1, 0, 1]
    change = RelativeChange(0.01).trace({"train_loss": [1.0, 0.5, 0.25]})["relative_change"]
    assert math.isnan(change[0]) and change[1:] == [0.5, 0.5]
    assert UpStrips(2, strip=2).trace(PRECHELT)["ups"][1::2] == [0, 1, 2]
    assert NonFinite().trace({"val_loss": [1.0]}) == {"val_loss": [1.0]}
    both = (Patience(1) | GeneralizationLoss(5.0)).trace(PRECHELT)
    assert set(both) == {"Patience.wait", "GeneralizationLoss.GL"}


def default_rule(cls):
    """An instance of a rule class built from its slider defaults."""
    return cls(**{name: p.default for name, p in cls.params().items()})


ALL_RULES = [default_rule(cls) for cls in RULES.values()]


@pytest.mark.parametrize("rule", ALL_RULES, ids=list(RULES))
def test_empty_history_gives_none(rule):
    assert rule({"val_loss": [], "train_loss": []}) is None
    assert list(rule.trace({"val_loss": [], "train_loss": []}).values()) == [[]]


@pytest.mark.parametrize(
    "rules, history, epoch, name",
    [
        # Both fire at epoch 2 (no improvement, and above 1.5): the tie goes to the first listed.
        ((Divergence(1.5), Patience(1)), {"val_loss": [1.0, 2.0]}, 2, "Divergence"),
        ((Patience(1), Divergence(1.5)), {"val_loss": [1.0, 2.0]}, 2, "Patience"),
        ((NonFinite(), Patience(1)), {"val_loss": [1.0, NAN]}, 2, "NonFinite"),
        ((Patience(1), Threshold(0.95)), {"val_loss": [1.0, 1.0, 0.9]}, 2, "Patience"),
        ((Threshold(0.5), Patience(1)), {"val_loss": [1.0, 1.0, 0.4]}, 2, "Patience"),
        ((Patience(5), NonFinite()), {"val_loss": [1.0, NAN]}, 2, "NonFinite"),
        ((Patience(1), Threshold(0.95)), {"val_loss": [1.0, 0.9, 0.9]}, 2, "Threshold"),
    ],
)
def test_anyof_earliest_wins_ties_to_first(rules, history, epoch, name):
    stop = AnyOf(*rules)(history)
    assert (stop.epoch, stop.rule) == (epoch, name)
    assert stop == rules[[r.__class__.__name__ for r in rules].index(name)](history)


def test_or_flattens():
    a, b, c = Patience(3), Threshold(0.1), NonFinite()
    assert (a | b | c) == AnyOf(a, b, c)
    assert (a | (b | c)) == AnyOf(a, b, c)
    assert (a | b | c).rules == (a, b, c)
    assert AnyOf(a, b).replace(rules=[c]) == AnyOf(c)
    with pytest.raises(TypeError):
        a | 3  # noqa: B018


@pytest.mark.parametrize(
    "values, kwargs, expected",
    [
        ([0.9, 0.4, 0.4, 0.7], {}, 2),
        ([NAN, 0.4, NAN, 0.3], {}, 4),
        ([NAN, NAN], {}, None),
        ([INF, 1.0], {}, 2),
        ([], {}, None),
        ([0.1, 0.9, 0.9], {"mode": "max"}, 2),
        ([0.1, 0.5, 0.3], {"start_from_epoch": 2}, 3),
        ([0.1, 0.5], {"start_from_epoch": 2}, None),
    ],
)
def test_best_epoch(values, kwargs, expected):
    assert best_epoch({"val_loss": values}, **kwargs) == expected


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Patience(-1), "patience must be an integer >= 1"),
        (lambda: Patience(0), "patience must be an integer >= 1"),
        (lambda: Patience(2.5), "patience must be an integer"),
        (lambda: Patience(True), "patience must be an integer"),
        (lambda: Patience(3, min_delta=-0.1), "min_delta must be a number >= 0"),
        (lambda: Patience(3, min_delta=NAN), "min_delta must be a number"),
        (lambda: Patience(3, mode="minimum"), "mode must be 'auto', 'min' .* or 'max'"),
        (lambda: Patience(3, start_from_epoch=-1), "start_from_epoch must be an integer >= 0"),
        (lambda: Threshold(NAN), "threshold must be a number .not NaN."),
        (lambda: Threshold(0.1, mode="up"), "mode must be 'auto', 'min' .* or 'max'"),
        (lambda: Divergence(NAN), "threshold must be a number"),
        (lambda: Divergence(1.0, mode="MAX"), "mode must be"),
        (lambda: RelativeChange(0), "tol must be a number > 0"),
        (lambda: RelativeChange(-1e-3), "tol must be a number > 0"),
        (lambda: GeneralizationLoss(-1), "alpha must be a number >= 0"),
        (lambda: ProgressQuotient(-0.5), "alpha must be a number >= 0"),
        (lambda: ProgressQuotient(0.5, strip=0), "strip must be an integer >= 1"),
        (lambda: UpStrips(0), "strips must be an integer >= 1"),
        (lambda: UpStrips(2, strip=0), "strip must be an integer >= 1"),
        (lambda: AnyOf(), "rules must hold at least one rule"),
        (lambda: AnyOf(Patience(1), "Patience"), "rules must be stop rules; argument 2"),
        (lambda: Patience(3).replace(patience=0), "patience must be"),
        (lambda: best_epoch({"val_loss": [1.0]}, mode="low"), "mode must be"),
        (lambda: best_epoch({"val_loss": [1.0]}, start_from_epoch=-2), "start_from_epoch must"),
    ],
)
def test_invalid_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


MISSING = [
    Patience(2, monitor="val_los"),
    Threshold(0.1, monitor="val_los"),
    Divergence(9.0, monitor="val_los"),
    NonFinite(monitor="val_los"),
    RelativeChange(0.1, monitor="val_los"),
    GeneralizationLoss(5, monitor="val_los"),
    ProgressQuotient(1, monitor="val_los"),
    ProgressQuotient(1, train="val_los"),
    UpStrips(2, monitor="val_los"),
    Patience(1) | NonFinite(monitor="val_los"),
]


@pytest.mark.parametrize("rule", MISSING, ids=lambda r: type(r).__name__)
def test_missing_metric(rule):
    history = {"val_loss": [1.0], "train_loss": [1.0], "epoch": [1]}
    with pytest.raises(KeyError) as info:
        rule(history)
    assert isinstance(info.value, MetricNotFound)
    assert info.value.metric == "val_los"
    assert (
        str(info.value) == "no metric 'val_los' in the history; it has: epoch, train_loss, val_loss"
    )


def test_missing_metric_elsewhere():
    with pytest.raises(MetricNotFound, match="no metric 'acc' in the history; it has: val_loss"):
        best_epoch({"val_loss": [1.0]}, monitor="acc")
    with pytest.raises(MetricNotFound, match="it has: no metrics at all"):
        Threshold(0.5).params_for({})


@pytest.mark.parametrize("rule", [*ALL_RULES, Patience(1) | NonFinite()], ids=[*RULES, "AnyOf"])
def test_rules_are_frozen(rule):
    name = dataclasses.fields(rule)[0].name if dataclasses.fields(rule) else "monitor"
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(rule, name, 1)
    assert hash(rule) == hash(rule.replace()) and rule == rule.replace()


@pytest.mark.parametrize("cls", list(RULES.values()), ids=list(RULES))
def test_params_and_replace(cls):
    params = cls.params()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(params) <= set(fields) and not {"monitor", "mode", "train"} & set(params)
    for name, p in params.items():
        assert isinstance(p, Param) and p.name == name and p.doc
        assert p.kind in ("int", "float") and p.low <= p.default <= p.high and p.step > 0
        if fields[name].default is not dataclasses.MISSING:
            assert p.default == fields[name].default
    # Every field without a default is a slider, so a rule can be built from params() alone.
    rule = default_rule(cls)
    history = {"val_loss": [0.3, 0.9, 0.6], "train_loss": [1.0, 0.8, 0.7]}
    adapted = rule.params_for(history)
    assert set(adapted) == set(params)
    for name, p in params.items():
        for value in (p.low, p.high):
            value = int(value) if p.kind == "int" else value
            changed = rule.replace(**{name: value})
            assert getattr(changed, name) == value and type(changed) is cls
            assert getattr(rule, name) == p.default  # the original is untouched
            changed(history)
    if "threshold" in params:
        t = adapted["threshold"]
        assert (t.low, t.high) == (0.3, 0.9) and t.low <= t.default <= t.high
        assert t.step == pytest.approx(0.006)
    else:
        assert adapted == params


def test_params_for_edge_cases():
    flat = Threshold(0.5).params_for({"val_loss": [2.0, NAN, 2.0, INF]})["threshold"]
    assert (flat.low, flat.high, flat.default) == (0.0, 4.0, 0.5)
    assert Divergence(1.0).params_for({"val_loss": [NAN]}) == Divergence.params()
    assert Patience.params()["patience"] == Param(
        "patience", "int", 1, 50, 1, 5, "epochs without improvement before stopping"
    )
    assert NonFinite.params() == {}


def random_history(rng, n):
    """A noisy, mostly falling loss curve with plateaus, zeros, NaN and inf thrown in."""

    def curve():
        values, level = [], rng.uniform(0.5, 2.0)
        for _ in range(n):
            r = rng.random()
            if r < 0.05:
                values.append(NAN)
            elif r < 0.07:
                values.append(INF)
            elif r < 0.09:
                values.append(0.0)
            elif r < 0.25 and values:
                values.append(values[-1])  # exact repeats exercise ties and equal min_delta
            else:
                level *= rng.uniform(0.85, 1.12)
                values.append(round(level, 3))
        return values

    return {"val_loss": curve(), "train_loss": curve(), "val_acc": curve()}


PREFIX_RULES = [
    Patience(1),
    Patience(3),
    Patience(2, min_delta=0.05),
    Patience(2, monitor="val_acc", mode="max"),
    Patience(2, start_from_epoch=4),
    Threshold(0.4),
    Threshold(1.5, monitor="val_acc", mode="max"),
    Divergence(2.5),
    Divergence(0.3, monitor="val_acc", mode="max"),
    NonFinite(),
    RelativeChange(0.02),
    GeneralizationLoss(10.0),
    ProgressQuotient(0.5, strip=3),
    UpStrips(1, strip=2),
    UpStrips(2, strip=3),
    Patience(4) | GeneralizationLoss(20.0) | NonFinite(),
]


@pytest.mark.parametrize("rule", PREFIX_RULES, ids=repr)
def test_prefix_consistency(rule):
    """Replaying epoch by epoch (as the training loop does) agrees with the whole history."""
    fired = quiet = 0
    for seed in range(40):
        rng = random.Random(seed)
        history = random_history(rng, rng.randint(0, 30))
        full = rule(history)
        length = len(history["val_loss"])
        for n in range(length + 1):
            prefix = {name: values[:n] for name, values in history.items()}
            stop = rule(prefix)
            if full is None or n < full.epoch:
                assert stop is None, (seed, n)
            else:
                assert stop == full, (seed, n)
        fired += full is not None
        quiet += full is None
    assert fired and quiet  # the random histories exercise both outcomes


# Issue 11: mode "auto" means higher is better for accuracies in every rule and best_epoch.
RISING = {"val_acc": [0.33, 0.5, 0.6, 0.7, 0.8], "train_accuracy": [0.4, 0.6, 0.7, 0.8, 0.9]}
MODE_CASES = [
    # (id, rule, history, expected stop epoch, words the reason must hold)
    ("acc rising never stops", Patience(3, monitor="val_acc"), RISING, None, ""),
    ("acc peak", Patience(2, monitor="val_acc"), {"val_acc": [0.5, 0.7, 0.6, 0.65]}, 4,
     "best 0.7 at epoch 2"),
    ("accuracy suffix", Patience(1, monitor="train_accuracy"), RISING, None, ""),
    ("explicit min wins", Patience(2, monitor="val_acc", mode="min"), RISING, 3,
     "best 0.33 at epoch 1"),
    ("loss stays min", Patience(1), {"val_loss": [1.0, 0.5, 0.7]}, 3, "best 0.5 at epoch 2"),
    ("threshold acc", Threshold(0.9, monitor="val_acc"), {"val_acc": [0.5, 0.95]}, 2,
     "above the threshold 0.9"),
    ("threshold loss", Threshold(0.9), {"val_loss": [0.95, 0.5]}, 2, "below the threshold 0.9"),
    ("divergence acc", Divergence(0.2, monitor="val_acc"), {"val_acc": [0.5, 0.1]}, 2,
     "below the divergence threshold 0.2"),
    ("divergence acc fine", Divergence(0.2, monitor="val_acc"), RISING, None, ""),
]  # fmt: skip


@pytest.mark.parametrize(
    "rule, history, epoch, words", [c[1:] for c in MODE_CASES], ids=[c[0] for c in MODE_CASES]
)
def test_mode_auto_tracks_the_max_for_accuracies(rule, history, epoch, words):
    stop = rule(history)
    assert (stop and stop.epoch) == epoch, f"{rule} should stop at {epoch}, stopped at {stop}"
    assert stop is None or words in stop.reason, f"the reason should say {words!r}: {stop}"


@pytest.mark.parametrize(
    "history, monitor, mode, expected",
    [
        (RISING, "val_acc", "auto", 5),
        ({"val_acc": [0.5, 0.8, 0.7]}, "val_acc", "auto", 2),
        ({"val_acc": [0.5, 0.8, 0.7]}, "val_acc", "min", 1),
        ({"val_loss": [0.5, 0.8, 0.7]}, "val_loss", "auto", 1),
        ({"val_loss": [0.5, 0.8, 0.7]}, "val_loss", "max", 2),
    ],
)
def test_best_epoch_mode_auto(history, monitor, mode, expected):
    assert best_epoch(history, monitor, mode) == expected, f"best {monitor} with mode={mode}"
    if mode == "auto":
        assert best_epoch(history, monitor) == expected, "mode defaults to 'auto'"


def test_mode_is_stored_as_given():
    assert Patience(3).mode == "auto" and "mode='auto'" in repr(Patience(3))
    assert Patience(3, monitor="val_acc").replace(monitor="val_loss")({"val_loss": [1, 2, 3, 4]})


def grow(rule, history, catch_up=0):
    """Step `rule` over `history` as fit does: one epoch appended, then one step.

    The first `catch_up` epochs are stepped over the whole history first (as fit does after
    a resume). Returns the first Stop and, per rule, the traced quantities.
    """
    n = len(history["val_loss"])
    grown = {name: list(values[:catch_up]) for name, values in history.items()}
    rules = rule.rules if isinstance(rule, AnyOf) else (rule,)
    names = [f"{type(r).__name__}.{r._TRACE or r.monitor}" for r in rules]
    state, first, looked = rule.start(), None, {name: [] for name in names}
    states = [r.start() for r in rules]
    for epoch in range(1, n + 1):
        if epoch > catch_up:
            for name, values in history.items():
                grown[name].append(values[epoch - 1])
        state, stop = rule.step(state, grown, epoch)
        first = first or stop
        for i, r in enumerate(rules):  # the traced quantity, from each rule's own step
            states[i], quantity, _ = r._look(states[i], grown, epoch)
            looked[names[i]].append(quantity)
    return first, looked


def same(a, b):
    """Equal lists of floats, where NaN equals NaN."""
    if len(a) != len(b):
        return False
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


STEP_RULES = [
    *PREFIX_RULES,
    Patience(2, monitor="val_acc"),
    Threshold(0.5, monitor="val_acc"),
    Divergence(0.2, monitor="val_acc"),
    RelativeChange(0.5),
    GeneralizationLoss(0.0),
    ProgressQuotient(0.1, strip=4),
    UpStrips(1, strip=1),
    UpStrips(3, strip=1),
    NonFinite("train_loss") | NonFinite("val_loss") | Patience(3),  # what fit builds
    UpStrips(2, strip=2) | ProgressQuotient(0.5, strip=2) | GeneralizationLoss(5.0),
    Threshold(0.5) | Divergence(1.5) | RelativeChange(0.05, monitor="val_loss"),
    Patience(2, monitor="val_acc") | Threshold(1.2, monitor="val_acc"),
]


@pytest.mark.parametrize("rule", STEP_RULES, ids=repr)
def test_stepping_agrees_with_replay(rule):
    """The loop's incremental answer (stop epoch, reason, trace) is the replayed one."""
    fired = quiet = 0
    for seed in range(300):
        rng = random.Random(seed)
        history = random_history(rng, rng.randint(0, 60))
        replayed = rule(history)
        catch_up = rng.randint(0, len(history["val_loss"]))
        stepped, looked = grow(rule, history, catch_up)
        assert stepped == replayed, f"seed {seed}: stepping gave {stepped}, replay {replayed}"
        traces = rule.trace(history)
        if not isinstance(rule, AnyOf):
            traces = {f"{type(rule).__name__}.{k}": v for k, v in traces.items()}
        assert traces.keys() == looked.keys(), "one trace per rule"
        for name, values in traces.items():
            assert same(values, looked[name]), f"seed {seed}: trace {name} differs"
        fired += replayed is not None
        quiet += replayed is None
    assert fired and quiet, "the random histories should exercise both outcomes"


class Counted(list):
    """A list that counts how many of its items are read."""

    reads = 0

    def __getitem__(self, index):
        got = super().__getitem__(index)
        Counted.reads += len(got) if isinstance(index, slice) else 1
        return got


@pytest.mark.parametrize("rule", STEP_RULES, ids=repr)
def test_a_step_costs_the_same_at_epoch_10000_as_at_10(rule):
    """The loop's rule cost per epoch is constant: a step reads a few recent values only."""
    n, rng = 10_000, random.Random(0)
    level = [1.0]
    history = {name: Counted() for name in ("val_loss", "train_loss", "val_acc")}
    state, reads = rule.start(), []
    for epoch in range(1, n + 1):
        level.append(level[-1] * rng.uniform(0.9, 1.1))
        for values in history.values():
            values.append(level[-1])
        before = Counted.reads
        state, _ = rule.step(state, history, epoch)
        reads.append(Counted.reads - before)
    assert max(reads[-100:]) <= max(reads[:100]) + 20, "a late step reads more than an early one"


def test_upstrips_replay_is_linear():
    """A long run of rises (the rule's count grows without firing) replays in linear time."""
    values = Counted(float(i) for i in range(20_000))
    before = Counted.reads
    assert UpStrips(10**6, strip=1)({"val_loss": values}) is None
    assert Counted.reads - before <= 3 * len(values), "UpStrips read the history quadratically"


def test_rule_base_is_abstract():
    with pytest.raises(NotImplementedError):
        Rule()({"val_loss": [1.0]})
    assert not hasattr(Patience(1) | Threshold(0.5), "monitor"), (
        "a combination watches several metrics, so it has no single `monitor`"
    )


@pytest.mark.parametrize(
    "module",
    [workbench.stopping.rule, workbench.stopping.rules, workbench.stopping.prechelt],
    ids=repr,
)
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0, "the docstring examples hold"
