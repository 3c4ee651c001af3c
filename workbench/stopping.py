"""Early-stopping rules: when should training stop?

A rule reads a history (metric name -> list of per-epoch floats, epochs from 1) and returns
the first epoch at which it fires as a `Stop`, or None. Rules are frozen dataclasses with no
hidden counters, so the training loop (after each epoch), a slider (replaying a finished run)
and a search all get the same answer. Combine rules with `|`: the earliest stop wins.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

HistoryLike = Mapping[str, Sequence[float]]
Scan = Iterator[tuple[float, str | None]]  # per epoch: (quantity looked at, reason if it fires)


@dataclass(frozen=True, repr=False)
class Stop:
    """Where and why a rule stopped: `epoch` is the 1-based last epoch that runs,
    `reason` a sentence naming the values, `rule` the rule's short name ("Patience")."""

    epoch: int
    reason: str
    rule: str

    def __repr__(self) -> str:  # rule before reason: easier to read in a doctest
        return f"Stop(epoch={self.epoch}, rule={self.rule!r}, reason={self.reason!r})"


@dataclass(frozen=True)
class Param:
    """A tunable numeric parameter described for a slider; `kind` is "int" or "float"."""

    name: str
    kind: str
    low: float
    high: float
    step: float
    default: float
    doc: str


class MetricNotFound(KeyError):
    """The monitored metric is not in the history; the message lists the metrics that are."""

    def __init__(self, metric: str, history: HistoryLike):
        super().__init__(metric)
        self.metric, self.available = metric, sorted(map(str, history))

    def __str__(self) -> str:  # KeyError would print repr(args[0]) instead of a sentence
        have = ", ".join(self.available) or "no metrics at all"
        return f"no metric {self.metric!r} in the history; it has: {have}"


def _series(history: HistoryLike, metric: str) -> list[float]:
    if metric not in history:
        raise MetricNotFound(metric, history)
    return [float(v) for v in history[metric]]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _beats(value: float, ref: float, mode: str, margin: float = 0.0) -> bool:
    # Comparisons with NaN are False, so a NaN value never beats anything.
    return value < ref - margin if mode == "min" else value > ref + margin


def _div(a: float, b: float) -> float:
    """a / b where 0 / 0 is 0 (no change) and x / 0 is infinite."""
    if b == 0:
        return math.nan if math.isnan(a) else 0.0 if a == 0 else math.inf
    return a / b


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_number(name: str, value: object, low: float | None = None, strict: bool = False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        bound = "" if low is None else f" {'>' if strict else '>='} {low}"
        raise ValueError(f"{name} must be a number{bound} (not NaN), got {value!r}")


def _check_mode(mode: object) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


def resolve_mode(monitor: str, mode: str | None = "auto") -> str:
    """'min' or 'max' for `monitor`: "auto" (or None) means max for accuracies, else min.

    >>> resolve_mode("val_acc"), resolve_mode("val_loss"), resolve_mode("val_acc", "min")
    ('max', 'min', 'min')
    """
    if mode in (None, "auto"):
        return "max" if str(monitor).endswith(("acc", "accuracy")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(
            f"mode must be 'auto', 'min' (lower is better) or 'max' (higher is better), "
            f"got {mode!r}"
        )
    return mode


class Rule:
    """Base of the stop rules: `rule(history)` returns the first `Stop`, or None."""

    _PARAMS: ClassVar[tuple[Param, ...]] = ()
    _TRACE: ClassVar[str] = ""  # name of the traced quantity; "" means the monitored metric

    def _scan(self, history: HistoryLike) -> Scan:
        raise NotImplementedError

    def __call__(self, history: HistoryLike) -> Stop | None:
        # The scan only looks backwards, so the first firing epoch is the same on any prefix.
        for epoch, (_, reason) in enumerate(self._scan(history), start=1):
            if reason is not None:
                return Stop(epoch, reason, type(self).__name__)
        return None

    def trace(self, history: HistoryLike) -> dict[str, list[float]]:
        """The per-epoch quantity the rule looks at (NaN where it looks at nothing), to plot."""
        return {self._TRACE or self.monitor: [q for q, _ in self._scan(history)]}

    def __or__(self, other: Rule) -> AnyOf:
        if not isinstance(other, Rule):
            return NotImplemented
        return AnyOf(*_flat(self), *_flat(other))

    @classmethod
    def params(cls) -> dict[str, Param]:
        """Slider descriptions of the numeric parameters: name -> `Param`."""
        return {p.name: p for p in cls._PARAMS}

    def params_for(self, history: HistoryLike) -> dict[str, Param]:
        """Like `params()`, with ranges adapted to the values seen in `history`."""
        return self.params()

    def replace(self, **changes: object) -> Rule:
        """A copy with some parameters changed, validated like a new rule."""
        return dataclasses.replace(self, **changes)


def _flat(rule: Rule) -> tuple[Rule, ...]:
    return rule.rules if isinstance(rule, AnyOf) else (rule,)


@dataclass(frozen=True)
class Patience(Rule):
    """Stop after `patience` epochs without an improvement of more than `min_delta`.

    Keras/Lightning semantics: the first considered epoch sets the best; the wait counter
    resets on an improvement and otherwise grows; NaN never improves. The first
    `start_from_epoch` epochs are ignored. Trace: the wait counter.

    >>> Patience(2)({"val_loss": [1.0, 0.9, 0.95, 0.97, 0.5]})
    Stop(epoch=4, rule='Patience', reason='val_loss did not improve by more than 0 for 2 epochs; best 0.9 at epoch 2')
    """  # noqa: E501

    patience: int
    min_delta: float = 0.0
    monitor: str = "val_loss"
    mode: str = "min"
    start_from_epoch: int = 0
    _PARAMS: ClassVar = (
        Param("patience", "int", 1, 50, 1, 5, "epochs without improvement before stopping"),
        Param("min_delta", "float", 0.0, 0.1, 0.001, 0.0, "smallest change that counts"),
        Param("start_from_epoch", "int", 0, 50, 1, 0, "warm-up epochs that are ignored"),
    )
    _TRACE: ClassVar = "wait"

    def __post_init__(self):
        _check_int("patience", self.patience, 1)
        _check_number("min_delta", self.min_delta, 0)
        _check_mode(self.mode)
        _check_int("start_from_epoch", self.start_from_epoch, 0)

    def _scan(self, history: HistoryLike) -> Scan:
        best, best_epoch, wait = math.nan, 0, 0
        for epoch, value in enumerate(_series(history, self.monitor), start=1):
            if epoch <= self.start_from_epoch:
                yield math.nan, None  # warm-up: not looked at
                continue
            first = best_epoch == 0 and not math.isnan(value)
            if first or _beats(value, best, self.mode, self.min_delta):
                best, best_epoch, wait = value, epoch, 0
            else:
                wait += 1
            if wait < self.patience:
                yield wait, None
                continue
            seen = f"best {_fmt(best)} at epoch {best_epoch}" if best_epoch else "no number yet"
            change = f"by more than {_fmt(self.min_delta)} for {_epochs(wait)}"
            yield wait, f"{self.monitor} did not improve {change}; {seen}"


@dataclass(frozen=True)
class _Bound(Rule):
    """Shared fields of the rules that compare each value with a fixed threshold."""

    threshold: float
    monitor: str = "val_loss"
    mode: str = "min"

    def __post_init__(self):
        _check_number("threshold", self.threshold)
        _check_mode(self.mode)

    def params_for(self, history: HistoryLike) -> dict[str, Param]:
        """Like `params()`, with the threshold ranging over the metric's finite values."""
        params = self.params()
        finite = [v for v in _series(history, self.monitor) if math.isfinite(v)]
        if not finite:
            return params
        low, high = min(finite), max(finite)
        if low == high:  # a flat metric still needs a slider with room to move
            low, high = low - (abs(low) or 1.0), high + (abs(high) or 1.0)
        old = params["threshold"]
        default = min(max(old.default, low), high)
        params["threshold"] = dataclasses.replace(
            old, low=low, high=high, step=(high - low) / 100, default=default
        )
        return params


@dataclass(frozen=True)
class Threshold(_Bound):
    """Stop at the first epoch strictly better than `threshold` (good enough: done).

    >>> Threshold(0.5)({"val_loss": [0.9, 0.5, 0.4]})
    Stop(epoch=3, rule='Threshold', reason='val_loss reached 0.4, below the threshold 0.5')
    """

    _PARAMS: ClassVar = (Param("threshold", "float", 0.0, 2.0, 0.01, 0.5, "good-enough value"),)

    def _scan(self, history: HistoryLike) -> Scan:
        side = "below" if self.mode == "min" else "above"
        for value in _series(history, self.monitor):
            why = (
                f"{self.monitor} reached {_fmt(value)}, {side} the threshold {_fmt(self.threshold)}"
            )
            yield value, why if _beats(value, self.threshold, self.mode) else None


@dataclass(frozen=True)
class Divergence(_Bound):
    """Stop at the first epoch strictly worse than `threshold`, or NaN: training blew up.

    >>> Divergence(10.0)({"val_loss": [2.0, 3.0, 40.0]})
    Stop(epoch=3, rule='Divergence', reason='val_loss was 40, above the divergence threshold 10')
    """

    _PARAMS: ClassVar = (Param("threshold", "float", 0.0, 2.0, 0.01, 2.0, "hopeless value"),)

    def _scan(self, history: HistoryLike) -> Scan:
        side = "above" if self.mode == "min" else "below"
        for value in _series(history, self.monitor):
            # "worse" is "better" with the roles swapped; NaN is worse than anything.
            worse = _beats(self.threshold, value, self.mode) or math.isnan(value)
            why = f"{self.monitor} was {_fmt(value)}, {side} the divergence threshold"
            yield value, f"{why} {_fmt(self.threshold)}" if worse else None


@dataclass(frozen=True)
class NonFinite(Rule):
    """Stop at the first NaN or infinite value (`fit` always adds this rule for the losses).

    >>> NonFinite()({"val_loss": [0.7, float("nan")]})
    Stop(epoch=2, rule='NonFinite', reason='val_loss became nan: training diverged (try a lower learning rate)')
    """

    monitor: str = "val_loss"

    def _scan(self, history: HistoryLike) -> Scan:
        for value in _series(history, self.monitor):
            finite = math.isfinite(value)
            why = f"{self.monitor} became {_fmt(value)}: training diverged"
            yield value, None if finite else f"{why} (try a lower learning rate)"


@dataclass(frozen=True)
class RelativeChange(Rule):
    """Stop at the first epoch t >= 2 where |L(t) - L(t-1)| / |L(t-1)| < `tol`: a plateau.

    >>> RelativeChange(0.01)({"train_loss": [1.0, 0.5, 0.499]})
    Stop(epoch=3, rule='RelativeChange', reason='train_loss changed by 0.002 relative (0.5 to 0.499), less than tol 0.01')
    """  # noqa: E501

    tol: float
    monitor: str = "train_loss"
    _PARAMS: ClassVar = (
        Param("tol", "float", 1e-4, 0.1, 1e-4, 1e-3, "relative change that counts as a plateau"),
    )
    _TRACE: ClassVar = "relative_change"

    def __post_init__(self):
        _check_number("tol", self.tol, 0, strict=True)

    def _scan(self, history: HistoryLike) -> Scan:
        values = _series(history, self.monitor)
        if values:
            yield math.nan, None  # epoch 1 has nothing to compare with
        for prev, value in zip(values, values[1:], strict=False):
            change = _div(abs(value - prev), abs(prev))
            why = f"{self.monitor} changed by {_fmt(change)} relative"
            why += f" ({_fmt(prev)} to {_fmt(value)}), less than tol {_fmt(self.tol)}"
            yield change, why if change < self.tol else None


def _generalization_loss(values: list[float]) -> Iterator[tuple[float, float, int]]:
    """Yield (GL(t), E_opt(t), epoch of E_opt) per epoch, GL(t) = 100 (E(t) / E_opt(t) - 1)."""
    best, best_epoch = math.inf, 0
    for epoch, value in enumerate(values, start=1):
        if value < best:
            best, best_epoch = value, epoch
        yield 100 * _div(value - best, best), best, best_epoch


@dataclass(frozen=True)
class GeneralizationLoss(Rule):
    """Prechelt's GL_alpha: stop when the loss is more than `alpha` percent above its best.

    >>> GeneralizationLoss(5.0)({"val_loss": [1.0, 0.5, 0.52, 0.6]})
    Stop(epoch=4, rule='GeneralizationLoss', reason='val_loss 0.6 is 20% above its best 0.5 (epoch 2): GL 20 > alpha 5')
    """  # noqa: E501

    alpha: float
    monitor: str = "val_loss"
    _PARAMS: ClassVar = (Param("alpha", "float", 0.0, 20.0, 0.1, 5.0, "allowed % above the best"),)
    _TRACE: ClassVar = "GL"

    def __post_init__(self):
        _check_number("alpha", self.alpha, 0)

    def _scan(self, history: HistoryLike) -> Scan:
        values = _series(history, self.monitor)
        for value, (gl, best, at) in zip(values, _generalization_loss(values), strict=True):
            why = f"{self.monitor} {_fmt(value)} is {_fmt(gl)}% above its best {_fmt(best)}"
            why += f" (epoch {at}): GL {_fmt(gl)} > alpha {_fmt(self.alpha)}"
            yield gl, why if gl > self.alpha else None


@dataclass(frozen=True)
class ProgressQuotient(Rule):
    """Prechelt's PQ_alpha: at strip ends, stop when GL(t) / P_k(t) > `alpha`.

    P_k(t) = 1000 (mean / min of the strip's k training losses - 1) is the training progress,
    so overfitting weighs more once training has stalled. Trace: the quotient at strip ends.

    >>> h = {"val_loss": [1.0, 0.5, 0.6, 0.7], "train_loss": [1.0, 0.9, 0.85, 0.84]}
    >>> ProgressQuotient(1.0, strip=2)(h).epoch
    4
    """

    alpha: float
    strip: int = 5
    monitor: str = "val_loss"
    train: str = "train_loss"
    _PARAMS: ClassVar = (
        Param("alpha", "float", 0.0, 5.0, 0.05, 0.5, "allowed GL per unit of progress"),
        Param("strip", "int", 2, 20, 1, 5, "epochs per strip"),
    )
    _TRACE: ClassVar = "PQ"

    def __post_init__(self):
        _check_number("alpha", self.alpha, 0)
        _check_int("strip", self.strip, 1)

    def _scan(self, history: HistoryLike) -> Scan:
        values, train, k = _series(history, self.monitor), _series(history, self.train), self.strip
        for epoch, (gl, _, _) in enumerate(_generalization_loss(values), start=1):
            if epoch % k or epoch > len(train):
                yield math.nan, None  # only strip ends are looked at
                continue
            strip = train[epoch - k : epoch]
            progress = 1000 * _div(sum(strip) / k - min(strip), min(strip))
            quotient = gl / progress if progress > 0 else math.nan
            why = f"GL {_fmt(gl)} / training progress P{k} {_fmt(progress)} = {_fmt(quotient)}"
            yield quotient, f"{why} > alpha {_fmt(self.alpha)}" if quotient > self.alpha else None


@dataclass(frozen=True)
class UpStrips(Rule):
    """Prechelt's UP_s: stop when the loss at a strip end rose `strips` strip ends in a row.

    Strip ends are epochs k, 2k, ... (k = `strip`); each is compared with the previous one.
    Trace: the count of rises in a row at strip ends.

    >>> UpStrips(2, strip=1)({"val_loss": [0.5, 0.4, 0.45, 0.5]})
    Stop(epoch=4, rule='UpStrips', reason='val_loss rose at 2 strip ends in a row (strips of 1 epoch): 0.4 -> 0.45 -> 0.5')
    """  # noqa: E501

    strips: int
    strip: int = 5
    monitor: str = "val_loss"
    _PARAMS: ClassVar = (
        Param("strips", "int", 1, 8, 1, 3, "rises in a row before stopping"),
        Param("strip", "int", 2, 20, 1, 5, "epochs per strip"),
    )
    _TRACE: ClassVar = "ups"

    def __post_init__(self):
        _check_int("strips", self.strips, 1)
        _check_int("strip", self.strip, 1)

    def _scan(self, history: HistoryLike) -> Scan:
        values, k, ups = _series(history, self.monitor), self.strip, 0
        for epoch, value in enumerate(values, start=1):
            if epoch % k:
                yield math.nan, None  # only strip ends are looked at
                continue
            ups = ups + 1 if epoch > k and value > values[epoch - k - 1] else 0
            ends = " -> ".join(map(_fmt, values[epoch - 1 - ups * k : epoch : k]))
            why = f"{self.monitor} rose at {ups} strip ends in a row (strips of {_epochs(k)})"
            yield ups, f"{why}: {ends}" if ups >= self.strips else None


@dataclass(frozen=True, init=False)
class AnyOf(Rule):
    """Stop at the earliest epoch any rule fires; ties go to the rule listed first.

    >>> (Threshold(0.5) | Patience(1))({"val_loss": [1.0, 1.0, 0.4]}).rule
    'Patience'
    """

    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule):
        if not rules:
            raise ValueError("rules must hold at least one rule, e.g. AnyOf(Patience(5))")
        for i, rule in enumerate(rules, start=1):
            if not isinstance(rule, Rule):
                raise ValueError(f"rules must be stop rules; argument {i} is {rule!r}")
        object.__setattr__(self, "rules", tuple(rules))

    def __call__(self, history: HistoryLike) -> Stop | None:
        stops = [stop for stop in (rule(history) for rule in self.rules) if stop is not None]
        return min(stops, key=lambda stop: stop.epoch, default=None)  # min keeps the first tie

    def trace(self, history: HistoryLike) -> dict[str, list[float]]:
        return {
            f"{type(rule).__name__}.{name}": values
            for rule in self.rules
            for name, values in rule.trace(history).items()
        }

    def replace(self, *, rules: Sequence[Rule] | None = None) -> AnyOf:
        return AnyOf(*(self.rules if rules is None else rules))


def best_epoch(
    history: HistoryLike, monitor: str = "val_loss", mode: str = "min", start_from_epoch: int = 0
) -> int | None:
    """The 1-based epoch of the best finite value (the first on ties), or None if none.

    The first `start_from_epoch` epochs are ignored, as in `Patience`.

    >>> best_epoch({"val_loss": [0.9, 0.4, float("nan"), 0.4]})
    2
    """
    _check_mode(mode)
    _check_int("start_from_epoch", start_from_epoch, 0)
    best, found = math.nan, None
    for epoch, value in enumerate(_series(history, monitor), start=1):
        usable = epoch > start_from_epoch and math.isfinite(value)
        if usable and (found is None or _beats(value, best, mode)):
            best, found = value, epoch
    return found


RULES: dict[str, type[Rule]] = {
    cls.__name__: cls
    for cls in (
        Patience, Threshold, RelativeChange, GeneralizationLoss, ProgressQuotient, UpStrips,
        Divergence, NonFinite,
    )
}  # fmt: skip
