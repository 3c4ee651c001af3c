"""The base of the stop rules: `Rule`, what it returns (`Stop`), how its parameters are
described for sliders (`Param`), `AnyOf` (rules combined with `|`), and `best_epoch`.

Each rule is written once, as a pure step: `rule.step(state, history, epoch)` looks at one
epoch given the explicit `state` left by the epoch before (`rule.start()` for epoch 1) and
returns the new state and a `Stop` or None. `rule(history)` replays the steps from epoch 1;
the training loop carries the state instead, so a rule costs the same at epoch 10,000 as at
epoch 10. A step reads only epochs up to `epoch`, so the answer on any prefix of a history
is the answer the loop saw then. The rules themselves are in `workbench.stopping` (and
Prechelt's in `workbench.stopping.prechelt`); import everything from `workbench.stopping`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.history import Stop

HistoryLike = Mapping[str, Sequence[float]]
# One step's answer: (new state, the quantity looked at for the trace, reason if it fires).
# The reason is formatted only when the rule fires, so a quiet epoch costs a few comparisons.
Look = tuple[Any, float, str | None]


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


def _column(history: HistoryLike, metric: str) -> Sequence[float]:
    if metric not in history:
        raise MetricNotFound(metric, history)
    return history[metric]


def _series(history: HistoryLike, metric: str) -> list[float]:
    return [float(v) for v in _column(history, metric)]


def _at(history: HistoryLike, metric: str, epoch: int) -> float:
    """The value of `metric` at 1-based `epoch`, as a float."""
    return float(_column(history, metric)[epoch - 1])


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
    """Base of the stop rules: `rule(history)` returns the first `Stop`, or None.

    A rule implements `_look(state, history, epoch) -> (state, quantity, reason or None)`
    for one epoch and `start()` for the state before epoch 1; `_inputs` names the metrics
    it reads (the first one's length is the number of epochs).
    """

    _PARAMS: ClassVar[tuple[Param, ...]] = ()
    _TRACE: ClassVar[str] = ""  # name of the traced quantity; "" means the monitored metric

    def _inputs(self) -> tuple[str, ...]:
        # No class-level default `monitor`: AnyOf must not seem to watch val_loss.
        if not hasattr(self, "monitor"):
            raise NotImplementedError(f"{type(self).__name__} must name the metrics it reads")
        return (self.monitor,)

    def start(self) -> Any:
        """The state before epoch 1 (plain immutable data; None for rules that need none)."""
        return None

    def _look(self, state: Any, history: HistoryLike, epoch: int) -> Look:
        raise NotImplementedError

    def step(self, state: Any, history: HistoryLike, epoch: int) -> tuple[Any, Stop | None]:
        """Look at 1-based `epoch` of `history`, given the `state` after the epoch before.

        Returns the new state and a `Stop` if the rule fires at this epoch (else None). Only
        epochs up to `epoch` are read, and nothing is changed: fit calls it once per epoch,
        carrying the state, and gets the answer `rule(history)` gives on the record.

        >>> from workbench.stopping import Patience
        >>> rule, h = Patience(1), {"val_loss": [1.0, 2.0]}
        >>> state, stop = rule.step(rule.start(), h, 1)
        >>> state, stop = rule.step(state, h, 2)
        >>> stop.epoch, state
        (2, (1.0, 1, 1))
        """
        state, _, why = self._look(state, history, epoch)
        return state, None if why is None else Stop(epoch, why, type(self).__name__)

    def trace_step(self, state: Any, history: HistoryLike, epoch: int) -> tuple:
        """`step` that also returns what it looked at: ``(state, {name: quantity}, stop)``.

        The names are those of `trace`, so stepping over epochs 1, 2, ... builds the trace
        one value an epoch (the playground's view does, instead of replaying it).
        """
        state, quantity, why = self._look(state, history, epoch)
        stop = None if why is None else Stop(epoch, why, type(self).__name__)
        return state, {self._TRACE or self.monitor: quantity}, stop

    def _replay(self, history: HistoryLike):
        """Yield (epoch, quantity, reason or None) for every epoch of `history`."""
        inputs = [_column(history, metric) for metric in self._inputs()]  # fail on a missing one
        state = self.start()
        for epoch in range(1, len(inputs[0]) + 1):
            state, quantity, why = self._look(state, history, epoch)
            yield epoch, quantity, why

    def __call__(self, history: HistoryLike) -> Stop | None:
        for epoch, _, why in self._replay(history):
            if why is not None:
                return Stop(epoch, why, type(self).__name__)
        return None

    def trace(self, history: HistoryLike) -> dict[str, list[float]]:
        """The per-epoch quantity the rule looks at (NaN where it looks at nothing), to plot."""
        return {self._TRACE or self.monitor: [q for _, q, _ in self._replay(history)]}

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


def _set_mode(rule: Rule) -> None:
    # `mode` keeps what the caller passed ("auto" by default, shown in the repr);
    # `_mode` is the resolved "min" or "max" that the steps compare with.
    object.__setattr__(rule, "_mode", resolve_mode(rule.monitor, rule.mode))


@dataclass(frozen=True, init=False)
class AnyOf(Rule):
    """Stop at the earliest epoch any rule fires; ties go to the rule listed first.

    >>> from workbench.stopping import Patience, Threshold
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

    def start(self) -> tuple:
        return tuple(rule.start() for rule in self.rules)

    def step(self, state: tuple, history: HistoryLike, epoch: int) -> tuple[tuple, Stop | None]:
        """Step every rule (each keeps its own state); the first listed that fires wins."""
        states, first = [], None
        for rule, own in zip(self.rules, state, strict=True):
            own, stop = rule.step(own, history, epoch)
            states.append(own)
            first = first or stop
        return tuple(states), first

    def trace_step(self, state: tuple, history: HistoryLike, epoch: int) -> tuple:
        """Step every rule; the quantities are named as in `trace`, the first stop wins."""
        states, looked, first = [], {}, None
        for rule, own in zip(self.rules, state, strict=True):
            own, values, stop = rule.trace_step(own, history, epoch)
            states.append(own)
            looked.update({f"{type(rule).__name__}.{k}": v for k, v in values.items()})
            first = first or stop
        return tuple(states), looked, first

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
    history: HistoryLike, monitor: str = "val_loss", mode: str = "auto", start_from_epoch: int = 0
) -> int | None:
    """The 1-based epoch of the best finite value (the first on ties), or None if none.

    `mode` "auto" means higher is better for accuracies, lower for everything else. The
    first `start_from_epoch` epochs are ignored, as in `Patience`.

    >>> best_epoch({"val_loss": [0.9, 0.4, float("nan"), 0.4]})
    2
    >>> best_epoch({"val_acc": [0.5, 0.8, 0.7]}, "val_acc")
    2
    """
    mode = resolve_mode(monitor, mode)
    _check_int("start_from_epoch", start_from_epoch, 0)
    best, found = math.nan, None
    for epoch, value in enumerate(_series(history, monitor), start=1):
        usable = epoch > start_from_epoch and math.isfinite(value)
        if usable and (found is None or _beats(value, best, mode)):
            best, found = value, epoch
    return found
