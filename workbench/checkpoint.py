"""Checkpoints that never lose a run: atomic saves, safe loading, exact resume.

A checkpoint is one file holding everything `fit` needs to continue: the weights, the
optimizer and scheduler, the history, the run's settings and every random generator's
state, so a resumed run ends bit-identical (on the CPU) to one that never stopped. Files are
written to a temporary name and renamed (a crash leaves the old file whole), and read with
``torch.load(weights_only=True)``, which refuses anything that could run code. What goes
into the file, and how a run is put back together from it, is in `workbench.resume`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

FORMAT, VERSION = "workbench-checkpoint", 1
_NAME = re.compile(r"epoch-(\d+)\.pt")


class CheckpointError(Exception):
    """A checkpoint cannot be written, read, or used for this model or run."""


class LoadedKeys(NamedTuple):
    """What `load_weights` could not match: weight names and ``name: shapes`` lines."""

    missing: list[str]
    unexpected: list[str]
    mismatched: list[str]


def save(path: str | os.PathLike, state: dict) -> None:
    """Write `state` to `path` atomically: the file is either the old one or the new one.

    The state goes to a temporary file in the same folder, is flushed to the disk, and is
    then renamed over `path`; a crash or a full disk at any moment leaves the old file whole.

    Raises
    ------
    CheckpointError
        The folder cannot be written or the disk is full (the old file is untouched).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise CheckpointError(f"cannot write a checkpoint in {path.parent}: {e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on the disk before the name points at them
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError | RuntimeError):
            raise CheckpointError(
                f"could not write {path} ({e}); the previous file is untouched"
            ) from e
        raise
    if os.name == "posix":  # make the rename itself survive a power cut
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def load(path: str | os.PathLike) -> dict:
    """Read a checkpoint safely: tensors and plain Python values only, never code.

    Returns
    -------
    dict
        Keys ``epoch, model, optimizer, scheduler, history, settings, rng, best, ...``,
        with every tensor on the CPU.

    Raises
    ------
    FileNotFoundError
        There is no file at `path`.
    CheckpointError
        The file is empty, truncated, not a workbench checkpoint, or holds objects that
        could run code when loaded (those are refused, not run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        with warnings.catch_warnings():  # a refused file need not warn about its pickle protocol
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        why = (
            "it holds Python objects other than tensors and plain values, which could run "
            "code when loaded, so safe loading refused it"
            if "Weights only load failed" in str(e)
            else f"it is empty, truncated or damaged ({type(e).__name__}: {str(e)[:200]})"
        )
        raise CheckpointError(f"{path} is not a valid workbench checkpoint: {why}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a valid workbench checkpoint: it is a PyTorch file without the "
            f"{FORMAT!r} marker (for plain weights use model.load_state_dict(torch.load(path)))"
        )
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} was written by a newer workbench; upgrade to read it")
    return state


def load_weights(
    model: nn.Module, path: str | os.PathLike, *, prefix: str = "", strict: bool = True
) -> LoadedKeys:
    """Load only the weights of a checkpoint into `model` (transfer learning, inference).

    Parameters
    ----------
    model : nn.Module
        The model (or part of one, e.g. ``cnn.features``) to load into.
    path : str or Path
        A checkpoint written by `fit` or `save`.
    prefix : str
        Take only the weights whose names start with this, minus it: ``prefix="features."``
        loads a CNN's feature extractor into ``new_cnn.features``.
    strict : bool
        Raise unless every weight matches by name and shape. With False, load the weights
        that match and report the others.

    Returns
    -------
    LoadedKeys
        ``(missing, unexpected, mismatched)``: all empty when everything matched.
    """
    weights = load(path)["model"]
    weights = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    if not weights:
        raise CheckpointError(f"no weights in {path} start with prefix={prefix!r}")
    keys = check_keys(model, weights, path, strict=strict)
    own = model.state_dict()
    model.load_state_dict(
        {k: v for k, v in weights.items() if k in own and v.shape == own[k].shape}, strict=False
    )
    return keys


def check_keys(model: nn.Module, weights: dict, path, *, strict: bool = True) -> LoadedKeys:
    """Compare a checkpoint's `weights` with `model`'s by name and shape.

    Returns
    -------
    LoadedKeys
        The names `model` has that `weights` lacks, the reverse, and the shape mismatches.

    Raises
    ------
    CheckpointError
        With `strict`, when anything differs; the message lists all three.
    """
    own = model.state_dict()
    keys = LoadedKeys(
        [k for k in own if k not in weights],
        [k for k in weights if k not in own],
        [
            f"{k}: checkpoint {tuple(v.shape)}, model {tuple(own[k].shape)}"
            for k, v in weights.items()
            if k in own and v.shape != own[k].shape
        ],
    )
    if strict and any(keys):
        lines = [f"{path} does not fit this model (was it saved from another architecture?)"]
        for title, names in zip(("missing", "unexpected", "shape mismatches"), keys, strict=True):
            if names:
                more = f" ... and {len(names) - 10} more" if len(names) > 10 else ""
                lines.append(f"  {title}: {', '.join(names[:10])}{more}")
        raise CheckpointError("\n".join(lines))
    return keys


def fingerprint(model: nn.Module) -> str:
    """A short hash of the architecture: layer types, weight names, shapes and dtypes.

    Two models with the same fingerprint can exchange checkpoints; the values of the
    weights do not enter it.
    """
    parts = [f"{name}:{type(m).__name__}" for name, m in model.named_modules()]
    parts += [f"{k}:{tuple(v.shape)}:{v.dtype}" for k, v in model.state_dict().items()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def latest(folder: str | os.PathLike) -> Path | None:
    """The newest checkpoint (``epoch-NNNN.pt``) in `folder`, or None if there is none.

    Temporary files left by a crash are not checkpoints and are never returned.
    """
    saved = _saved(folder)
    return saved[max(saved)] if saved else None


def _saved(folder) -> dict[int, Path]:
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found = (_NAME.fullmatch(p.name) for p in folder.iterdir())
    return {int(m[1]): folder / m[0] for m in found if m}


class Checkpointer:
    """When `fit` saves a checkpoint, and which files it keeps.

    Parameters
    ----------
    folder : str or Path
        Where the files go: ``epoch-0007.pt`` for epoch 7. Created if needed.
    every : int
        Save every this many epochs (and always after the last epoch).
    keep_last : int
        Keep the newest this many checkpoints (at least 1: the latest is always kept).
    keep_best : int
        Also keep the best this many by `monitor`.
    monitor, mode : str, optional
        The metric that ranks checkpoints for `keep_best`; None means fit's monitor and mode.

    >>> Checkpointer("runs/mlp", every=5, keep_best=1)
    Checkpointer('runs/mlp', every=5, keep_last=1, keep_best=1, monitor=None, mode=None)
    """

    def __init__(self, folder, *, every=1, keep_last=1, keep_best=0, monitor=None, mode=None):
        for name, value, low in (
            ("every", every, 1),
            ("keep_last", keep_last, 1),
            ("keep_best", keep_best, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or None, got {mode!r}")
        if monitor is not None and not isinstance(monitor, str):
            raise ValueError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}")
        self.folder, self.every, self.keep_last = Path(folder), every, keep_last
        self.keep_best, self.monitor, self.mode = keep_best, monitor, mode

    def __repr__(self) -> str:
        return (
            f"Checkpointer({str(self.folder)!r}, every={self.every}, keep_last={self.keep_last}, "
            f"keep_best={self.keep_best}, monitor={self.monitor!r}, mode={self.mode!r})"
        )

    @classmethod
    def of(cls, checkpoint) -> Checkpointer | None:
        """`fit`'s ``checkpoint=`` argument as a Checkpointer: a folder gets the defaults."""
        if checkpoint is None or isinstance(checkpoint, Checkpointer):
            return checkpoint
        if not isinstance(checkpoint, str | os.PathLike):
            raise TypeError(f"checkpoint={checkpoint!r} must be a folder or a Checkpointer")
        return cls(checkpoint)

    def save(self, state: dict) -> Path:
        """Write `state` as ``epoch-NNNN.pt`` atomically, then prune by the policy."""
        epoch = state["epoch"]
        path = self.folder / f"epoch-{epoch:04d}.pt"
        save(path, state)
        history = state["history"]
        self._prune(
            epoch,
            history["metrics"],
            self.monitor or history["monitor"],
            self.mode or history["mode"],
        )
        return path

    def _prune(self, epoch: int, metrics: dict, monitor: str, mode: str) -> None:
        saved = _saved(self.folder)
        # Files past `epoch` belong to a timeline this run has replaced (it resumed earlier).
        older = sorted(e for e in saved if e <= epoch)
        keep = {epoch, *older[-self.keep_last :]}
        if self.keep_best:
            values = {
                e: metrics[monitor][e - 1] for e in older if not math.isnan(metrics[monitor][e - 1])
            }
            ranked = sorted(values, key=lambda e: (values[e] if mode == "min" else -values[e], e))
            keep.update(ranked[: self.keep_best])
        for e, path in saved.items():
            if e not in keep:
                path.unlink(missing_ok=True)
        for tmp in self.folder.glob(".epoch-*.tmp"):  # left behind by a crash mid-save
            tmp.unlink(missing_ok=True)


__all__ = [
    "CheckpointError",
    "Checkpointer",
    "LoadedKeys",
    "check_keys",
    "fingerprint",
    "latest",
    "load",
    "load_weights",
    "save",
]
