"""Exact resume: capture a training run's whole state and put it back, bit for bit.

`fit` keeps its live objects (model, optimizer, scheduler, shuffling generator, history) in
a `TrainingState`. After an epoch it captures them, together with every random generator
the run may draw from, into plain data that `workbench.checkpoint.save` writes; a resume
restores them all, so the remaining epochs draw the same batches and the same dropout masks
as if the run had never stopped.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import warnings
from pathlib import Path

import torch

from workbench.checkpoint import (
    FORMAT,
    VERSION,
    Checkpointer,
    CheckpointError,
    check_keys,
    fingerprint,
    latest,
    load,
)
from workbench.history import History
from workbench.stopping import best_epoch


def plain(value):
    """`value` as plain data for a checkpoint: rules become dicts, callables their names."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value):
        fields = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **fields}
    return getattr(value, "__qualname__", type(value).__name__)


def _rng_state(generator: torch.Generator) -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
        "generator_device": generator.device.type,
        "python": plain(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if "numpy" in sys.modules:  # only a run that imported NumPy can have used it
        kind, keys, pos, has_gauss, cached = sys.modules["numpy"].random.get_state()  # noqa: NPY002
        state["numpy"] = [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]
    return state


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["generator_device"] == generator.device.type:
        generator.set_state(state["generator"])
    else:
        warnings.warn("resumed on another device: the shuffling order restarts", stacklevel=3)
    if (
        "cuda" in state
        and torch.cuda.is_available()
        and len(state["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(state["cuda"])
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
    arguments that must match for a resume to continue the same run.
    """

    def __init__(self, model, optimizer, scheduler, generator, history, rule, settings: dict):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.generator, self.history, self.rule = generator, history, rule
        self.settings = {
            **{k: plain(v) for k, v in settings.items()},
            "architecture": fingerprint(model),
        }

    def capture(self, epoch: int, best_value: float | None, best_state: dict | None) -> dict:
        """Everything needed to continue after `epoch`, as tensors and plain values."""
        from workbench import __version__

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
            "rng": _rng_state(self.generator),
            "best": {"value": best_value, "model": best_state},
        }

    def start(self, resume, saver: Checkpointer | None, *, epochs: int, override: bool):
        """Restore the run named by `resume` (if any) and say where the loop starts.

        Returns
        -------
        tuple
            ``(first epoch to run, best value so far, best weights so far)``.
        """
        path = None
        if saver is not None:
            try:
                saver.folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise CheckpointError(
                    f"cannot create the checkpoint folder {saver.folder}: {e}"
                ) from e
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
        return self._restore(load(path), path, epochs=epochs, override=override)

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
        self.optimizer.load_state_dict(state["optimizer"])
        for key in ("lr", "weight_decay", "momentum"):  # override: the values given now win
            for group in self.optimizer.param_groups if key in differ else ():
                if key in group:
                    group[key] = now[key]
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"], self.generator)
        restored = History.from_dict(state["history"])
        self.history.clear()
        self.history.update(restored)
        # Rules are pure, so the same rule gives the saved stop again; a new rule (override)
        # may let a stopped run go on.
        self.history.stop = self.rule(self.history)
        first = state["epoch"] + 1 if self.history.stop is None else epochs + 1
        return first, state["best"]["value"], state["best"]["model"]


__all__ = ["TrainingState", "plain"]
