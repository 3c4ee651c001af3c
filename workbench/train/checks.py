"""Data, model and settings checked against each other once, before epoch 1.

Each problem that would otherwise train silently wrong, or fail with a raw torch error
in the middle of a run, is found here and named: which split, which row and column,
and what to do. Fixes that lose nothing (NumPy arrays, int32 labels, a single column of
targets) are made quietly; fixes that change something (float64 inputs rounded to
float32, a last batch of one row merged for BatchNorm) are made with one `DataWarning`.
The user's `Data` is never changed: `before_training` returns a new one.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings

import torch
from torch import nn

from workbench.data.datasets import Data, as_pair

PARTS = ("train", "val", "test")


class DataWarning(UserWarning):
    """fit changed the data or the batches so that they can be trained on, and says how."""


def before_training(
    model: nn.Module, data: Data, device: torch.device, *, loss, loss_fn, batch_size: int
) -> tuple[Data, list[int]]:
    """Check that `model`, `data` and the settings fit together; fix what is lossless.

    Parameters
    ----------
    model : nn.Module
        The model; one forward pass on two training rows (eval mode, no gradients) checks
        its input and output sizes. Its training flags and BatchNorm statistics are kept.
    data : Data
        The splits; tensors or NumPy arrays.
    device : torch.device
        The device fit will train on.
    loss : callable
        The loss fit will use, ``loss(output, y)``.
    loss_fn : str, callable or None
        The `loss_fn` given to fit: named losses get the targets shaped like the outputs.
    batch_size : int
        The training batch size.

    Returns
    -------
    (Data, list of int)
        The data as tensors of the model's floating dtype (int64 labels), and the size of
        each training batch in an epoch.

    Raises
    ------
    ValueError
        With what is wrong and what to do.
    """
    check_device(device)
    splits = {
        part: as_pair(getattr(data, part), part)
        for part in PARTS
        if getattr(data, part) is not None
    }
    _check_sizes(splits)
    classification = data.task == "classification"
    if loss_fn == "cross_entropy" and not classification:
        raise ValueError(
            "loss_fn='cross_entropy' needs class labels, but this is a regression task "
            "(float targets), where it learns nothing (with one output, a loss of 0 every "
            "epoch): use loss_fn='mse' "
            "(the regression default), or integer labels for classification"
        )
    splits = _as_dtype(splits, _float_dtype(model), classification)
    _check_finite(splits, classification)
    out, single_row_fails = _probe(model, splits["train"][0])
    if classification:
        splits = _check_labels(splits, out, data.n_classes)
    elif not callable(loss_fn):
        splits = _match_targets(splits, out)
    _check_loss(loss, out, splits["train"][1][: len(out)].to(out.device))
    data = dataclasses.replace(data, **splits)
    return data, batch_sizes(len(splits["train"][0]), batch_size, single_row_fails)


def check_device(device: torch.device) -> None:
    """Refuse a device this torch cannot use, before anything is moved to it."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "was built without CUDA" if torch.version.cuda is None else "finds no GPU"
            raise ValueError(
                f"device={str(device)!r}, but this PyTorch ({torch.__version__}) {why}: "
                "use device='auto' (the GPU when there is one) or device='cpu'"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device={str(device)!r}, but this machine has {count} GPU(s), "
                f"cuda:0 to cuda:{count - 1}: use one of those or device='cuda'"
            )
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps and mps.is_available()):
        raise ValueError(f"device={str(device)!r} is not available here: use 'auto' or 'cpu'")


def _check_sizes(splits: dict) -> None:
    for part, (X, y) in splits.items():
        if len(X) == 0:
            todo = {
                "train": "give it the rows to learn from",
                "val": "fit measures val_loss on it after every epoch; hold some rows out "
                "for it, e.g. wb.data.load(..., val_size=0.2)",
                "test": "give it rows, or pass no test split (None)",
            }
            raise ValueError(f"the {part} split is empty (0 rows): {todo[part]}")
        if len(X) != len(y):
            raise ValueError(
                f"the {part} split has {len(X)} inputs but {len(y)} targets: "
                "X and y need one row per example"
            )
    X = splits["train"][0]
    for part, (X_other, _) in splits.items():
        if X_other.shape[1:] != X.shape[1:]:
            raise ValueError(
                f"each row of X in the {part} split has shape {tuple(X_other.shape[1:])} but "
                f"in the train split {tuple(X.shape[1:])}: every split needs the same features, "
                "prepared the same way (select and encode the columns before splitting)"
            )


def _float_dtype(model: nn.Module) -> torch.dtype:
    tensors = itertools.chain(model.parameters(), model.buffers())
    return next((t.dtype for t in tensors if t.is_floating_point()), torch.get_default_dtype())


def _as_dtype(splits: dict, dtype: torch.dtype, classification: bool) -> dict:
    # Integer inputs are left alone: they may be token ids for an Embedding. Labels of any
    # integer type become int64, the only integers cross_entropy takes.
    out, rounded = {}, []
    for part, (X, y) in splits.items():
        wider = [t.dtype for t in (X, y) if t.is_floating_point() and _bits(t) > _bits(dtype)]
        rounded += [(part, wider[0])] if wider else []
        X = X.to(dtype) if X.is_floating_point() else X
        if classification:
            y = y if y.is_floating_point() else y.long()
        else:
            y = y.to(dtype)
        out[part] = (X, y)
    if rounded:
        warnings.warn(
            f"the {_splits([p for p, _ in rounded])} {_name(rounded[0][1])} numbers but the "
            f"model computes in {_name(dtype)}: fit converted them. Convert them yourself "
            "(X.float()) to silence this, or train in float64 with model.double()",
            DataWarning,
            stacklevel=4,
        )
    return out


def _splits(parts: list[str]) -> str:
    """ "train split holds", "train and val splits hold", "train, val and test splits hold"."""
    if len(parts) == 1:
        return f"{parts[0]} split holds"
    return f"{', '.join(parts[:-1])} and {parts[-1]} splits hold"


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _bits(t) -> int:
    return torch.finfo(t if isinstance(t, torch.dtype) else t.dtype).bits


def _check_finite(splits: dict, classification: bool) -> None:
    for part, (X, y) in splits.items():
        for what, t in (("X", X), ("y", y)):
            if not t.is_floating_point() or (what == "y" and classification):
                continue
            bad = ~torch.isfinite(t)
            if bad.any():
                where = bad.nonzero()[0].tolist()
                row, column = where[0], tuple(where[1:])
                column = column[0] if len(column) == 1 else column
                place = f"row {row}" + ("" if column == () else f", column {column}")
                place = place.replace("column (", "position (")  # inside an image
                raise ValueError(
                    f"{what} of the {part} split holds {t[tuple(where)].item()} at {place} "
                    f"({int(bad.sum())} value(s) in all that are NaN or infinite): training "
                    "would show a NaN loss, as if it diverged. Fill or drop those values "
                    "before training (e.g. remove the rows, or impute the column's mean)"
                )


def _probe(model: nn.Module, X: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """The model's output on two rows, and whether a training batch of one row would fail.

    Eval mode keeps BatchNorm's running statistics and dropout untouched; each module's
    own training flag is put back afterwards (a frozen module stays frozen).
    """
    flags = {module: module.training for module in model.modules()}
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    values_per_channel = []
    hooks = [
        m.register_forward_pre_hook(
            lambda _, args: values_per_channel.append(args[0][0].numel() // args[0].shape[1])
        )
        for m in norms
    ]
    where = next((p.device for p in model.parameters()), X.device)
    try:
        model.eval()
        with torch.no_grad():
            out = model(X[:2].to(where))
    except Exception as err:  # whatever the model raises, it would raise in batch 1
        if not X.is_floating_point():
            raise ValueError(
                f"the model failed on X of dtype {X.dtype} ({err}): unless they are token ids "
                "for an Embedding, convert the inputs with X.float() (and scale pixel values, "
                "e.g. X / 255)"
            ) from err
        raise ValueError(
            f"the model cannot take the inputs: each row of X has shape {tuple(X.shape[1:])}"
            f"{f' ({X.shape[1]} features)' if X.ndim == 2 else ''}, and a forward pass on "
            f"2 rows failed with: {err}. Make the model's first layer take that shape, "
            f"e.g. MLP(({X.shape[1] if X.ndim == 2 else '...'}, ..., n_classes))"
        ) from err
    finally:
        for hook in hooks:
            hook.remove()
        for module, flag in flags.items():
            module.training = flag
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the model returned a {type(out).__name__}; fit needs a tensor")
    # BatchNorm fails in training on one value per channel: a row of features, not an image
    return out, any(n == 1 for n in values_per_channel)


def _check_labels(splits: dict, out: torch.Tensor, n_classes: int) -> dict:
    fixed = {}
    for part, (X, y) in splits.items():
        if y.is_floating_point():
            raise ValueError(
                f"y of the {part} split is {y.dtype}, but classification needs whole-number "
                "class labels: use y.long() if they are class numbers, or "
                "from_tensors(..., task='regression') for continuous targets"
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.reshape(-1)  # a column of labels means one label per row
        if y.ndim != 1:
            raise ValueError(
                f"y of the {part} split has shape {tuple(y.shape)}, but classification needs "
                "one class number per row, shape (n,): for one-hot labels use y.argmax(1)"
            )
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= n_classes:
            raise ValueError(
                f"labels of the {part} split run from {low} to {high}, but classes are "
                f"numbered 0 to {n_classes - 1} (n_classes={n_classes}): renumber them "
                "0, 1, 2, ... (e.g. with torch.unique(y, return_inverse=True))"
            )
        fixed[part] = (X, y)
    labels = torch.cat([y for _, y in fixed.values()])
    if out.ndim != 2 or out.shape[1] != n_classes:
        raise ValueError(
            f"the model outputs {_per_row(out)} per row, but the data has {n_classes} classes "
            f"(labels {int(labels.min())} to {int(labels.max())}): "
            f"give its last layer {n_classes} outputs (one score per class), e.g. "
            f"MLP((..., {n_classes})). If there really are more classes than the labels "
            "show, say so: from_tensors(..., n_classes=...)"
        )
    return fixed


def _match_targets(splits: dict, out: torch.Tensor) -> dict:
    # The rule: a single column of targets takes the shape of a single-column output, so
    # (n,) targets with (n, 1) outputs do not broadcast into an n-by-n comparison.
    fixed = {}
    for part, (X, y) in splits.items():
        if out.ndim == 2 and out.shape[1] == 1 and y.ndim == 1:
            y = y.reshape(-1, 1)
        elif out.ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
            y = y.reshape(-1)
        if y.shape[1:] != out.shape[1:]:
            raise ValueError(
                f"the model outputs {_per_row(out)} per row but the targets of the {part} "
                f"split have {_per_row(y)}: give the last layer {y[0].numel()} output(s), "
                "one per target column (if y holds class numbers, make them integers with "
                "y.long() for classification)"
            )
        fixed[part] = (X, y)
    return fixed


def _per_row(t: torch.Tensor) -> str:
    """How many values a tensor has per row, in words: "one value", "3 values"."""
    if t.ndim > 2:
        return f"shape {tuple(t.shape[1:])}"
    return "one value" if t[0].numel() == 1 else f"{t[0].numel()} values"


def _check_loss(loss, out: torch.Tensor, y: torch.Tensor) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = loss(out, y)
        except Exception as err:  # a raw error from inside the loss, now rather than in batch 1
            raise ValueError(
                f"loss_fn failed on the model's outputs (shape {tuple(out.shape)}) and "
                f"targets (shape {tuple(y.shape)}, {y.dtype}) of 2 rows: {err}"
            ) from err
    if any("target size" in str(w.message) for w in caught):
        raise ValueError(
            f"loss_fn compares outputs of shape {tuple(out.shape)} with targets of shape "
            f"{tuple(y.shape)}, which broadcasts into a wrong loss: give targets the outputs' "
            "shape (e.g. y.reshape(-1, 1))"
        )
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"loss_fn returned {shape}; it must return one number, the mean loss")


def batch_sizes(n: int, batch_size: int, single_row_fails: bool = False) -> list[int]:
    """The size of each training batch in an epoch of `n` rows.

    A last batch of one row is merged into the one before when the model has BatchNorm
    over features (it cannot normalize a single value), with a `DataWarning`.

    >>> batch_sizes(10, 4)
    [4, 4, 2]
    """
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if not single_row_fails or sizes[-1] != 1:
        return sizes
    if len(sizes) == 1 or batch_size == 1:
        raise ValueError(
            f"BatchNorm cannot train on batches of one row, and the train split has {n} "
            f"row(s) with batch_size={batch_size}: use batch_size=2 or more, and 2 rows or more"
        )
    warnings.warn(
        f"the train split has {n} rows, so batch_size={batch_size} leaves a last batch of "
        "one row, which BatchNorm cannot normalize: fit merges it into the batch before "
        f"(one batch of {batch_size + 1} per epoch). Pick a batch_size that leaves no single "
        "row over to silence this",
        DataWarning,
        stacklevel=4,
    )
    return sizes[:-2] + [batch_size + 1]
