"""Small datasets, split and standardized, with knobs that make overfitting easy to show.

Everything here ships with scikit-learn or is generated in code: nothing is downloaded.
Splits are stratified for classification, and the scaler is fitted on the training split
only (fitting it on all the data would leak the validation and test sets into training).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch

NAMES = ("digits", "breast_cancer", "iris", "wine", "moons", "line", "blobs")
GENERATED = ("moons", "blobs", "line")  # the datasets that n_samples sizes
NOISY = ("moons", "line")  # the datasets that noise applies to


@dataclass
class Data:
    """Train, validation and test splits as tensors.

    Attributes
    ----------
    train, val, test : tuple of (X, y) tensors
        X is float32; y is int64 class labels for classification, float32 of shape (n, 1)
        for regression. `test` may be None.
    task : str
        "classification" or "regression".
    n_features : int
        Number of input features (64 for digits, also when shaped as images).
    n_classes : int
        Number of classes; 1 for regression.
    name : str
        The dataset's name, for titles.
    """

    train: tuple
    val: tuple
    test: tuple | None
    task: str
    n_features: int
    n_classes: int
    name: str = ""
    info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{part}={len(getattr(self, part)[0])}"
            for part in ("train", "val", "test")
            if getattr(self, part) is not None
        )
        return f"Data({self.name!r}, {self.task}, {sizes}, features={self.n_features}, classes={self.n_classes})"


def _raw(name: str, rng: np.random.Generator, n_samples: int | None, noise: float | None):
    from sklearn import datasets

    if name == "digits":
        X, y = datasets.load_digits(return_X_y=True)
    elif name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
    elif name == "iris":
        X, y = datasets.load_iris(return_X_y=True)
    elif name == "wine":
        X, y = datasets.load_wine(return_X_y=True)
    elif name == "moons":
        X, y = datasets.make_moons(
            1000 if n_samples is None else n_samples,
            noise=0.25 if noise is None else noise,
            random_state=int(rng.integers(2**31)),
        )
    elif name == "blobs":
        X, y = datasets.make_classification(
            5000 if n_samples is None else n_samples,
            n_features=64,
            n_informative=32,
            n_classes=10,
            random_state=int(rng.integers(2**31)),
        )
    elif name == "line":
        n = 200 if n_samples is None else n_samples
        X = rng.uniform(-3, 3, size=(n, 1))
        y = 2.0 * X[:, 0] + 1.0 + rng.normal(0, 1.0 if noise is None else noise, size=n)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(NAMES)}")
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def load(
    name: str = "digits",
    *,
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    train_size: int | None = None,
    label_noise: float = 0.0,
    n_samples: int | None = None,
    noise: float | None = None,
    images: bool = False,
    standardize: bool = True,
) -> Data:
    """Load a dataset and split it into train, validation and test sets.

    Parameters
    ----------
    name : str
        One of "digits", "breast_cancer", "iris", "wine" (shipped with scikit-learn),
        "moons", "blobs" (10-class `make_classification`, 64 features) or "line" (a noisy
        regression line ``y = 2x + 1 + noise``).
    seed : int
        Seed (0 or more) of the split, the subset, the label noise and the generated data.
    val_size, test_size : float
        Fractions of the whole dataset held out for validation and test (test may be 0).
    train_size : int, optional
        Keep only this many training examples: a small training set overfits quickly.
    label_noise : float
        Fraction of training labels replaced by a random class (classification only).
    n_samples, noise : optional
        Size of the generated datasets ("moons", "blobs", "line") and the noise level
        of "moons" and "line". A dataset that would ignore an option refuses it.
    images : bool
        Shape digits as (n, 1, 8, 8) images for a CNN.
    standardize : bool
        Scale features to zero mean and unit variance using training statistics only.

    Returns
    -------
    Data
    """
    if not 0 < val_size < 1 or not 0 <= test_size < 1 or val_size + test_size >= 1:
        raise ValueError(
            f"val_size={val_size} and test_size={test_size} must be fractions that leave "
            "some data for training (0 < val_size, 0 <= test_size, val_size + test_size < 1)"
        )
    if not 0 <= label_noise <= 1:
        raise ValueError(f"label_noise={label_noise} must be a fraction between 0 and 1")
    if images and name != "digits":
        raise ValueError("images=True is only available for name='digits' (8x8 images)")
    _check_options(name, seed, n_samples, noise, label_noise)
    rng = np.random.default_rng(seed)
    X, y = _raw(name, rng, n_samples, noise)
    task = "regression" if name == "line" else "classification"
    split_seed = int(rng.integers(2**31))
    try:
        X_train, X_val, X_test, y_train, y_val, y_test = _split(
            X, y, task, val_size, test_size, split_seed
        )
    except ValueError as err:  # sklearn's words are about its own arguments, not ours
        raise ValueError(
            f"{len(X)} rows of {name!r} are too few to split into train, validation "
            f"(val_size={val_size}) and test (test_size={test_size}) sets with every class "
            f"in each: use more rows (n_samples=) or larger fractions ({err})"
        ) from err
    if train_size is not None:
        if not 1 <= train_size <= len(X_train):
            raise ValueError(f"train_size={train_size} must be between 1 and {len(X_train)}")
        keep = rng.permutation(len(X_train))[:train_size]
        X_train, y_train = X_train[keep], y_train[keep]
    n_classes = int(len(np.unique(y))) if task == "classification" else 1
    if label_noise and task == "classification":
        y_train = y_train.copy()
        flip = rng.random(len(y_train)) < label_noise
        y_train[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
    if standardize:
        mean, std = X_train.mean(0), X_train.std(0)
        std[std == 0] = 1.0  # constant pixels in digits
        X_train, X_val = (X_train - mean) / std, (X_val - mean) / std
        X_test = None if X_test is None else (X_test - mean) / std

    def pack(X_, y_):
        if X_ is None:
            return None
        Xt = torch.as_tensor(X_, dtype=torch.float32)
        if images:
            Xt = Xt.reshape(-1, 1, 8, 8)
        if task == "classification":
            return Xt, torch.as_tensor(y_, dtype=torch.int64)
        return Xt, torch.as_tensor(y_, dtype=torch.float32).reshape(-1, 1)

    return Data(
        train=pack(X_train, y_train),
        val=pack(X_val, y_val),
        test=pack(X_test, y_test),
        task=task,
        n_features=X.shape[1],
        n_classes=n_classes,
        name=name,
        info={"seed": seed, "train_size": train_size, "label_noise": label_noise},
    )


def _split(X, y, task, val_size, test_size, split_seed):
    from sklearn.model_selection import train_test_split

    strat = y if task == "classification" else None
    X_rest, X_test, y_rest, y_test = (X, None, y, None)
    if test_size > 0:
        X_rest, X_test, y_rest, y_test = train_test_split(
            X, y, test_size=test_size, random_state=split_seed, stratify=strat
        )
    strat = y_rest if task == "classification" else None
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest,
        y_rest,
        test_size=val_size / (1 - test_size),
        random_state=split_seed + 1,
        stratify=strat,
    )
    return X_train, X_val, X_test, y_train, y_val, y_test


def _check_options(name, seed, n_samples, noise, label_noise) -> None:
    # An option a dataset ignores would be trained on as if it had worked.
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            f"seed={seed!r} must be a whole number of at least 0 (any one will do: "
            "the same seed gives the same split)"
        )
    if name not in NAMES:
        return  # _raw names the datasets that exist
    if n_samples is not None:
        if name not in GENERATED:
            raise ValueError(
                f"n_samples={n_samples!r} has no effect on {name!r}, which has a fixed size: "
                f"n_samples sizes the generated datasets {', '.join(map(repr, GENERATED))}; "
                "use train_size= to train on fewer rows"
            )
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
            raise ValueError(f"n_samples={n_samples!r} must be a whole number of rows")
        if n_samples < 1:
            raise ValueError(
                f"n_samples={n_samples} must be at least 1 row (leave it out for the "
                f"default size of {name!r})"
            )
    if noise is not None:
        if name not in NOISY:
            raise ValueError(
                f"noise={noise!r} has no effect on {name!r}: noise applies to "
                f"{', '.join(map(repr, NOISY))}; use label_noise= to flip training labels"
            )
        if not isinstance(noise, numbers.Real) or not math.isfinite(noise) or noise < 0:
            raise ValueError(
                f"noise={noise!r} must be a finite number of at least 0 (the standard "
                "deviation of the noise; 0 means none)"
            )
    if label_noise and name == "line":
        raise ValueError(
            f"label_noise={label_noise} has no effect on 'line', a regression with no "
            "labels to flip: use noise= to make its targets noisier"
        )


def as_pair(pair, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as an ``(X, y)`` pair of tensors; NumPy arrays and lists are converted.

    Parameters
    ----------
    pair : sequence of two array-likes
        The inputs and targets of one split.
    part : str
        The split's name ("train", "val", "test"), for error messages.

    Returns
    -------
    tuple of two tensors
    """
    if isinstance(pair, torch.Tensor | np.ndarray) or len(pair) != 2:
        raise ValueError(f"the {part} split must be an (X, y) pair of inputs and targets")
    out = []
    for what, value in zip(("X", "y"), pair, strict=True):
        try:
            out.append(torch.as_tensor(value))
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"{what} of the {part} split cannot become a tensor ({err}): "
                "give numbers as a tensor or NumPy array"
            ) from err
    return out[0], out[1]


def from_tensors(train, val, test=None, *, task=None, n_classes=None, name="custom") -> Data:
    """Wrap your own ``(X, y)`` pairs (tensors or NumPy arrays) as a `Data` for `fit`.

    Parameters
    ----------
    train, val, test : (X, y) pairs
        Tensors or NumPy arrays; `test` may be None.
    task : str, optional
        "classification" or "regression"; by default integer labels mean classification.
    n_classes : int, optional
        Number of classes; by default one more than the largest label of any split.
    name : str
        A name for titles.

    Returns
    -------
    Data
    """
    splits = [as_pair(pair, part) for part, pair in (("train", train), ("val", val))]
    if test is not None:
        splits.append(as_pair(test, "test"))
    X, y = splits[0]
    if task is None:
        task = "regression" if y.is_floating_point() else "classification"
    if task != "classification":
        n_classes = 1
    elif n_classes is None:
        labels = [y_.reshape(-1) for _, y_ in splits if y_.numel()]
        n_classes = int(torch.cat(labels).max()) + 1 if labels else 0
    n_features = int(X[0].numel()) if len(X) else 0
    test = splits[2] if test is not None else None
    return Data(splits[0], splits[1], test, task, n_features, n_classes, name)
