"""Checkpoints that never lose a run: atomic saves, safe loading, exact resume.

A checkpoint is one file holding everything `fit` needs to continue: the weights, the
optimizer and scheduler, the history, the run's settings and every random generator's
state, so a resumed run ends bit-identical (on the CPU) to one that never stopped. Files are
written atomically with a checksum of their contents and read with
``torch.load(weights_only=True)``, which refuses anything that could run code (both in
`workbench.checkpoint.files`). A `Checkpointer` decides when to save and what to keep, and locks its
folder for the run (`workbench.checkpoint.lock`). What goes into the file, and how a run is put back
together from it, is in `workbench.checkpoint.resume`.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path
from typing import NamedTuple

from torch import nn

from workbench.checkpoint import files
from workbench.checkpoint.files import CheckpointError
from workbench.checkpoint.lock import FolderLock, FolderLocked
from workbench.stopping import resolve_mode

FORMAT, VERSION = "workbench-checkpoint", 1
_NAME = re.compile(r"epoch-(\d+)\.pt")


class LoadedKeys(NamedTuple):
    """What `load_weights` could not match: weight names and ``name: shapes`` lines."""

    missing: list[str]
    unexpected: list[str]
    mismatched: list[str]


def save(path: str | os.PathLike, state: dict) -> None:
    """Write `state`, with a checksum of its contents, to `path` atomically.

    The file is either the old one or the new one, whatever happens meanwhile (see
    `workbench.checkpoint.files.write`); an interrupt is raised once the new file is complete. The
    file gets the permissions the umask gives new files (usually readable by everyone).

    Raises
    ------
    CheckpointError
        The folder cannot be written or the disk is full (the old file is untouched).
    """
    files.write(Path(path), {**state, "checksum": files.checksum(state)})


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
        The file cannot be read, is empty, not a PyTorch file, truncated, damaged (its
        checksum does not match), not a workbench checkpoint, or holds objects that could
        run code when loaded (those are refused, not run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    state = files.read(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a valid workbench checkpoint: it is a PyTorch file without the "
            f"{FORMAT!r} marker (for plain weights use model.load_state_dict(torch.load(path)))"
        )
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} was written by a newer workbench; upgrade to read it")
    # Files written before checksums existed have none; every file `save` writes has one.
    if state.pop("checksum", None) not in (None, files.checksum(state)):
        raise CheckpointError(
            f"{path} is damaged: its contents do not match the checksum stored when it was "
            "saved (a changed bit on the disk or in a copy); use another checkpoint, or copy "
            "this one again from where it came"
        )
    return state


def require(state: dict, keys, path) -> None:
    """Raise a CheckpointError naming the `keys` that `state` (read from `path`) lacks."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(
            f"{path} has the workbench format marker but lacks {', '.join(missing)}: it was "
            "not written by fit (or was edited); resume from a checkpoint that fit saved"
        )


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
    state = load(path)
    require(state, ["model"], path)
    weights = state["model"]
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
        Where the files go: ``epoch-0007.pt`` for epoch 7. Created if needed. A run locks
        it while it trains, so that a second run cannot write there at the same time.
    every : int
        Save every this many epochs (and always after the last epoch).
    keep_last : int
        Keep the newest this many checkpoints (at least 1: the latest is always kept).
    keep_best : int
        Also keep the best this many by `monitor`.
    monitor : str, optional
        The metric that ranks checkpoints for `keep_best`; None means fit's monitor.
    mode : "auto", "min" or "max"
        Whether lower or higher `monitor` is better; "auto" means higher for accuracies and
        lower otherwise (fit's own mode when `monitor` is None).
    discard_newer : bool
        Allow resuming from an older checkpoint of this folder although newer ones exist:
        they belong to the timeline the resumed run replaces, and are deleted as it saves.
        Without it such a resume is refused before training, and nothing is deleted.

    >>> Checkpointer("runs/mlp", every=5, keep_best=1)
    Checkpointer('runs/mlp', every=5, keep_last=1, keep_best=1, monitor=None, mode='auto')
    """

    def __init__(
        self, folder, *, every=1, keep_last=1, keep_best=0, monitor=None, mode="auto",
        discard_newer=False,
    ):  # fmt: skip
        for name, value, low in (
            ("every", every, 1),
            ("keep_last", keep_last, 1),
            ("keep_best", keep_best, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
        if monitor is not None and not isinstance(monitor, str):
            raise ValueError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}")
        resolve_mode(monitor or "", mode)  # a bad mode fails here, not after an epoch
        self.folder, self.every, self.keep_last = Path(folder), every, keep_last
        self.keep_best, self.monitor, self.mode = keep_best, monitor, mode or "auto"
        self.discard_newer = bool(discard_newer)
        self._lock = None

    def __repr__(self) -> str:
        newer = ", discard_newer=True" if self.discard_newer else ""
        return (
            f"Checkpointer({str(self.folder)!r}, every={self.every}, keep_last={self.keep_last}, "
            f"keep_best={self.keep_best}, monitor={self.monitor!r}, mode={self.mode!r}{newer})"
        )

    @classmethod
    def of(cls, checkpoint) -> Checkpointer | None:
        """`fit`'s ``checkpoint=`` argument as a Checkpointer: a folder gets the defaults."""
        if checkpoint is None or isinstance(checkpoint, Checkpointer):
            return checkpoint
        if not isinstance(checkpoint, str | os.PathLike):
            raise TypeError(f"checkpoint={checkpoint!r} must be a folder or a Checkpointer")
        return cls(checkpoint)

    def claim(self) -> None:
        """Create the folder if needed and lock it for this run (released when `fit` ends).

        Raises
        ------
        CheckpointError
            The folder cannot be created or written, or another run holds it.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"cannot create the checkpoint folder {self.folder}: {e}") from e
        try:
            self._lock = FolderLock(self.folder)
        except FolderLocked as e:
            raise CheckpointError(str(e)) from None
        except OSError as e:  # the lock file is the first thing written: found before epoch 1
            raise CheckpointError(
                f"cannot write checkpoints in {self.folder} ({e.strerror}); choose a folder "
                "you can write to (checkpoint=...), or ask its owner for write permission"
            ) from None

    def check_newer(self, epoch: int, path) -> None:
        """Refuse to resume from `epoch` (file `path`) while this folder holds later ones."""
        newer = sorted(p.name for e, p in _saved(self.folder).items() if e > epoch)
        if newer and not self.discard_newer:
            raise CheckpointError(
                f"resuming from {Path(path).name} would replace the later checkpoints in "
                f"{self.folder}: {', '.join(newer)}. Nothing was deleted. Save the resumed run "
                "into a new folder (checkpoint=...), or pass "
                f"checkpoint=Checkpointer({str(self.folder)!r}, discard_newer=True) to let "
                "it delete them"
            )

    def save(self, state: dict) -> Path:
        """Write `state` as ``epoch-NNNN.pt`` atomically, then prune by the policy."""
        epoch = state["epoch"]
        path = self.folder / f"epoch-{epoch:04d}.pt"
        save(path, state)
        history = state["history"]
        monitor = self.monitor or history["monitor"]
        auto = self.monitor is None and self.mode == "auto"  # ranked as fit ranks
        self._prune(epoch, history["metrics"], monitor, history["mode"] if auto else
                    resolve_mode(monitor, self.mode))  # fmt: skip
        return path

    def _prune(self, epoch: int, metrics: dict, monitor: str, mode: str) -> None:
        saved = _saved(self.folder)
        # Files past `epoch` belong to a timeline this run has replaced: it resumed earlier,
        # which `check_newer` allows only with discard_newer=True.
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
    "require",
    "save",
]
