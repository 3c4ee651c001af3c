"""Exact resume: capture a training run's whole state and put it back, bit for bit.

`fit` keeps its live objects (model, optimizer, scheduler, its shuffling and dropout
generators, history) in a `TrainingState`. After an epoch it captures them, together with
Python's and NumPy's global generators, into plain data that `workbench.checkpoint.store.save`
writes; a resume restores them all, so the remaining epochs draw the same batches and the
same dropout masks as if the run had never stopped. Torch's global generator is neither
saved nor put back: fit never draws from it, and it belongs to the user's cells.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import sys
import types
import warnings
from pathlib import Path

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from workbench.checkpoint.store import (
    FORMAT,
    VERSION,
    Checkpointer,
    CheckpointError,
    check_keys,
    fingerprint,
    latest,
    load,
    require,
)
from workbench.history import History
from workbench.stopping import best_epoch


def plain(value):
    """`value` as plain data for a checkpoint's settings, which a resume compares.

    Rules become dicts, a scheduler its type and settings, a library function its name,
    and a function defined in a notebook (a lambda, say) its name plus a hash of its code,
    so that two different lambdas are told apart while a re-run cell matches itself.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        fields = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, LRScheduler | ReduceLROnPlateau):
        # Built afresh by fit, its state is its settings (progress counters aside).
        settings = {k: v for k, v in value.state_dict().items() if k not in _PROGRESS}
        if hasattr(value, "lr_lambdas"):  # LambdaLR keeps its functions out of state_dict
            settings["lr_lambdas"] = value.lr_lambdas
        return {"type": type(value).__name__, **plain(settings)}
    if isinstance(value, types.FunctionType) and (
        value.__module__ == "__main__" or "<" in value.__qualname__
    ):
        # Captured variables and default arguments change what the code does, too.
        bound = [c.cell_contents for c in value.__closure__ or ()] + list(value.__defaults__ or ())
        bound = [b if isinstance(b, int | float | str | bool) else type(b) for b in bound]
        code = hashlib.sha256(f"{_code(value.__code__)}{bound}".encode()).hexdigest()[:10]
        return f"{value.__qualname__} (code {code})"
    if isinstance(value, types.FunctionType):
        return f"{value.__module__}.{value.__qualname__}"
    return getattr(value, "__qualname__", type(value).__name__)


# A scheduler's state_dict entries that count progress rather than set behaviour.
_PROGRESS = {"last_epoch", "_step_count", "_last_lr", "_get_lr_called_within_step",
             "_is_initial", "verbose", "best", "num_bad_epochs", "cooldown_counter"}  # fmt: skip


def _code(code: types.CodeType) -> str:
    """What a function does, without where it was defined (the file of a notebook cell
    changes with every kernel, and the line with every edit above it)."""
    consts = [_code(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{code.co_names}|{code.co_varnames}|{consts}"


def _rng_state(generator: torch.Generator, dropout: torch.Generator | None) -> dict:
    # The run's own generators; torch's global one belongs to the user's cells (and to
    # anything training beside this run), so it is neither saved nor put back.
    state = {
        "generator": generator.get_state(),
        "generator_device": generator.device.type,
        "python": plain(random.getstate()),
    }
    if dropout is not None:
        state["dropout"] = dropout.get_state()
        state["dropout_device"] = dropout.device.type
    if "numpy" in sys.modules:  # only a run that imported NumPy can have used it
        kind, keys, pos, has_gauss, cached = sys.modules["numpy"].random.get_state()  # noqa: NPY002
        state["numpy"] = [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]
    return state


def _set_rng_state(state: dict, generator: torch.Generator, dropout: torch.Generator | None):
    if state["generator_device"] == generator.device.type:
        generator.set_state(state["generator"])
    else:
        warnings.warn("resumed on another device: the shuffling order restarts", stacklevel=3)
    # A file from before the run had a dropout generator saved torch's global CPU state,
    # which is what its dropout drew from on the CPU: it continues the same masks.
    saved, kind = state.get("dropout", state.get("torch")), state.get("dropout_device", "cpu")
    if dropout is not None and saved is not None:
        if kind == dropout.device.type:
            dropout.set_state(saved)
        else:
            warnings.warn("resumed on another device: the dropout masks restart", stacklevel=3)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, cached = state["numpy"]
        # the legacy global generator is the one that np.random.seed() and user code use
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))  # noqa: NPY002


class TrainingState:
    """The live objects of one `fit` run, captured into a checkpoint and restored from one.

    `fit` builds one when asked to checkpoint or resume; `settings` are its keyword
    arguments that must match for a resume to continue the same run; `generator` shuffles
    and `dropout` (optional) draws the masks of the model's `workbench.data.models.Dropout`.
    """

    def __init__(
        self, model, optimizer, scheduler, generator, history, rule, settings: dict, dropout=None
    ):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.generator, self.dropout, self.history, self.rule = generator, dropout, history, rule
        self.settings = {
            **{k: plain(v) for k, v in settings.items()},
            "architecture": fingerprint(model),
            "optimizer": type(optimizer).__name__,  # "opt" may be a callable: the type it made
        }

    def capture(self, epoch: int, best_value: float | None, best_state: dict | None) -> dict:
        """Everything needed to continue after `epoch`, as tensors and plain values."""
        from workbench._version import __version__

        history = self.history.to_dict()
        history["best_epoch"] = best_epoch(self.history, self.history.monitor, self.history.mode)
        return {
            "format": FORMAT,
            "version": VERSION,
            "workbench": __version__,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "history": history,
            "settings": self.settings,
            "rng": _rng_state(self.generator, self.dropout),
            "best": {"value": best_value, "model": best_state},
        }

    def start(self, resume, saver: Checkpointer | None, *, epochs: int, override: bool):
        """Restore the run named by `resume` (if any) and say where the loop starts.

        With a `saver`, its folder is locked for the rest of the run first, so that the
        checks below cannot be overtaken by a second run writing there.

        Returns
        -------
        tuple
            ``(first epoch to run, best value so far, best weights so far)``.
        """
        path = None
        if saver is not None:
            saver.claim()
        if resume == "last":
            if saver is None:
                raise ValueError("resume='last' needs checkpoint= (the folder to resume from)")
            path = latest(saver.folder)  # None: nothing saved yet, so start from epoch 1
        elif resume is not None:
            path = Path(resume)
            if path.is_dir():  # a folder: its newest checkpoint
                path = latest(path)
                if path is None:
                    raise FileNotFoundError(f"no checkpoints (epoch-NNNN.pt) in {resume}")
        existing = None if saver is None else latest(saver.folder)
        # Saving prunes the folder, so a run may only write where its own checkpoints are.
        if existing is not None and (
            path is None or path.resolve().parent != existing.resolve().parent
        ):
            raise CheckpointError(
                f"{saver.folder} already holds checkpoints of another run (up to "
                f"{existing.name}); pass resume='last' to continue that run, or use another folder"
            )
        watched = saver and saver.keep_best and (saver.monitor or self.history.monitor)
        if watched and watched not in self.history:
            raise ValueError(
                f"the Checkpointer's monitor={watched!r} is not a metric this run records; "
                f"it records: {', '.join(self.history)}"
            )
        if path is None:
            return 1, None, None
        state = load(path)
        require(state, _KEYS, path)
        if existing is not None:  # resuming inside the folder it saves to
            saver.check_newer(state["epoch"], path)
        return self._restore(state, path, epochs=epochs, override=override)

    def _restore(self, state: dict, path, *, epochs: int, override: bool):
        check_keys(self.model, state["model"], path)
        saved, now = state["settings"], self.settings
        differ = [k for k in sorted(saved.keys() | now.keys()) if saved.get(k) != now.get(k)]
        if differ and not override:
            lines = "\n".join(
                f"  {k}: checkpoint {saved.get(k)!r}, now {now.get(k)!r}" for k in differ
            )
            raise CheckpointError(
                f"cannot resume from {path}: these settings differ from the checkpoint's\n{lines}\n"
                "Pass the same settings, or override=True to continue with the new ones."
            )
        if state["epoch"] > epochs:
            raise CheckpointError(f"{path} is at epoch {state['epoch']}, past epochs={epochs}")
        self.model.load_state_dict(state["model"])
        kind, kind_now = saved.get("optimizer"), now["optimizer"]
        if kind is None and "opt" in differ:  # a file from before optimizer types were kept
            kind = saved.get("opt")
        if kind not in (None, kind_now):  # only with override: the settings differ otherwise
            warnings.warn(
                f"optimizer state cannot carry over from {kind} to {kind_now}: the checkpoint's "
                f"{kind} state is dropped and {kind_now} starts afresh (no momentum or running "
                f"averages yet) at epoch {state['epoch'] + 1}",
                stacklevel=3,
            )
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        for key in ("lr", "weight_decay", "momentum"):  # override: the values given now win
            for group in self.optimizer.param_groups if key in differ else ():
                if key in group:
                    group[key] = now[key]
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"], self.generator, self.dropout)
        restored = History.from_dict(state["history"])
        self.history.clear()
        self.history.update(restored)
        # Rules are pure, so the same rule gives the saved stop again; a new rule (override)
        # may let a stopped run go on.
        self.history.stop = self.rule(self.history)
        first = state["epoch"] + 1 if self.history.stop is None else epochs + 1
        return first, state["best"]["value"], state["best"]["model"]


_KEYS = ("epoch", "model", "optimizer", "scheduler", "history", "settings", "rng", "best")

__all__ = ["TrainingState", "plain"]
