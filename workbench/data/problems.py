"""The 2-D classification problems of the playground: circles, XOR, two Gaussians, a spiral
and two moons, with noise, a train/validation split and optional input features.

Each problem is made from one seeded draw: clean points, their labels, a standard-normal
jitter per point and a shuffle. `noise` scales the jitter and `train_fraction` moves the cut
in the shuffle, so dragging either slider moves the *same* points instead of drawing new
ones, and the same settings always give the same tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

PROBLEMS = ("circles", "xor", "gaussians", "spiral", "moons")
FEATURES = ("x^2", "xy", "sin")  # added to the coordinates x1, x2, as in TensorFlow Playground
LIMIT = 1.6  # the view shows [-LIMIT, LIMIT] on both axes; clean points lie within [-1, 1]
NOISE_MAX = 1.0
N_POINTS = (20, 20000)  # the fewest and most points a problem is made with
TRAIN_FRACTIONS = (0.1, 0.9)  # each split keeps at least a tenth of the points


@dataclass(frozen=True)
class Split:
    """Train and validation points of one problem: X is (n, 2) float32, y is (n,) int64."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor


def _clean(problem: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free points (within [-1, 1]^2) and labels, half of each class."""
    y = (np.arange(n) >= n // 2).astype(np.int64)
    u = rng.random(n)
    angle = rng.random(n) * 2 * math.pi
    if problem == "circles":  # class 1 inside radius 0.5, class 0 on a ring 0.7..1
        r = np.where(y == 1, 0.5 * u, 0.7 + 0.3 * u)
        X = np.stack([r * np.cos(angle), r * np.sin(angle)], 1)
    elif problem == "xor":  # quadrants, pushed a little away from the axes
        X = rng.uniform(-1, 1, (n, 2))
        X += 0.05 * np.sign(X)
        X /= 1.05
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    elif problem == "gaussians":
        centre = np.where(y[:, None] == 1, 0.5, -0.5)
        X = np.clip(centre + 0.2 * rng.standard_normal((n, 2)), -1, 1)
    elif problem == "spiral":  # two arms, each 1.75 turns, radius growing to 1
        t = 0.05 + 0.95 * u
        turn = 1.75 * 2 * math.pi * t + math.pi * y
        X = np.stack([t * np.cos(turn), t * np.sin(turn)], 1)
    elif problem == "moons":  # sklearn's two moons, centred and scaled into [-1, 1]
        theta = u * math.pi
        upper = np.stack([np.cos(theta), np.sin(theta)], 1)
        lower = np.stack([1 - np.cos(theta), 0.5 - np.sin(theta)], 1)
        X = (np.where(y[:, None] == 1, lower, upper) - [0.5, 0.25]) * 0.65
    else:
        raise ValueError(f"problem={problem!r} is unknown; choose one of {', '.join(PROBLEMS)}")
    return X, y


def make(
    problem: str = "xor", *, n: int = 500, noise: float = 0.0, train_fraction: float = 0.5, seed=0
) -> Split:
    """Points of a 2-D problem split into training and validation sets.

    Parameters
    ----------
    problem : str
        One of "circles", "xor", "gaussians", "spiral", "moons".
    n : int
        Number of points (training plus validation).
    noise : float
        Standard deviation of the jitter added to each point (0 to 1; the clean points lie
        within [-1, 1], so 0.3 already mixes the classes of most problems).
    train_fraction : float
        Share of the points used for training (0.1 to 0.9); the rest is validation.
    seed : int
        The draw: the same seed gives the same points.

    Returns
    -------
    Split

    >>> s = make("xor", n=100, train_fraction=0.3)
    >>> tuple(s.X_train.shape), tuple(s.X_val.shape), s.y_train.dtype
    ((30, 2), (70, 2), torch.int64)
    """
    check(problem=problem, n=n, noise=noise, train_fraction=train_fraction)
    rng = np.random.default_rng(seed)
    X, y = _clean(problem, n, rng)
    jitter = rng.standard_normal((n, 2))
    order = rng.permutation(n)
    X = (X + noise * jitter).astype(np.float32)
    cut = round(n * train_fraction)
    train, val = order[:cut], order[cut:]
    t = torch.from_numpy
    return Split(t(X[train]), t(y[train]), t(X[val]), t(y[val]))


def add_features(X: torch.Tensor, features: Sequence[str] = ()) -> torch.Tensor:
    """The network's inputs: x1, x2, then the chosen extra features in `FEATURES` order.

    "x^2" adds x1^2 and x2^2, "xy" adds x1*x2, "sin" adds sin(pi x1) and sin(pi x2).

    >>> add_features(torch.tensor([[1.0, 2.0]]), ["xy", "x^2"]).tolist()
    [[1.0, 2.0, 1.0, 4.0, 2.0]]
    """
    columns = [X]
    for name in FEATURES:
        if name not in features:
            continue
        if name == "x^2":
            columns.append(X * X)
        elif name == "xy":
            columns.append(X[:, :1] * X[:, 1:])
        else:
            columns.append(torch.sin(math.pi * X))
    return torch.cat(columns, 1)


def n_inputs(features: Sequence[str]) -> int:
    """How many inputs the network gets with these extra features."""
    return 2 + sum({"x^2": 2, "xy": 1, "sin": 2}[f] for f in features)


def grid(resolution: int) -> torch.Tensor:
    """Centres of a resolution x resolution grid over the view, row by row from the top."""
    step = 2 * LIMIT / resolution
    centres = -LIMIT + step * (torch.arange(resolution, dtype=torch.float32) + 0.5)
    yy, xx = torch.meshgrid(centres.flip(0), centres, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)


def check(*, problem=None, n=None, noise=None, train_fraction=None) -> None:
    """Raise a ValueError that says what to pass when a data setting is out of range."""
    if problem is not None and problem not in PROBLEMS:
        raise ValueError(f"problem={problem!r} is unknown; choose one of {', '.join(PROBLEMS)}")
    low, high = N_POINTS
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high):
        raise ValueError(f"n={n!r} must be a whole number of points from {low} to {high}")
    if noise is not None and not (_real(noise) and 0 <= noise <= NOISE_MAX):
        raise ValueError(f"noise={noise!r} must be a number from 0 to {NOISE_MAX}")
    low, high = TRAIN_FRACTIONS
    if train_fraction is not None and not (_real(train_fraction) and low <= train_fraction <= high):
        raise ValueError(f"train_fraction={train_fraction!r} must be a number from {low} to {high}")


def _real(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


__all__ = ["FEATURES", "LIMIT", "PROBLEMS", "Split", "add_features", "check", "grid", "make"]
