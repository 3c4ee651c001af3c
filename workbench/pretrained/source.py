"""The source model of the transfer-learning lesson: a small CNN trained on the digits 0-4.

Nothing can be downloaded, so the "pretrained" model is ours. `train_source_model` trains
it (deterministically on the CPU, in seconds); ``python -m workbench.pretrained`` rebuilds
the shipped files ``assets/source_cnn.pt`` (the state dict) and ``assets/source_cnn.json``
(how it was made and its test accuracy); `load_source_model` loads the shipped weights with
``torch.load(weights_only=True)``, which refuses anything but tensors.

`digit_task` cuts the digits into the source task (0-4) and the target task (5-9, relabelled
0-4, with few labels per class).

The digits are easy to learn from scratch, so transfer barely helps there. The lesson's main
comparison uses a generated "world" instead (`feature_task`): inputs x ~ N(0, I) in 32
dimensions, four fixed hidden features f(x) = tanh(2 x W), source labels argmax(f(x) A) and
target labels argmax(f(x) B). Both tasks read the same features, so a network that learnt
them on the source task has a head start on the target. Its source model is an MLP, shipped
as ``assets/source_mlp.pt`` and ``.json`` (`train_source_mlp`, `load_source_mlp`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from workbench.data.datasets import Data, from_tensors, load
from workbench.data.models import MLP, SmallCNN
from workbench.stopping import Patience
from workbench.train.fit import evaluate, fit, make_loss

ASSETS = Path(__file__).resolve().parent / "assets"
WEIGHTS = ASSETS / "source_cnn.pt"
REPORT = ASSETS / "source_cnn.json"
MLP_WEIGHTS = ASSETS / "source_mlp.pt"
MLP_REPORT = ASSETS / "source_mlp.json"
WORLD_SEED, INPUTS, FEATURES, CLASSES = 1000, 32, 4, 5
MLP_SIZES = (INPUTS, 64, 64, CLASSES)
MLP_SETTINGS = {"seed": 0, "data_seed": 0, "n_train": 10_000, "epochs": 40, "lr": 3e-3,
                "patience": 5, "batch_size": 128}  # fmt: skip
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
CHANNELS = 8
SETTINGS = {"seed": 0, "split_seed": 0, "epochs": 40, "lr": 3e-3, "patience": 8}


def digit_task(
    classes=SOURCE_CLASSES,
    *,
    seed: int = 0,
    per_class: int | None = None,
    shuffle_labels: bool = False,
) -> Data:
    """The 8x8 digit images of some classes, relabelled 0, 1, ... in the order given.

    Parameters
    ----------
    classes : sequence of int
        Which digits to keep, e.g. ``(5, 6, 7, 8, 9)``: digit 5 becomes label 0.
    seed : int
        Seed of the train/validation/test split of all the digits (the split is the same
        for every choice of classes) and of the subset and the shuffle below.
    per_class : int, optional
        Keep only this many training images per class (few labels); validation and test
        splits stay whole.
    shuffle_labels : bool
        Give the training images random labels (a source task with nothing to learn).

    Returns
    -------
    Data
        Images of shape (n, 1, 8, 8); train, val and test splits.
    """
    digits = load("digits", seed=seed, images=True)
    gen = torch.Generator().manual_seed(seed)
    lookup = torch.full((10,), -1, dtype=torch.int64)
    lookup[torch.as_tensor(list(classes))] = torch.arange(len(classes))

    def part(X, y):
        keep = lookup[y] >= 0
        return X[keep], lookup[y[keep]]

    X, y = part(*digits.train)
    if per_class is not None:
        order = torch.randperm(len(y), generator=gen)
        keep = torch.cat([order[y[order] == c][:per_class] for c in range(len(classes))])
        X, y = X[keep.sort().values], y[keep.sort().values]
    if shuffle_labels:
        y = y[torch.randperm(len(y), generator=gen)]
    name = "digits " + ",".join(map(str, classes))
    return from_tensors((X, y), part(*digits.val), part(*digits.test), name=name)


def accuracy(model: torch.nn.Module, data: Data) -> float:
    """Test accuracy of `model` on `data` (on the CPU)."""
    model.to("cpu")
    _, acc = evaluate(model, *data.test, make_loss(None, data.task), True)
    return float(acc)


def train_source_model(seed: int = 0, *, device="cpu", **changes) -> tuple[SmallCNN, dict]:
    """Train the source CNN on the digits 0-4, with early stopping and the best weights kept.

    Parameters
    ----------
    seed : int
        Seed of the weights and the shuffling (the data split uses ``split_seed``).
    device : str
        "cpu" reproduces the shipped file bit for bit.
    **changes
        Override `SETTINGS` (``epochs``, ``lr``, ``patience``, ``split_seed``).

    Returns
    -------
    (SmallCNN, dict)
        The model (on the CPU, in eval mode) and a report: the settings, the epochs run and
        the test accuracy on the source task.
    """
    settings = {**SETTINGS, "seed": seed, **changes}
    data = digit_task(SOURCE_CLASSES, seed=settings["split_seed"])
    model = SmallCNN(len(SOURCE_CLASSES), channels=CHANNELS, seed=seed)
    history = fit(model, data, epochs=settings["epochs"], lr=settings["lr"], seed=seed,
                  stop=Patience(settings["patience"]), restore_best=True, device=device)  # fmt: skip
    model.eval()
    report = {
        **settings,
        "classes": list(SOURCE_CLASSES),
        "channels": CHANNELS,
        "epochs_run": history.epochs,
        "best_epoch": history.best_epoch,
        "test_accuracy": accuracy(model, data),
    }
    return model, report


def world(seed: int = WORLD_SEED) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed parts of the generated world: ``W`` (32x4) and the two heads ``A``, ``B`` (4x5).

    Drawn once from a ``torch.Generator`` seeded with `seed`; every task uses the same ones.
    """
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(INPUTS, FEATURES, generator=gen) / INPUTS**0.5
    A = torch.randn(FEATURES, CLASSES, generator=gen)
    B = torch.randn(FEATURES, CLASSES, generator=gen)
    return W, A, B


def feature_task(
    task: str = "source",
    *,
    seed: int = 0,
    n_train: int = 10_000,
    n_val: int = 500,
    n_test: int = 2000,
    shuffle_labels: bool = False,
) -> Data:
    """A classification task of the generated world: labels ``argmax(tanh(2 x W) @ head)``.

    Parameters
    ----------
    task : {"source", "target"}
        Which head labels the samples: ``A`` for the source task, ``B`` for the target.
    seed : int
        Seed of the ``torch.Generator`` that draws the inputs (and the shuffle).
    n_train, n_val, n_test : int
        Samples per split. Few labels per class means ``n_train = k * 5`` (random draws, so
        the classes are only roughly balanced).
    shuffle_labels : bool
        Permute the training labels (a source task with nothing to learn).

    Returns
    -------
    Data
        Inputs of shape (n, 32), labels 0-4; train, val and test splits.
    """
    if task not in ("source", "target"):
        raise ValueError(f"task={task!r}; use 'source' or 'target'")
    W, A, B = world()
    head = A if task == "source" else B
    gen = torch.Generator().manual_seed(seed)

    def draw(n):
        X = torch.randn(n, INPUTS, generator=gen)
        return X, (torch.tanh(2 * X @ W) @ head).argmax(1)

    train, val, test = draw(n_train), draw(n_val), draw(n_test)
    if shuffle_labels:
        train = (train[0], train[1][torch.randperm(n_train, generator=gen)])
    return from_tensors(train, val, test, name=f"world {task}")


def train_source_mlp(seed: int = 0, *, device="cpu", **changes):
    """Train the world's source MLP (32-64-64-5) on the source task with early stopping.

    Parameters
    ----------
    seed : int
        Seed of the weights and the shuffling (the data uses ``data_seed``).
    device : str
        "cpu" reproduces the shipped file bit for bit.
    **changes
        Override `MLP_SETTINGS` (``epochs``, ``lr``, ``patience``, ``n_train`` ...).

    Returns
    -------
    (MLP, dict)
        The model (on the CPU, in eval mode) and its report, as for `train_source_model`.
    """
    settings = {**MLP_SETTINGS, "seed": seed, **changes}
    data = feature_task("source", seed=settings["data_seed"], n_train=settings["n_train"])
    model = MLP(MLP_SIZES, seed=seed)
    history = fit(model, data, epochs=settings["epochs"], lr=settings["lr"], seed=seed,
                  batch_size=settings["batch_size"], stop=Patience(settings["patience"]),
                  restore_best=True, device=device)  # fmt: skip
    model.eval()
    report = {
        **settings,
        "sizes": list(MLP_SIZES),
        "world_seed": WORLD_SEED,
        "epochs_run": history.epochs,
        "best_epoch": history.best_epoch,
        "test_accuracy": accuracy(model, data),
    }
    return model, report


def load_source_mlp(path: str | Path = MLP_WEIGHTS) -> MLP:
    """The shipped source MLP of the generated world, in eval mode (``weights_only=True``)."""
    model = MLP(MLP_SIZES, seed=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def load_source_model(path: str | Path = WEIGHTS) -> SmallCNN:
    """The shipped source CNN (5 outputs for the digits 0-4), in eval mode.

    The file holds a plain state dict; ``weights_only=True`` loads tensors and refuses any
    pickled code.
    """
    model = SmallCNN(len(SOURCE_CLASSES), channels=CHANNELS, seed=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def source_report(path: str | Path = REPORT) -> dict:
    """The report written next to shipped weights (settings and test accuracy).

    ``source_report(MLP_REPORT)`` reads the source MLP's.
    """
    return json.loads(Path(path).read_text())


def main(argv=None) -> dict:
    """``python -m workbench.pretrained [--out FOLDER]``: retrain and write both source models.

    Returns the two reports, ``{"source_cnn": ..., "source_mlp": ...}``.
    """
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, default=ASSETS, help="folder for the two files")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the same arithmetic on every machine
    args.out.mkdir(parents=True, exist_ok=True)
    reports = {}
    for train, weights, report_path, seed in (
        (train_source_model, WEIGHTS, REPORT, SETTINGS["seed"]),
        (train_source_mlp, MLP_WEIGHTS, MLP_REPORT, MLP_SETTINGS["seed"]),
    ):
        model, report = train(seed)
        torch.save(model.state_dict(), args.out / weights.name)
        (args.out / report_path.name).write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report))
        reports[weights.stem] = report
    return reports


if __name__ == "__main__":
    main()

__all__ = [
    "digit_task",
    "accuracy",
    "train_source_model",
    "load_source_model",
    "source_report",
    "world",
    "feature_task",
    "train_source_mlp",
    "load_source_mlp",
]
