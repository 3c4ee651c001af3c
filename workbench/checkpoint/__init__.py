"""Checkpoints: bytes on disk (`files.py`), checkpoint files and the keep policy
(`store.py`: `save`, `load`, `Checkpointer`), the folder lock (`lock.py`) and a run's
resumable state (`resume.py`: `TrainingState`). It may import history, stopping and data,
never the training loop: `fit` hands it what it saves. Public names: ``wb.checkpoint.save``,
``load``, ``load_weights``, ``latest``, ``Checkpointer``, ``CheckpointError``.
"""

from workbench.checkpoint.store import (
    Checkpointer,
    CheckpointError,
    LoadedKeys,
    check_keys,
    fingerprint,
    latest,
    load,
    load_weights,
    require,
    save,
)

__all__ = [
    "CheckpointError", "Checkpointer", "LoadedKeys", "check_keys", "fingerprint", "latest",
    "load", "load_weights", "require", "save",
]  # fmt: skip
