"""One writer per checkpoint folder: an OS file lock held for a run's lifetime.

Two runs saving into one folder would prune each other's files. `FolderLock` takes an
exclusive ``fcntl.flock`` on ``.workbench.checkpoint.lock`` in the folder and writes the holder's pid
and host into it, so a second writer is refused at once with a message that names the
holder. The operating system drops the lock when the holder's process ends, however it
ends (a SIGKILL included), so a crashed run never leaves the folder locked. A run that ends
normally removes the file; one that crashed leaves it, unlocked, and its contents are read
only when someone actually holds the lock.

`fit` is wrapped in `releases_locks`: locks taken during the call are released when it
returns or raises, so a notebook cell that failed does not keep its folder locked.
"""

from __future__ import annotations

import contextlib
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

NAME = ".workbench.checkpoint.lock"
_HELD: contextvars.ContextVar[list | None] = contextvars.ContextVar("held", default=None)


class FolderLocked(Exception):
    """Another process (or another run in this one) is writing to the folder."""


class FolderLock:
    """An exclusive lock on `folder` until `release` (or until the process ends).

    Parameters
    ----------
    folder : str or Path
        An existing folder; the lock file ``.workbench.checkpoint.lock`` is created in it, and removed
        again by `release` (a crashed holder leaves it behind, unlocked and harmless).

    Raises
    ------
    FolderLocked
        Another holder has it; the message names its pid and host and says what to do.
    PermissionError
        The folder cannot be written (the lock file cannot be created).
    """

    def __init__(self, folder):
        self.path, self._fd = Path(folder) / NAME, None
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies
            try:
                self._fd = self._take(fd)
            except BaseException:
                os.close(fd)
                raise
        os.ftruncate(self._fd, 0)
        since = time.strftime("%Y-%m-%d %H:%M:%S")
        me = f"pid {os.getpid()} on host {socket.gethostname()}, since {since}\n"
        os.pwrite(self._fd, me.encode(), 0)
        held = _HELD.get()
        if held is not None:
            held.append(self)

    def _take(self, fd: int) -> int | None:
        """Lock `fd`: returns it, or None when the file was replaced meanwhile (try again)."""
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(50):  # a holder that has just locked writes its name at once
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                if holder:
                    break
                time.sleep(0.01)
            raise FolderLocked(
                f"{self.path.parent} is in use by another run "
                f"({holder or 'a process that is starting'}), which holds its lock: wait "
                "for that run to finish or stop it, or save this run into another folder "
                "(checkpoint=...)"
            ) from None
        # A holder removes the file as it releases: if ours was removed before we locked
        # it, a newcomer may lock a new file at the same path, so lock that one instead.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
        return fd if same else None

    def release(self) -> None:
        """Give the folder back: remove the lock file, then unlock. Safe to call twice."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # while still locked, so no one else's file goes
            os.close(self._fd)  # closing drops the OS lock
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
