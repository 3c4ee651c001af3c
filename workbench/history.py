"""The record of a training run: metric name -> list of per-epoch floats.

A `History` is a plain `dict` (so JSON, pandas and every rule, plot and widget take it as
it is) with a few attributes that say where and why the run stopped. Epochs count from 1.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def check_history(history, name: str = "history") -> None:
    """Raise a clear error unless `history` is a recorded run: metric name -> per-epoch numbers.

    The one check of every public function that takes a history (`History(...)`,
    `wb.summary`, `wb.explore`, the plots), run once per call: every column is a list as
    long as the others (one row per epoch), every value is a number (NaN and infinity are
    numbers: a diverged epoch), and an ``epoch`` column, if there is one, counts 1, 2, 3, ...
    The stop rules do not call it: `fit` and the playground call them after every epoch.

    Parameters
    ----------
    history : object
        What was passed as a recorded run.
    name : str
        How to call it in the message (e.g. the run's label).

    Raises
    ------
    TypeError
        Not a mapping, or a column that is not a list.
    ValueError
        A value that is not a number, columns of different lengths, or epochs that do not
        count from 1; the message names the column and the row.

    >>> check_history({"epoch": [1, 2], "val_loss": [0.5, "0.4"]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: history['val_loss'] holds '0.4' (str) in row 2: ...
    """
    if not isinstance(history, Mapping):
        raise TypeError(
            f"{name} is a {type(history).__name__}, not a recorded run: pass what wb.fit "
            "returns, or a dict of metric name -> list of per-epoch numbers"
        )
    lengths = {}
    for column, values in history.items():
        if hasattr(values, "tolist") and hasattr(values, "__len__"):  # numpy, torch
            values = values.tolist()
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise TypeError(
                f"{name}[{column!r}] is a {type(values).__name__}, not a list of per-epoch "
                f"numbers: write it as [value at epoch 1, value at epoch 2, ...]"
            )
        for row, v in enumerate(values, start=1):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                how = "turn a tensor into a number with .item()" if hasattr(v, "item") else (
                    "convert the column with float(...) (float('nan') for a missing value)"
                )  # fmt: skip
                raise ValueError(
                    f"{name}[{column!r}] holds {v!r} ({type(v).__name__}) in row {row}: every "
                    f"value must be a number, one per epoch; {how}, or leave the column out"
                )
        lengths[column] = len(values)
    if len(set(lengths.values())) > 1:
        short = min(lengths, key=lengths.get)
        long = max(lengths, key=lengths.get)
        raise ValueError(
            f"{name}[{short!r}] has {lengths[short]} rows but {name}[{long!r}] has "
            f"{lengths[long]}: row {lengths[short] + 1} of {short!r} is missing. Give every "
            "column one value per recorded epoch (float('nan') where there is none)"
            + (", or leave the 'epoch' column out (epochs then count 1, 2, 3, ...)"
               if short == "epoch" else "")
        )  # fmt: skip
    epochs = list(history.get("epoch", ()))
    for row, epoch in enumerate(epochs, start=1):
        if epoch != row:
            raise ValueError(
                f"{name}['epoch'] is {epoch!r} in row {row}: epochs count from 1, one row per "
                f"epoch (1, 2, 3, ...); got {epochs[:6]}{' ...' if len(epochs) > 6 else ''}"
            )


@dataclass(frozen=True, repr=False)
class Stop:
    """Where and why a rule stopped: `epoch` is the 1-based last epoch that runs,
    `reason` a sentence naming the values, `rule` the rule's short name ("Patience")."""

    epoch: int
    reason: str
    rule: str

    def __repr__(self) -> str:  # rule before reason: easier to read in a doctest
        return f"Stop(epoch={self.epoch}, rule={self.rule!r}, reason={self.reason!r})"


class History(dict):
    """Per-epoch metrics of one run, plus where it stopped and its best epoch.

    Parameters
    ----------
    metrics : mapping of str to list of float, optional
        Initial columns, e.g. ``{"epoch": [1, 2], "val_loss": [0.9, 0.8]}``, checked by
        `check_history` (equal lengths, numbers, epochs counted from 1).
    monitor, mode : str
        The metric that defines "best", and whether lower ("min") or higher ("max") is better.

    Attributes
    ----------
    stop : workbench.stopping.Stop or None
        The epoch and reason the run stopped early; None when it ran all its epochs.
    best_epoch : int or None
        1-based epoch of the best monitored value.
    events : list of str
        Changes made during the run, e.g. ``"epoch 31: lr 0.03 -> 0.3"`` (the playground
        records them; `fit` leaves the list empty).

    >>> h = History({"epoch": [1, 2], "val_loss": [0.5, 0.4]})
    >>> h.append(epoch=3, val_loss=0.45)
    >>> h["val_loss"], h.epochs
    ([0.5, 0.4, 0.45], 3)
    """

    def __init__(self, metrics: Mapping | None = None, *, monitor="val_loss", mode="min"):
        if metrics is not None:
            check_history(metrics, "metrics")
        super().__init__({k: [float(v) for v in vs] for k, vs in (metrics or {}).items()})
        self.monitor = monitor
        self.mode = mode
        self.stop = None
        self.best_epoch = None
        self.events = []

    @property
    def epochs(self) -> int:
        """Number of recorded epochs."""
        return max((len(v) for v in self.values()), default=0)

    def append(self, **values: float) -> None:
        """Record one epoch: ``append(epoch=3, val_loss=0.45)``."""
        for key, value in values.items():
            self.setdefault(key, []).append(float(value))

    def last(self, metric: str) -> float:
        """The most recent value of `metric`."""
        return self[metric][-1]

    def truncate(self, epochs: int) -> None:
        """Keep the first `epochs` epochs (used when resuming a run)."""
        for values in self.values():
            del values[epochs:]

    def without(self, *metrics: str) -> dict:
        """The metrics minus some columns, e.g. ``without("seconds")`` to compare two runs."""
        return {k: v for k, v in self.items() if k not in metrics}

    def to_dict(self) -> dict:
        """Plain, JSON-safe data: metrics, stop, best epoch, monitor and mode."""
        stop = (
            None
            if self.stop is None
            else {"epoch": self.stop.epoch, "reason": self.stop.reason, "rule": self.stop.rule}
        )
        return {
            "metrics": {k: list(v) for k, v in self.items()},
            "stop": stop,
            "best_epoch": self.best_epoch,
            "monitor": self.monitor,
            "mode": self.mode,
            "events": list(self.events),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        """Rebuild a History from `to_dict()` output."""
        metrics = {  # null is how to_json writes a NaN or infinite value
            k: [math.nan if v is None else v for v in vs] for k, vs in data["metrics"].items()
        }
        h = cls(metrics, monitor=data.get("monitor", "val_loss"), mode=data.get("mode", "min"))
        if data.get("stop"):
            h.stop = Stop(**data["stop"])
        h.best_epoch = data.get("best_epoch")
        h.events = list(data.get("events", []))
        return h

    def to_json(self) -> str:
        """Serialize to strict JSON: NaN and infinity are written as null.

        Bare ``NaN`` is not JSON: browsers, ``jq`` and strict parsers refuse it. A null
        reads back as NaN (a diverged epoch), so infinity comes back as NaN too.

        >>> History({"val_loss": [0.5, float("inf")]}).to_json()[:38]
        '{"metrics": {"val_loss": [0.5, null]},'
        """
        data = self.to_dict()
        data["metrics"] = {
            k: [v if math.isfinite(v) else None for v in vs] for k, vs in data["metrics"].items()
        }
        return json.dumps(data, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> History:
        """Load a History written by `to_json` (null values become NaN)."""
        return cls.from_dict(json.loads(text))

    def to_frame(self):
        """The metrics as a pandas DataFrame indexed by epoch (pandas is imported here)."""
        import pandas as pd

        frame = pd.DataFrame({k: v for k, v in self.items()})
        if "epoch" not in frame:
            return frame
        return frame.astype({"epoch": int}).set_index("epoch")

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.items() if v and k not in ("epoch", "seconds")}
        where = f"stopped at epoch {self.stop.epoch}" if self.stop else f"{self.epochs} epochs"
        return f"History({where}, best_epoch={self.best_epoch}, last={last})"

    def __eq__(self, other) -> bool:
        # NaN != NaN would make two identical runs compare unequal.
        if not isinstance(other, Mapping) or set(self) != set(other):
            return False
        return all(_same(self[k], other[k]) for k in self)

    __hash__ = None


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )
