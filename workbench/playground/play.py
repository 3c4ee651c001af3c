"""The playground: a real PyTorch run on a 2-D problem, steered while it trains.

`Playground` wraps a `workbench.playground.run.Run` (points, network, optimizer, `History`). It
trains one epoch at a time, either when asked (`step`, for lessons and tests) or on a worker
thread (`play`, for the widget) that leaves the kernel free. A change of a setting made
while it plays is queued and applied between two epochs, then recorded as an event, so a run
is reproducible from `config`: the first settings, the seed and the events. A stop rule, with
`NonFinite` always on, pauses the run with its reason; stepping on continues it. At most one
playground plays at a time, and re-running the cell that made one closes it.

Why a thread and not a task on the kernel's event loop: a task runs only between the
kernel's messages, so a long cell run meanwhile would freeze the run; the thread trains on
while other cells run (torch releases the GIL in its kernels), and widget messages sent from
it are safe in ipykernel.

Three locks, taken in this order and never the other way: `_lock` (held while an epoch
trains or the model is read), `_queue` (held while a change is queued or applied, never
for an epoch) and the run's `lock` (held while a row or an event is written). So `set`
while playing waits for no epoch, and `history` and `config` are read whole between two
epochs from any thread.
"""

from __future__ import annotations

import threading
import weakref

from workbench.playground.run import Run
from workbench.playground.settings import (
    SEED_MAX,
    check,
    check_all,
    check_device,
    check_together,
    whole,
)
from workbench.views.cells import made_here

_PLAYING = weakref.WeakSet()  # at most one playground trains at a time (two cores, a class)


class Playground:
    """A steerable training run on a 2-D problem; see `playground` for the settings.

    Attributes
    ----------
    history : History
        The per-epoch metrics (``epoch, train_loss, val_loss, train_acc, val_acc, lr``),
        ``history.stop`` (the stop that paused the run, None while it runs on) and
        ``history.events`` (``"epoch 31: lr 0.03 -> 0.3"``).
    settings : dict
        The settings in use now.
    model : nn.Module
        The network being trained.
    split : problems.Split
        The train and validation points (x1, x2 only, without the extra features).
    error : Exception or None
        What stopped the worker thread, if it failed.
    """

    def __init__(self, *, seed=0, events=(), epochs=0, device="cpu", max_epochs=5000, **settings):
        seed = whole("seed", seed, 0, SEED_MAX, example="seed=0")
        self.device = check_device(device)
        self.max_epochs = max_epochs
        checked = check_all(settings)  # events and epochs are checked before the replay trains
        self._lock = threading.RLock()  # held while an epoch trains or the model is read
        self._queue = threading.Lock()  # held while `_pending` changes: never for an epoch
        self._halt = threading.Event()
        self._thread, self._pending, self._listeners = None, [], []
        self.error, self.closed, self._view = None, False, None
        self.run = Run(checked, seed, self.device)
        self.run.replay(events, epochs)
        made_here(self)  # a re-run cell closes the playgrounds it made before

    # --- the public, synchronous API -----------------------------------------------------
    @property
    def epoch(self) -> int:
        """Epochs trained so far."""
        return self.run.epoch

    history = property(
        lambda self: self.run.snapshot(),
        doc="The run's History as it stands now: a copy, consistent even while it plays.",
    )
    settings = property(lambda self: self.run.settings, doc="The settings in use now.")
    model = property(lambda self: self.run.model, doc="The network being trained.")
    split = property(lambda self: self.run.split, doc="The points (x1, x2 only).")
    seed = property(lambda self: self.run.seed, doc="The seed of this run.")

    @property
    def max_epochs(self) -> int:
        """Playing pauses at this epoch."""
        return self._max_epochs

    @max_epochs.setter
    def max_epochs(self, value) -> None:
        self._max_epochs = whole("max_epochs", value, 1, example="max_epochs=5000")

    @property
    def playing(self) -> bool:
        """True while the worker thread trains."""
        return self._thread is not None and self._thread.is_alive() and not self._halt.is_set()

    @property
    def next_settings(self) -> dict:
        """The settings from the next epoch on: those in use plus the changes waiting."""
        with self._queue:
            return {**self.settings, **dict(self._pending)}

    @property
    def config(self) -> dict:
        """Everything that makes this run: ``playground(**pg.config)`` replays it exactly."""
        run = self.run
        with run.lock:  # the events and the epochs they lead to, read together
            return {**run.first, "seed": run.seed, "device": str(self.device),
                    "events": run.events(), "epochs": run.epoch}  # fmt: skip

    def set(self, **changes) -> Playground:
        """Change settings, e.g. ``pg.set(lr=0.3, batch_norm=True)``.

        Every value is checked first (a bad one changes nothing). The change applies before
        the next epoch (at once when paused) and is recorded in ``history.events``.
        """
        checked = {k: check(k, v) for k, v in changes.items()}
        with self._queue:  # while playing only queued: the worker applies it before an epoch
            check_together({**self.settings, **dict(self._pending), **checked})
            self._pending += list(checked.items())
        if not self.playing:
            with self._lock:
                self._drain()
        self._notify("change")
        return self

    def step(self, epochs: int = 1) -> Playground:
        """Train up to `epochs` epochs now; stop early where the stop rule fires.

        After a stop, stepping continues the run (recorded as an event) and the rule
        watches the epochs from there on.
        """
        epochs = whole("epochs", epochs, 1, example="pg.step(10)")
        if self.playing:
            raise RuntimeError("the playground is playing: pause it first (pg.pause())")
        with self._lock:
            for _ in range(epochs):
                if self._one() is not None:
                    break
        self._notify("step")
        return self

    def play(self) -> Playground:
        """Train on a worker thread until paused, stopped by the rule, or `max_epochs`."""
        if self.closed:
            raise RuntimeError("this playground was closed; make a new one")
        if self.playing:
            return self
        self._join()
        for other in list(_PLAYING):
            other.pause()
        self._halt.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run, name="workbench-playground", daemon=True)
        _PLAYING.add(self)
        self._thread.start()
        self._notify("play")
        return self

    def pause(self) -> Playground:
        """Stop the worker after its current epoch and wait for it."""
        self._halt.set()
        self._join()
        return self

    def reset(self, seed: int | None = None) -> Playground:
        """Pause, then start over with the settings in use now (and a new seed if given)."""
        if seed is not None:
            seed = whole("seed", seed, 0, SEED_MAX, example="pg.reset(seed=1)")
        self.pause()
        with self._lock:
            self._drain()
            seed = self.run.seed if seed is None else seed
            self.run = Run(self.run.settings, seed, self.device)
        self._notify("reset")
        return self

    def close(self) -> None:
        """Pause for good, drop the listeners and close the view's widgets; its output keeps
        a picture of the last state. A closed playground cannot play again."""
        self.closed = True
        self.pause()
        self._listeners.clear()
        view, self._view = self._view, None
        if view is not None:
            view.close()

    def listen(self, callback) -> None:
        """Call ``callback(pg, what)`` after epochs and changes (what: "epoch", "pause", ...).

        While playing it is called on the worker thread: keep it short and thread-safe.
        """
        if not callable(callback):
            raise TypeError(
                f"callback={callback!r} must be a function callback(pg, what), "
                "e.g. pg.listen(lambda pg, what: print(what, pg.epoch))"
            )
        self._listeners.append(callback)

    def boundary(self, resolution: int = 40):
        """P(class 1) on a grid over the view, as a (resolution, resolution) numpy array,
        top row first; the grid spans `problems.LIMIT` on both axes."""
        resolution = whole("resolution", resolution, 1, 1000, example="pg.boundary(40)")
        with self._lock:
            return self.run.boundary(resolution)

    def _repr_mimebundle_(self, include=None, exclude=None):
        from workbench.playground.view import bundle

        return bundle(self)

    def _ipython_display_(self):
        """In a notebook: the live view with its controls, and a picture for saved files."""
        from workbench.playground.view import PlaygroundView, in_kernel

        if self.closed or not in_kernel():  # a closed one has no controls: its picture
            from IPython.display import display

            display(self._repr_mimebundle_(), raw=True)
            return
        if self._view is None:
            self._view = PlaygroundView(self)
        self._view.show()

    @property
    def view(self):
        """The live view once the playground has been displayed, else None."""
        return self._view

    def __repr__(self) -> str:
        s = self.settings
        net = f"hidden=[{s['hidden']}] {s['activation']}" + (" + BN" if s["batch_norm"] else "")
        state = "playing" if self.playing else "stopped" if self.history.stop else "paused"
        last = f", val_loss {self.history['val_loss'][-1]:.4g}" if self.epoch else ""
        return f"Playground({s['problem']}, {net}, epoch {self.epoch}{last}, {state})"

    def _drain(self) -> bool:
        """Apply the queued changes (under `_lock`); True if there were any."""
        with self._queue:  # settings and queue change together, as `set` checks them
            pending, self._pending = self._pending, []
            for key, value in pending:
                self.run.apply(key, value)
        return bool(pending)

    def _one(self):
        self._drain()
        return self.run.one()

    # --- the worker thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._halt.is_set() and self.epoch < self.max_epochs:
                with self._lock:
                    applied = self._drain()
                if applied:  # show a change as soon as it took effect, not an epoch later
                    self._notify("applied")
                with self._lock:
                    fired = self._one()
                self._notify("epoch")
                if fired is not None:
                    break
        except Exception as error:  # shown by the view; the kernel must not lose it silently
            self.error = error
        finally:
            _PLAYING.discard(self)
            self._halt.set()
            self._notify("pause")

    def _join(self) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _notify(self, what: str) -> None:
        for callback in list(self._listeners):
            callback(self, what)


def playground(**settings) -> Playground:
    """A real PyTorch run on a 2-D problem that you steer while it trains.

    Shown as a cell's last expression, it draws the decision boundary with the points, the
    loss curves and the controls (Play, Pause, Step, Reset, sliders). In code, use
    ``pg.step(n)``, ``pg.set(lr=...)``, ``pg.reset()`` and read ``pg.history``.

    Every value is checked before anything trains: a bad one raises a ValueError that
    names it, says what is allowed and gives an example. NumPy numbers count as numbers.

    Parameters
    ----------
    problem : str
        "circles", "xor" (default), "gaussians", "spiral" or "moons".
    n, noise, train_fraction : int, float, float
        Number of points (500), the jitter's standard deviation (0 to 1; 0), and the share
        of the points used for training (0.1 to 0.9; 0.5, the rest is validation).
    hidden : str or sequence of int
        Hidden layer widths, "8, 8" by default; "" is a linear model.
    activation : str
        "relu", "tanh" (default) or "sigmoid".
    batch_norm : bool
        A BatchNorm1d after each hidden layer.
    features : str or sequence of str
        Extra inputs besides x1, x2: any of "x^2", "xy", "sin".
    opt, lr, batch_size, weight_decay
        "adam" (default), "sgd" or "momentum" (SGD with momentum 0.9); 0.03; 16; 0.
    stop : rule, optional
        A rule from `workbench.stopping`; `NonFinite` on the losses is always on.
    seed : int
        Seeds the points, the initial weights and the shuffling.
    events, epochs
        A run to replay, as in ``pg.config``.
    device : str or torch.device
        "cpu" (default): these networks are too small to gain from a GPU. "cuda" (where
        this machine has one) and "auto" are taken too.
    max_epochs : int
        Playing pauses here (5000), so a forgotten playground does not train forever.

    Returns
    -------
    Playground
    """
    return Playground(**settings)


__all__ = ["Playground", "playground"]
