"""Files that survive crashes, interrupts and flipped bits, and errors that say what went wrong.

`write` puts an object on disk atomically (temporary file, fsync, rename) with Ctrl-C held
until the file is complete; `checksum` fingerprints its contents so that a changed bit is
found on reading; `read` loads with ``torch.load(weights_only=True)``, which refuses
anything that could run code, and turns each way a file can fail to load into a sentence
that says which it was. `workbench.checkpoint.store` builds on these.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickletools
import secrets
import signal
import threading
import warnings
from pathlib import Path

import torch

# Opcodes with which a pickle imports or calls something: the ways a file can run code.
_CODE_OPS = {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"}


class CheckpointError(Exception):
    """A checkpoint cannot be written, read, or used for this model or run."""


def write(path: Path, obj) -> None:
    """Save `obj` with ``torch.save`` to `path` atomically: the old file or the new one.

    The bytes go to a temporary file in the same folder, are flushed to the disk, and the
    file is then renamed over `path`; a crash or a full disk at any moment leaves the old
    file whole. SIGINT is held meanwhile and raised once the new file is complete.

    Raises
    ------
    CheckpointError
        The folder cannot be written or the disk is full (the old file is untouched).
    """
    with interrupts_deferred():
        try:
            fd, tmp = _create_temp(path)
        except OSError as e:
            raise CheckpointError(f"cannot write a checkpoint in {path.parent}: {e}") from e
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(obj, f)
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


def _create_temp(path: Path) -> tuple[int, str]:
    # Not mkstemp: it makes files 0600, which a second user of a shared folder cannot read.
    # os.open with 0o666 lets the umask decide, as for any other file the user creates.
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        with contextlib.suppress(FileExistsError):
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), str(tmp)


@contextlib.contextmanager
def interrupts_deferred():
    """Hold SIGINT (Ctrl-C, the notebook's stop button) until the block ends, then raise it.

    Only the main thread receives signals, so elsewhere this does nothing; nor where SIGINT
    is ignored. The previous handler is put back first, and the held interrupt is delivered
    to it.
    """
    old = signal.getsignal(signal.SIGINT)
    main = threading.current_thread() is threading.main_thread()
    if not main or old is None or old is signal.SIG_IGN:
        yield  # None: a handler not set from Python, which could not be put back
        return
    held = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if held:
            signal.raise_signal(signal.SIGINT)


def checksum(obj) -> str:
    """A SHA-256 of every tensor and plain value in `obj`, in order, skipping "checksum" keys.

    >>> checksum({"w": torch.zeros(2)}) == checksum({"w": torch.zeros(2), "checksum": "x"})
    True
    >>> checksum({"w": torch.zeros(2)}) == checksum({"w": torch.tensor([0.0, 1e-45])})
    False
    """
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()


def _feed(digest, value) -> None:
    kind = type(value)
    if kind in _PLAIN or (
        kind in (list, tuple) and all(type(v) in _PLAIN for v in value)  # e.g. an RNG state
    ):
        digest.update(f"{kind.__name__} {value!r};".encode())  # in one piece: it is fast
    elif isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        digest.update(f"tensor {t.dtype} {tuple(t.shape)}:".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(b"{")
        for k, v in value.items():
            if k != "checksum":
                _feed(digest, k)
                _feed(digest, v)
        digest.update(b"}")
    elif isinstance(value, list | tuple):
        digest.update(b"[")
        for v in value:
            _feed(digest, v)
        digest.update(b"]")
    else:
        digest.update(f"{kind.__name__} {value!r};".encode())


_PLAIN = {int, float, str, bool, type(None)}


def read(path: Path):
    """``torch.load(path, weights_only=True)`` onto the CPU, with errors that say why.

    Raises
    ------
    CheckpointError
        Permission denied, or the file is not a valid checkpoint; the message says whether
        it is empty, not a PyTorch file, truncated or damaged, or refused as able to run code.
    """
    try:
        with warnings.catch_warnings():  # a refused file need not warn about its pickle protocol
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise CheckpointError(_denied(path)) from None
    except Exception as e:
        why = _diagnose(path, e)
        raise CheckpointError(f"{path} is not a valid workbench checkpoint: {why}") from None


def _diagnose(path: Path, error: Exception) -> str:
    """Why torch could not load `path`, in words."""
    with open(path, "rb") as f:
        head = f.read(4)
    if "Unsupported global" in str(error) or (head[:1] == b"\x80" and _calls_code(path)):
        return (
            "it holds Python objects other than tensors and plain values, which could run "
            "code when loaded, so safe loading refused it"
        )
    if not head:
        return "it is empty (a save that never finished, or a file created by hand)"
    if head != b"PK\x03\x04" and head[:1] != b"\x80":
        return (
            "it is not a PyTorch file at all (torch.save writes a zip archive or a pickle, "
            "and this is neither); check that the path names the file you meant"
        )
    return f"it is truncated or damaged ({type(error).__name__}: {str(error)[:200]})"


def _calls_code(path: Path) -> bool:
    # pickletools only parses the opcodes; nothing in the file is run.
    with contextlib.suppress(Exception), open(path, "rb") as f:
        return any(op.name in _CODE_OPS for op, _, _ in pickletools.genops(f))
    return False


def _denied(path: Path) -> str:
    who = "the owner of the file"
    with contextlib.suppress(Exception):
        import pwd

        st = path.stat()
        who = f"its owner, {pwd.getpwuid(st.st_uid).pw_name} (mode {st.st_mode & 0o777:o})"
    return (
        f"{path} cannot be read: permission denied for this user. Ask {who} to make it "
        f"readable (chmod a+r {path.name}), or copy it into a folder of your own"
    )


__all__ = ["CheckpointError", "checksum", "interrupts_deferred", "read", "write"]
