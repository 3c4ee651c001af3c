"""The stop button: an interrupt during `fit` lands between optimizer steps, never inside one.

Pressing stop in Jupyter (or Ctrl-C) sends SIGINT, which Python turns into a
KeyboardInterrupt wherever the code happens to be: between the updates of two parameters
inside Adam, or halfway through writing a checkpoint. While `fit` runs, `StopButton`
replaces that with a flag that the loop reads after each optimizer step; `fit` then keeps
the run so far, restores the best weights if asked, and raises `Interrupted`, a
KeyboardInterrupt (so that Run All still halts) that carries the history and that IPython
shows as one line instead of a traceback into torch.
"""

from __future__ import annotations

import signal
import threading

_last: list = [None]  # the latest fit's History, reachable after an interrupt


def last_history():
    """The History of the latest `fit` run in this process (interrupted or not), or None.

    After the stop button, ``history = wb.last_history()`` gets the epochs that finished.
    """
    return _last[0]


def remember(history) -> None:
    """Make `history` what `last_history()` returns (fit calls this as a run starts)."""
    _last[0] = history


class Interrupted(KeyboardInterrupt):
    """`fit` was interrupted; `.history` holds the finished epochs, `history.stop` says where.

    A KeyboardInterrupt, so that "Run All" stops at the interrupted cell.
    """

    def __init__(self, history):
        self.history = history
        stop = history.stop
        where = stop.reason if stop is not None else "interrupted"
        super().__init__(
            f"Training {where}; the run so far is in history = wb.last_history() "
            f"({len(history.get('epoch', []))} finished epochs)."
        )

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of the traceback (into torch, usually), which
        # says nothing a student can act on: the message is the whole story.
        return [f"{type(self).__name__}: {self}"]


class StopButton:
    """While entered (in the main thread), SIGINT sets `pressed` instead of raising.

    The previous handler is put back on exit. In other threads, where Python delivers no
    signals, and where SIGINT is ignored, it does nothing and `pressed` stays False.

    >>> old = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    >>> with StopButton() as button:
    ...     signal.raise_signal(signal.SIGINT)
    >>> button.pressed
    True
    >>> _ = signal.signal(signal.SIGINT, old)
    """

    def __init__(self):
        self.pressed = False
        self._previous = None
        self._installed = False

    def _press(self, signum, frame) -> None:
        self.pressed = True

    def __enter__(self) -> StopButton:
        # SIGINT ignored (a job started in the background, `nohup`): the process was told not
        # to stop on Ctrl-C, so the button stays off rather than turning it into a stop.
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        ):
            self._previous = signal.signal(signal.SIGINT, self._press)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            # None: the old handler was not installed from Python; the default is closest.
            signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
            self._installed = False


__all__ = ["Interrupted", "StopButton", "last_history"]
