"""The playground's settings: their defaults, their checks, and how a change is described.

Every knob of the playground is one named setting. `check` turns a value into its canonical
form (``hidden=[8, 8]`` and ``"8,8"`` both become ``"8, 8"``) or raises a ValueError that says
what to pass, so a bad value is refused before it reaches a running network.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re

import numpy as np
import torch

from workbench.data import problems
from workbench.stopping import MetricNotFound, Rule
from workbench.train import checks

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
SEED_MAX = 2**64 - 1  # the largest seed a torch.Generator takes
# The playground's other arguments, fixed for a run, and what to do instead of setting them
RUN_ARGS = {
    "seed": "to start over with another seed use e.g. pg.reset(seed=1)",
    "events": "a run is replayed when it is made, e.g. wb.playground(**pg.config)",
    "epochs": "to train on use e.g. pg.step(10); epochs= replays a run when it is made",
    "device": "make a new playground, e.g. wb.playground(**{**pg.config, 'device': 'cpu'})",
    "max_epochs": "change it on the playground, e.g. pg.max_epochs = 10000",
}
ALIASES = {"learning_rate": "lr", "optimizer": "opt", "layers": "hidden", "bn": "batch_norm",
           "batchnorm": "batch_norm", "activations": "activation", "epoch": "epochs"}  # fmt: skip


def check(key: str, value):
    """The canonical form of one setting, or a ValueError saying what to pass instead.

    NumPy numbers count as numbers; names are taken in any case and spacing.

    >>> check("hidden", [8, 8]), check("features", "xy, x^2"), check("lr", 0.1)
    ('8, 8', ('x^2', 'xy'), 0.1)
    """
    if key not in DEFAULTS:
        raise ValueError(_not_a_setting(key))
    if key in ("problem", "activation", "opt"):
        choices = {"problem": problems.PROBLEMS, "activation": ACTIVATIONS, "opt": OPTIMIZERS}
        return _choice(key, value, choices[key])
    if key == "n":
        return whole("n", value, *problems.N_POINTS, example="n=500")
    if key == "noise":
        return number("noise", value, 0, problems.NOISE_MAX, example="noise=0.2")
    if key == "train_fraction":
        return number(key, value, *problems.TRAIN_FRACTIONS, example="train_fraction=0.5")
    if key == "hidden":
        return _hidden(value)
    if key == "features":
        return _features(value)
    if key == "batch_norm":
        if isinstance(value, bool | np.bool_):
            return bool(value)
        raise ValueError(f"batch_norm={value!r} must be True or False, e.g. batch_norm=True")
    if key == "lr":
        return number("lr", value, 0, 100, example="lr=0.03", above=True, what="a learning rate")
    if key == "weight_decay":
        return number(key, value, 0, 1, example="weight_decay=1e-3")
    if key == "batch_size":
        return whole(key, value, 1, example="batch_size=16")
    return _stop(value)


def check_all(settings: dict) -> dict:
    """Every setting, those not given at their defaults, checked alone and together."""
    for key in settings:
        if key not in DEFAULTS:
            raise ValueError(_not_a_setting(key, making=True))
    checked = {k: check(k, v) for k, v in {**DEFAULTS, **settings}.items()}
    check_together(checked)
    return checked


def check_together(settings: dict) -> None:
    """Refuse combinations that cannot train, whatever order they were set in."""
    if settings["batch_norm"] and settings["batch_size"] < 2:
        raise ValueError(
            f"batch_norm=True with batch_size={settings['batch_size']}: batch norm needs "
            "batches of at least 2 points (it normalizes over the batch); raise batch_size "
            "or turn batch_norm off, e.g. batch_size=16"
        )


def whole(name: str, value, low: int = 0, high: int | None = None, *, example: str) -> int:
    """`value` as an int from `low` to `high`, or a ValueError naming `name` and `example`.

    NumPy integers count; True, 3.0 and "3" do not.

    >>> whole("epochs", np.int64(3), 1, example="pg.step(3)")
    3
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if low <= value and (high is None or value <= high):
            return int(value)
    span = f"of at least {low}" if high is None else f"from {low} to {_power(high)}"
    raise ValueError(f"{name}={value!r} must be a whole number (an int) {span}, e.g. {example}")


def number(name, value, low, high, *, example, above=False, what="a number") -> float:
    """`value` as a float from `low` (or above it) to `high`, or a ValueError naming `name`.

    NumPy numbers count; True, NaN and "0.1" do not.
    """
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    # an int is finite, and math.isfinite(10**400) would overflow
    if real and (isinstance(value, numbers.Integral) or math.isfinite(value)):
        if (low < value if above else low <= value) and value <= high:
            return float(value)
    span = f"above {low:g} and at most {high:g}" if above else f"from {low:g} to {high:g}"
    raise ValueError(f"{name}={value!r} must be {what} {span}, e.g. {example}")


def _power(n: int):
    return "2**64 - 1" if n == SEED_MAX else n


def _choice(key: str, value, choices: tuple) -> str:
    name = value.strip().lower() if isinstance(value, str) else value
    if isinstance(name, str) and name in choices:
        return name
    raise ValueError(
        f"{key}={value!r} is unknown: {_did_you_mean(name, choices)}choose one of "
        f"{', '.join(choices)}, e.g. {key}={choices[0]!r}"
    )


def _did_you_mean(name, known) -> str:
    close = difflib.get_close_matches(name, known, n=1) if isinstance(name, str) else []
    return f"did you mean {close[0]!r}? " if close else ""


def _not_a_setting(key: str, making: bool = False) -> str:
    if key in RUN_ARGS and not making:
        return f"{key!r} is fixed when the playground is made, not a setting to change: {RUN_ARGS[key]}"
    known = [*DEFAULTS, *RUN_ARGS] if making else list(DEFAULTS)
    alias = ALIASES.get(str(key).lower())
    guess = f"did you mean {alias!r}? " if alias in known else _did_you_mean(str(key), known)
    return (
        f"{key!r} is not a playground setting: {guess}the settings are {', '.join(known)}, "
        "e.g. wb.playground(problem='circles', lr=0.1)"
    )


def _hidden(value) -> str:
    if isinstance(value, str):
        parts = [p for p in re.split(r"[\s,]+", value) if p]
        found = [int(p) if re.fullmatch("[0-9]+", p) else None for p in parts]
    elif isinstance(value, list | tuple | range) or (
        isinstance(value, np.ndarray) and value.ndim == 1
    ):
        found = [w if isinstance(w, numbers.Integral) and not isinstance(w, bool) else None
                 for w in value]  # fmt: skip
    else:
        found = [None]
    if None in found or any(not 1 <= w <= MAX_WIDTH for w in found) or len(found) > MAX_LAYERS:
        one = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        hint = f' (for one layer of {value}, write hidden="{value}")' if one else ""
        raise ValueError(
            f"hidden={value!r} must list up to {MAX_LAYERS} layer widths from 1 to {MAX_WIDTH}"
            f'{hint}, as text or a list, e.g. hidden="8, 8" or [8, 8] (two layers of 8), or '
            'hidden="" (no hidden layer: a linear model)'
        )
    return ", ".join(str(int(w)) for w in found)


def widths(hidden: str) -> tuple[int, ...]:
    """``"8, 8"`` -> ``(8, 8)``; ``""`` -> ``()``."""
    return tuple(int(w) for w in hidden.split(",") if w.strip())


def _features(value) -> tuple[str, ...]:
    known = ", ".join(problems.FEATURES)
    if isinstance(value, str):
        names = [f for f in re.split(r"[\s,]+", value) if f]
    elif isinstance(value, list | tuple | set | frozenset | np.ndarray) and all(
        isinstance(f, str) for f in value
    ):
        names = [f.strip() for f in value]
    else:
        raise ValueError(
            f"features={value!r} must be text or a list of names from {known}, e.g. "
            "features=['xy'], or features=() for none"
        )
    names = [f.lower() for f in names]
    bad = [f for f in names if f not in problems.FEATURES]
    if bad:
        raise ValueError(
            f"features={value!r}: unknown {bad}; "
            f"{''.join(_did_you_mean(f, problems.FEATURES) for f in bad)}choose from {known}, "
            "e.g. features=['xy'], or features=() for none"
        )
    return tuple(f for f in problems.FEATURES if f in names)


def _stop(value):
    if value is None:
        return None
    if not isinstance(value, Rule):
        kind = isinstance(value, type) and issubclass(value, Rule)
        raise ValueError(
            f"stop={value!r} must be a rule from workbench.stopping or None"
            + (" (a rule made from the class, with its settings)" if kind else "")
            + ", e.g. stop=stopping.Patience(10)"
        )
    try:
        value({name: [] for name in COLUMNS})  # a rule watching a metric never recorded
    except MetricNotFound as error:
        raise ValueError(
            f"stop={value!r} cannot work here: {error}; the playground records "
            f"{', '.join(COLUMNS)}, e.g. stop=stopping.Patience(10, monitor='val_loss')"
        ) from None
    return value


def check_device(device) -> torch.device:
    """The device to train on ("cpu", "cuda", "auto", ...), or a ValueError saying which
    ones this machine has."""
    from workbench.train.fit import pick_device

    try:
        found = pick_device(device) if isinstance(device, str | torch.device) else None
    except RuntimeError:  # not a device name torch knows
        found = None
    if found is None or found.type not in ("cpu", "cuda", "mps"):
        mps = getattr(torch.backends, "mps", None)
        here = ["'cpu'"] + ["'cuda'"] * torch.cuda.is_available()
        here += ["'mps'"] * bool(mps and mps.is_available())
        raise ValueError(
            f"device={device!r} cannot train the playground: this machine has "
            f"{' and '.join(here)} (or 'auto', the GPU when there is one), e.g. device='cpu'"
        )
    checks.check_device(found)  # the check fit makes: CUDA that is not there, a GPU index
    return found


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


__all__ = [
    "ACTIVATIONS", "COLUMNS", "DEFAULTS", "OPTIMIZERS", "SEED_MAX", "check", "check_all", "check_device",
    "check_together", "describe", "number", "whole", "widths",
]  # fmt: skip
