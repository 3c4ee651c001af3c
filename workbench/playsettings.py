"""The playground's settings: their defaults, their checks, and how a change is described.

Every knob of the playground is one named setting. `check` turns a value into its canonical
form (``hidden=[8, 8]`` and ``"8,8"`` both become ``"8, 8"``) or raises a ValueError that says
what to pass, so a bad value is refused before it reaches a running network.
"""

from __future__ import annotations

import math
import numbers

from workbench import problems
from workbench.stopping import MetricNotFound, Rule

DEFAULTS = {
    "problem": "xor",
    "n": 500,
    "noise": 0.0,
    "train_fraction": 0.5,
    "hidden": "8, 8",
    "activation": "tanh",
    "batch_norm": False,
    "features": (),
    "opt": "adam",
    "lr": 0.03,
    "batch_size": 16,
    "weight_decay": 0.0,
    "stop": None,
}
ACTIVATIONS = ("relu", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "momentum", "adam")
COLUMNS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr")
DATA = frozenset({"problem", "n", "noise", "train_fraction", "features"})  # remake the points
NETWORK = frozenset({"hidden", "activation", "batch_norm", "features"})  # rebuild the network
# Changes that carry no state: consecutive changes of one of these at the same epoch (a
# dragged slider) are kept as one event. Network and optimizer changes are never merged,
# because going there and back rebuilds the weights or the optimizer's state.
MERGEABLE = frozenset(
    {"problem", "n", "noise", "train_fraction", "lr", "batch_size", "weight_decay", "stop"}
)
MAX_WIDTH, MAX_LAYERS = 256, 6


def check(key: str, value):
    """The canonical form of one setting, or a ValueError saying what to pass instead.

    >>> check("hidden", [8, 8]), check("features", "xy, x^2"), check("lr", 0.1)
    ('8, 8', ('x^2', 'xy'), 0.1)
    """
    if key not in DEFAULTS:
        raise ValueError(
            f"{key!r} is not a playground setting; the settings are: {', '.join(DEFAULTS)}"
        )
    if key in ("problem", "n", "noise", "train_fraction"):
        problems.check(**{key: value})
        return float(value) if key in ("noise", "train_fraction") else value
    if key == "hidden":
        return _hidden(value)
    if key == "features":
        names = (
            [f.strip() for f in value.split(",") if f.strip()]
            if isinstance(value, str)
            else list(value)
        )
        bad = [f for f in names if f not in problems.FEATURES]
        if bad:
            raise ValueError(
                f"features={value!r}: unknown {bad}; choose from {', '.join(problems.FEATURES)}"
            )
        return tuple(f for f in problems.FEATURES if f in names)
    if key in ("activation", "opt"):
        choices = ACTIVATIONS if key == "activation" else OPTIMIZERS
        if value not in choices:
            raise ValueError(f"{key}={value!r} is unknown; choose one of {', '.join(choices)}")
        return value
    if key == "batch_norm":
        if not isinstance(value, bool):
            raise ValueError(f"batch_norm={value!r} must be True or False")
        return value
    if key == "lr":
        if not (_real(value) and 0 < value <= 100):
            raise ValueError(
                f"lr={value!r} must be a learning rate above 0 and at most 100, e.g. 0.03"
            )
        return float(value)
    if key == "weight_decay":
        if not (_real(value) and 0 <= value <= 1):
            raise ValueError(f"weight_decay={value!r} must be a number from 0 to 1, e.g. 1e-3")
        return float(value)
    if key == "batch_size":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"batch_size={value!r} must be a whole number of at least 1")
        return int(value)
    return _stop(value)


def check_together(settings: dict) -> None:
    """Refuse combinations that cannot train, whatever order they were set in."""
    if settings["batch_norm"] and settings["batch_size"] < 2:
        raise ValueError(
            "batch norm needs batches of at least 2 points (it normalizes over the batch); "
            "raise batch_size or turn batch_norm off"
        )


def _hidden(value) -> str:
    text = value if isinstance(value, str) else ", ".join(map(str, value))
    parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    try:
        widths = [int(p) for p in parts]
    except ValueError:
        widths = None
    if widths is None or any(not 1 <= w <= MAX_WIDTH for w in widths) or len(widths) > MAX_LAYERS:
        raise ValueError(
            f"hidden={value!r} must list up to {MAX_LAYERS} layer widths from 1 to {MAX_WIDTH}, "
            'e.g. "8, 8" (two layers of 8) or "" (no hidden layer: a linear model)'
        )
    return ", ".join(map(str, widths))


def widths(hidden: str) -> tuple[int, ...]:
    """``"8, 8"`` -> ``(8, 8)``; ``""`` -> ``()``."""
    return tuple(int(w) for w in hidden.split(",") if w.strip())


def _stop(value):
    if value is None:
        return None
    if not isinstance(value, Rule):
        raise ValueError(
            f"stop={value!r} must be a rule from workbench.stopping (e.g. Patience(10)) or None"
        )
    try:
        value({name: [] for name in COLUMNS})  # a rule watching a metric never recorded
    except MetricNotFound as error:
        raise ValueError(f"stop={value!r} cannot work here: {error}") from None
    return value


def describe(epoch: int, key: str, old, new) -> str:
    """One line for the event list: ``"epoch 31: lr 0.03 -> 0.3"``.

    >>> describe(40, "batch_norm", False, True)
    'epoch 40: batch norm on'
    """
    if key == "batch_norm":
        return f"epoch {epoch}: batch norm {'on' if new else 'off'}"
    if key == "continue":
        return f"epoch {epoch}: continued after the stop ({old})"
    return f"epoch {epoch}: {key.replace('_', ' ')} {_show(old)} -> {_show(new)}"


def _show(value) -> str:
    if isinstance(value, Rule) and type(value).params():  # the slider parameters only
        names = [k for k in type(value).params() if hasattr(value, k)]
        return f"{type(value).__name__}({', '.join(f'{k}={getattr(value, k):g}' for k in names)})"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    if value == "":
        return '""'
    return str(value)


def _real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


__all__ = ["ACTIVATIONS", "COLUMNS", "DEFAULTS", "OPTIMIZERS", "check", "describe", "widths"]
