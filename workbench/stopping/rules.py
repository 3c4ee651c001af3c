"""Early-stopping rules: when should training stop?

A rule reads a history (metric name -> list of per-epoch floats, epochs from 1) and returns
the first epoch at which it fires as a `Stop`, or None. Rules are frozen dataclasses with no
hidden counters, so the training loop (after each epoch), a slider (replaying a finished run)
and a search all get the same answer. Combine rules with `|`: the earliest stop wins.

This module holds the rules; their base (`Rule`, `Stop`, `Param`, `AnyOf`, `best_epoch`,
`resolve_mode`: the pure-step machinery) is `workbench.stopping.rule`, and Prechelt's three rules are
`workbench.stopping.prechelt`. Import all of them from here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from workbench.stopping.prechelt import GeneralizationLoss, ProgressQuotient, UpStrips
from workbench.stopping.rule import (
    AnyOf,
    HistoryLike,
    Look,
    MetricNotFound,
    Param,
    Rule,
    Stop,
    _at,
    _beats,
    _check_int,
    _check_number,
    _div,
    _epochs,
    _fmt,
    _series,
    _set_mode,
    best_epoch,
    resolve_mode,
)


@dataclass(frozen=True)
class Patience(Rule):
    """Stop after `patience` epochs without an improvement of more than `min_delta`.

    Keras/Lightning semantics: the first considered epoch sets the best; the wait counter
    resets on an improvement and otherwise grows; NaN never improves. The first
    `start_from_epoch` epochs are ignored. `mode` "auto" means higher is better for
    accuracies, lower for everything else. Trace: the wait counter.

    >>> Patience(2)({"val_loss": [1.0, 0.9, 0.95, 0.97, 0.5]})
    Stop(epoch=4, rule='Patience', reason='val_loss did not improve by more than 0 for 2 epochs; best 0.9 at epoch 2')
    >>> Patience(1, monitor="val_acc")({"val_acc": [0.5, 0.7, 0.6]}).reason
    'val_acc did not improve by more than 0 for 1 epoch; best 0.7 at epoch 2'
    """  # noqa: E501

    patience: int
    min_delta: float = 0.0
    monitor: str = "val_loss"
    mode: str = "auto"
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
        _set_mode(self)
        _check_int("start_from_epoch", self.start_from_epoch, 0)

    def start(self) -> tuple[float, int, int]:
        return math.nan, 0, 0  # best value, its epoch (0: none yet), epochs without improving

    def _look(self, state, history, epoch) -> Look:
        if epoch <= self.start_from_epoch:
            return state, math.nan, None  # warm-up: not looked at
        value = _at(history, self.monitor, epoch)
        best, best_epoch, wait = state
        first = best_epoch == 0 and not math.isnan(value)
        if first or _beats(value, best, self._mode, self.min_delta):
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
        state = best, best_epoch, wait
        if wait < self.patience:
            return state, wait, None
        seen = f"best {_fmt(best)} at epoch {best_epoch}" if best_epoch else "no number yet"
        change = f"by more than {_fmt(self.min_delta)} for {_epochs(wait)}"
        return state, wait, f"{self.monitor} did not improve {change}; {seen}"


@dataclass(frozen=True)
class _Bound(Rule):
    """Shared fields of the rules that compare each value with a fixed threshold."""

    threshold: float
    monitor: str = "val_loss"
    mode: str = "auto"

    def __post_init__(self):
        _check_number("threshold", self.threshold)
        _set_mode(self)

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

    def _look(self, state, history, epoch) -> Look:
        value = _at(history, self.monitor, epoch)
        if not _beats(value, self.threshold, self._mode):
            return state, value, None
        side = "below" if self._mode == "min" else "above"
        why = f"{self.monitor} reached {_fmt(value)}, {side} the threshold {_fmt(self.threshold)}"
        return state, value, why


@dataclass(frozen=True)
class Divergence(_Bound):
    """Stop at the first epoch strictly worse than `threshold`, or NaN: training blew up.

    >>> Divergence(10.0)({"val_loss": [2.0, 3.0, 40.0]})
    Stop(epoch=3, rule='Divergence', reason='val_loss was 40, above the divergence threshold 10')
    """

    _PARAMS: ClassVar = (Param("threshold", "float", 0.0, 2.0, 0.01, 2.0, "hopeless value"),)

    def _look(self, state, history, epoch) -> Look:
        value = _at(history, self.monitor, epoch)
        # "worse" is "better" with the roles swapped; NaN is worse than anything.
        if not (_beats(self.threshold, value, self._mode) or math.isnan(value)):
            return state, value, None
        side = "above" if self._mode == "min" else "below"
        why = f"{self.monitor} was {_fmt(value)}, {side} the divergence threshold"
        return state, value, f"{why} {_fmt(self.threshold)}"


@dataclass(frozen=True)
class NonFinite(Rule):
    """Stop at the first NaN or infinite value (`fit` always adds this rule for the losses).

    >>> NonFinite()({"val_loss": [0.7, float("nan")]})
    Stop(epoch=2, rule='NonFinite', reason='val_loss became nan: training diverged (try a lower learning rate)')
    """  # noqa: E501

    monitor: str = "val_loss"

    def _look(self, state, history, epoch) -> Look:
        value = _at(history, self.monitor, epoch)
        if math.isfinite(value):
            return state, value, None
        why = f"{self.monitor} became {_fmt(value)}: training diverged"
        return state, value, f"{why} (try a lower learning rate)"


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

    def _look(self, state, history, epoch) -> Look:
        if epoch == 1:
            return state, math.nan, None  # nothing to compare with
        prev, value = _at(history, self.monitor, epoch - 1), _at(history, self.monitor, epoch)
        change = _div(abs(value - prev), abs(prev))
        if not change < self.tol:
            return state, change, None
        why = f"{self.monitor} changed by {_fmt(change)} relative"
        return (
            state,
            change,
            f"{why} ({_fmt(prev)} to {_fmt(value)}), less than tol {_fmt(self.tol)}",
        )


RULES: dict[str, type[Rule]] = {
    cls.__name__: cls
    for cls in (
        Patience, Threshold, RelativeChange, GeneralizationLoss, ProgressQuotient, UpStrips,
        Divergence, NonFinite,
    )
}  # fmt: skip

__all__ = [
    "RULES", "AnyOf", "Divergence", "GeneralizationLoss", "MetricNotFound", "NonFinite",
    "Param", "Patience", "ProgressQuotient", "RelativeChange", "Rule", "Stop", "Threshold",
    "UpStrips", "best_epoch", "resolve_mode",
]  # fmt: skip
