"""One writer per checkpoint folder: an OS file lock held for a run's lifetime.

Two runs saving into one folder would prune each other's files. `FolderLock` takes an
exclusive ``fcntl.flock`` on ``.workbench.lock`` in the folder and writes the holder's pid
and host into it, so a second writer is refused at once with a message that names the
holder. The operating system drops the lock when the holder's process ends, however it
ends (a SIGKILL included), so a crashed run never leaves the folder locked; the file itself
stays, and its contents are read only when the lock is actually held by someone.

`fit` is wrapped in `releases_locks`: locks taken during the call are released when it
returns or raises, so a notebook cell that failed does not keep its folder locked.
"""

from __future__ import annotations

import contextvars
import functools
import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; the folder goes unlocked (documented)
    fcntl = None

NAME = ".workbench.lock"
_HELD: contextvars.ContextVar[list | None] = contextvars.ContextVar("held", default=None)


class FolderLocked(Exception):
    """Another process (or another run in this one) is writing to the folder."""


class FolderLock:
    """An exclusive lock on `folder` until `release` (or until the process ends).

    Parameters
    ----------
    folder : str or Path
        An existing folder; the lock file ``.workbench.lock`` is created in it.

    Raises
    ------
    FolderLocked
        Another holder has it; the message names its pid and host and says what to do.
    PermissionError
        The folder cannot be written (the lock file cannot be created).
    """

    def __init__(self, folder):
        self.path, self._fd = Path(folder) / NAME, None
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies
        if fcntl is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(50):  # a holder that has just locked writes its name at once
                holder = os.pread(self._fd, 200, 0).decode(errors="replace").strip()
                if holder:
                    break
                time.sleep(0.01)
            os.close(self._fd)
            self._fd, holder = None, holder or "a process that is starting"
            raise FolderLocked(
                f"{self.path.parent} is in use by another run ({holder}), "
                "which holds its lock: wait for that run to finish or stop it, or save this "
                "run into another folder (checkpoint=...)"
            ) from None
        os.ftruncate(self._fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(
            self._fd,
            f"pid {os.getpid()} on host {socket.gethostname()}, since {started}\n".encode(),
            0,
        )
        held = _HELD.get()
        if held is not None:
            held.append(self)

    def release(self) -> None:
        """Give the folder back (closing the file drops the OS lock). Safe to call twice."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self.release()


def releases_locks(fn):
    """Decorate `fn` so that folder locks taken during a call are released when it ends.

    The call returns or raises as before; only the locks go.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        token = _HELD.set([])
        try:
            return fn(*args, **kwargs)
        finally:
            for lock in _HELD.get():
                lock.release()
            _HELD.reset(token)

    return wrapper


__all__ = ["NAME", "FolderLock", "FolderLocked", "releases_locks"]
