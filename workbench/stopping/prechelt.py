"""Prechelt's early-stopping criteria (Prechelt 1998, "Early Stopping - But When?").

GL, PQ and UP, written as `workbench.stopping` rules: pure steps over an explicit state, so
the training loop pays a constant cost per epoch and a replay gives the same answer.
Import them from `workbench.stopping` like every other rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from workbench.stopping.rule import (
    Look,
    Param,
    Rule,
    _at,
    _check_int,
    _check_number,
    _column,
    _div,
    _epochs,
    _fmt,
)


def _gl_step(state: tuple[float, int], value: float, epoch: int) -> tuple[tuple[float, int], float]:
    """The GL state (E_opt, epoch of E_opt) after `epoch`, and GL(epoch)."""
    best, at = state
    if value < best:  # NaN never becomes the best
        best, at = value, epoch
    return (best, at), 100 * _div(value - best, best)


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

    def start(self) -> tuple[float, int]:
        return math.inf, 0  # E_opt (the lowest loss so far) and its epoch

    def _look(self, state, history, epoch) -> Look:
        value = _at(history, self.monitor, epoch)
        state, gl = _gl_step(state, value, epoch)
        if not gl > self.alpha:
            return state, gl, None
        best, at = state
        why = f"{self.monitor} {_fmt(value)} is {_fmt(gl)}% above its best {_fmt(best)}"
        return state, gl, f"{why} (epoch {at}): GL {_fmt(gl)} > alpha {_fmt(self.alpha)}"


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

    def _inputs(self) -> tuple[str, ...]:
        return self.monitor, self.train

    def start(self) -> tuple[float, int]:
        return math.inf, 0  # E_opt and its epoch, as in GeneralizationLoss

    def _look(self, state, history, epoch) -> Look:
        state, gl = _gl_step(state, _at(history, self.monitor, epoch), epoch)
        train, k = _column(history, self.train), self.strip
        if epoch % k or epoch > len(train):
            return state, math.nan, None  # only strip ends are looked at
        strip = [float(v) for v in train[epoch - k : epoch]]  # k values: constant per epoch
        progress = 1000 * _div(sum(strip) / k - min(strip), min(strip))
        quotient = gl / progress if progress > 0 else math.nan
        if not quotient > self.alpha:
            return state, quotient, None
        why = f"GL {_fmt(gl)} / training progress P{k} {_fmt(progress)} = {_fmt(quotient)}"
        return state, quotient, f"{why} > alpha {_fmt(self.alpha)}"


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

    def start(self) -> int:
        return 0  # rises in a row so far

    def _look(self, ups, history, epoch) -> Look:
        k = self.strip
        if epoch % k:
            return ups, math.nan, None  # only strip ends are looked at
        value = _at(history, self.monitor, epoch)
        ups = ups + 1 if epoch > k and value > _at(history, self.monitor, epoch - k) else 0
        if ups < self.strips:
            return ups, ups, None
        # The strip ends are read only when the rule fires: listing them every epoch
        # made a long run quadratic.
        values = _column(history, self.monitor)
        ends = " -> ".join(_fmt(float(v)) for v in values[epoch - 1 - ups * k : epoch : k])
        why = f"{self.monitor} rose at {ups} strip ends in a row (strips of {_epochs(k)})"
        return ups, ups, f"{why}: {ends}"


__all__ = ["GeneralizationLoss", "ProgressQuotient", "UpStrips"]
