"""The record of a training run: metric name -> list of per-epoch floats.

A `History` is a plain `dict` (so JSON, pandas and every rule, plot and widget take it as
it is) with a few attributes that say where and why the run stopped. Epochs count from 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping


class History(dict):
    """Per-epoch metrics of one run, plus where it stopped and its best epoch.

    Parameters
    ----------
    metrics : mapping of str to list of float, optional
        Initial columns, e.g. ``{"epoch": [1, 2], "val_loss": [0.9, 0.8]}``.
    monitor, mode : str
        The metric that defines "best", and whether lower ("min") or higher ("max") is better.

    Attributes
    ----------
    stop : workbench.stopping.Stop or None
        The epoch and reason the run stopped early; None when it ran all its epochs.
    best_epoch : int or None
        1-based epoch of the best monitored value.

    >>> h = History({"epoch": [1, 2], "val_loss": [0.5, 0.4]})
    >>> h.append(epoch=3, val_loss=0.45)
    >>> h["val_loss"], h.epochs
    ([0.5, 0.4, 0.45], 3)
    """

    def __init__(self, metrics: Mapping | None = None, *, monitor="val_loss", mode="min"):
        super().__init__({k: [float(v) for v in vs] for k, vs in (metrics or {}).items()})
        self.monitor = monitor
        self.mode = mode
        self.stop = None
        self.best_epoch = None

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
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        """Rebuild a History from `to_dict()` output."""
        from workbench.stopping import Stop

        metrics = {  # null is how to_json writes a NaN or infinite value
            k: [math.nan if v is None else v for v in vs] for k, vs in data["metrics"].items()
        }
        h = cls(metrics, monitor=data.get("monitor", "val_loss"), mode=data.get("mode", "min"))
        if data.get("stop"):
            h.stop = Stop(**data["stop"])
        h.best_epoch = data.get("best_epoch")
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
