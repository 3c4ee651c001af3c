"""The training loop: one function, as fast as a hand-written loop, that records a History.

Speed comes from doing what a careful hand-written loop does: the data lives on the
device, each epoch draws one `randperm` and slices it, losses are summed on the device,
and the host waits for the device once per epoch (when the epoch's numbers are read).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

import torch
import torch.nn.functional as F
from torch import nn

from workbench.checkpoint.lock import releases_locks
from workbench.data.datasets import Data, from_tensors
from workbench.data.models import dropout_from
from workbench.history import History
from workbench.stopping import NonFinite, Stop, best_epoch, resolve_mode
from workbench.train.checks import before_training
from workbench.train.interrupt import Interrupted, StopButton, remember
from workbench.train.threads import pick_threads, using_threads

EVAL_CHUNK = 8192  # rows per forward pass when evaluating; keeps memory flat on big sets
KEEP_OUTPUTS = 2**24  # most training outputs (rows x classes) kept for one accuracy count


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """The device to train on: CUDA, then Apple's MPS, then the CPU, unless one is named.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def make_loss(loss_fn, task: str) -> Callable:
    """Turn a loss name or callable into ``loss(output, y) -> mean loss``.

    "cross_entropy" takes logits; "mse" on a classification task compares the softmax
    probabilities with one-hot targets (the MSE-vs-cross-entropy lesson uses it).
    """
    if callable(loss_fn):
        return loss_fn
    if loss_fn is None:
        loss_fn = "cross_entropy" if task == "classification" else "mse"
    if loss_fn == "cross_entropy":
        return F.cross_entropy
    if loss_fn == "mse" and task == "classification":
        return lambda out, y: F.mse_loss(out.softmax(1), F.one_hot(y, out.shape[1]).to(out.dtype))
    if loss_fn == "mse":
        return F.mse_loss
    raise ValueError(f"loss_fn={loss_fn!r} is unknown; use 'cross_entropy', 'mse' or a callable")


def make_optimizer(opt, params, lr: float, weight_decay: float, momentum: float, device):
    """Build the optimizer from a name ("adam", "adamw", "sgd") or a callable(params, lr)."""
    if isinstance(opt, torch.optim.Optimizer):
        return opt
    if callable(opt):
        return opt(params, lr=lr)
    params = list(params)
    # fused kernels are the fastest Adam on CPU and GPU alike where this torch has them
    fused = {"fused": True} if device.type in ("cuda", "cpu") else {}
    if opt == "adam":
        return _try_fused(torch.optim.Adam, params, fused, lr=lr, weight_decay=weight_decay)
    if opt == "adamw":
        return _try_fused(torch.optim.AdamW, params, fused, lr=lr, weight_decay=weight_decay)
    if opt == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"opt={opt!r} is unknown; use 'adam', 'adamw', 'sgd' or a callable")


def _try_fused(cls, params, fused, **kw):
    try:
        return cls(params, **kw, **fused)
    except (RuntimeError, TypeError):
        return cls(params, **kw)


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss, classification: bool):
    """Mean loss (and accuracy for classification) of `model` on ``(X, y)``, as tensors.

    Returns device tensors rather than floats so that the caller decides when to sync.
    """
    model.eval()
    total = torch.zeros((), device=X.device)
    correct = torch.zeros((), device=X.device, dtype=torch.int64)
    for i in range(0, len(X), EVAL_CHUNK):
        out = model(X[i : i + EVAL_CHUNK])
        yb = y[i : i + EVAL_CHUNK]
        total += loss(out, yb) * len(yb)
        if classification:
            correct += (out.argmax(1) == yb).sum()
    return total / len(X), correct / len(X)


def _check(epochs, lr, batch_size, stop, monitor):
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a whole number of at least 1")
    if not lr > 0:
        raise ValueError(f"lr={lr!r} must be a positive learning rate, e.g. 1e-3")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a whole number of at least 1")
    if stop is not None and not callable(stop):
        raise TypeError(f"stop={stop!r} must be a stop rule from workbench.stopping, or None")
    if not isinstance(monitor, str):
        raise TypeError(
            f"monitor={monitor!r} must name the metric that defines the best epoch, "
            "e.g. 'val_loss' (the default) or 'val_acc'"
        )


_LIVE_VIEW = []  # the class that fit(live=True) shows; workbench.views registers LiveCurve


def register_live_view(cls) -> None:
    """Make `cls()` the view of ``fit(live=True)``. The views sit above training, so they
    hand fit their class instead of fit importing them."""
    _LIVE_VIEW[:] = [cls]


def live_view():
    """A new live view for ``fit(live=True)``; `import workbench` registers `LiveCurve`."""
    if not _LIVE_VIEW:
        raise RuntimeError("live=True needs workbench.views: `import workbench` registers it")
    return _LIVE_VIEW[0]()


@releases_locks  # the checkpoint folder's lock ends with the call, however it ends
def fit(
    model: nn.Module,
    data: Data | Sequence,
    *,
    epochs: int,
    stop=None,
    restore_best: bool = False,
    seed: int = 0,
    device: str | torch.device = "auto",
    opt="adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    loss_fn=None,
    batch_size: int = 64,
    scheduler: Callable | None = None,
    monitor: str = "val_loss",
    mode: str = "auto",
    callbacks: Sequence = (),
    live=False,
    label: str | None = None,
    checkpoint=None,
    resume=None,
    override: bool = False,
    threads: int | None = None,
) -> History:
    """Train `model` on `data` and return the per-epoch History.

    Parameters
    ----------
    model : nn.Module
        The model; it is moved to `device` and trained in place.
    data : Data or tuple
        A `workbench.data.datasets.Data`, or ``(train, val[, test])`` pairs of ``(X, y)`` tensors or
        NumPy arrays. Data and model are checked against each other before epoch 1
        (`workbench.train.checks`), with a clear error for what does not fit.
    epochs : int
        The most epochs to run.
    stop : rule, optional
        A rule from `workbench.stopping` (e.g. ``Patience(5)``), checked after every epoch.
        A non-finite training or validation loss always stops the run, whatever the rule.
    restore_best : bool
        At the end, load the weights of the best epoch by `monitor` (and `mode`).
    seed : int
        Seeds the run's own generators: one for the shuffling, one for the masks of
        `workbench.data.models.Dropout` layers. The same seed gives the same history on the CPU,
        whatever else the process draws meanwhile (a playground, another cell): fit never
        reads or writes torch's global generator. A model of your own that draws from the
        global generator (``nn.Dropout``, ``torch.rand`` in ``forward``) is not seeded by
        this: call ``torch.manual_seed`` before fit, or use ``workbench.data.models.Dropout``.
    device : str
        "auto" (CUDA, then MPS, then CPU) or a device name such as "cpu" or "cuda:0".
    opt : str or callable
        "adam" (default), "adamw", "sgd", or ``callable(params, lr=...) -> Optimizer``.
    lr, weight_decay, momentum : float
        Learning rate, L2 penalty, and SGD momentum.
    loss_fn : str or callable, optional
        "cross_entropy" (classification default), "mse" (regression default), or
        ``callable(output, y) -> loss``.
    batch_size : int
        Training minibatch size.
    scheduler : callable, optional
        ``callable(optimizer) -> torch LR scheduler``, stepped once per epoch;
        ReduceLROnPlateau is stepped with the monitored metric.
    monitor, mode : str
        The metric that defines the best epoch ("val_loss" by default), and whether lower
        ("min") or higher ("max") is better; "auto" (default): "max" for accuracies, else
        "min". Rules with a `mode` of their own decide it for themselves the same way.
    callbacks : sequence
        Objects with any of ``on_fit_prepare(info)`` (after the input checks, before the
        optimizer is built), ``on_fit_start(history, info)``, ``on_epoch_end(history)``,
        ``on_fit_end(history)``.
    live : bool or LiveCurve
        Draw the learning curves live in Jupyter (a LiveCurve may be shared between runs).
    label : str, optional
        A name for this run in live plots.
    checkpoint : str, Path or Checkpointer, optional
        Save the whole run (weights, optimizer, history, random states) to this folder, by
        default after every epoch keeping the latest file; a
        `workbench.checkpoint.store.Checkpointer` sets how often and which files to keep.
    resume : "last", str or Path, optional
        Continue a run from a checkpoint file (or a folder's newest one); "last" resumes
        from the `checkpoint` folder, or starts afresh if it holds nothing yet. The resumed
        run ends exactly as if it had never stopped; a run that had already stopped returns
        at once (with `restore_best` applied).
    override : bool
        Resume even though settings differ from the checkpoint's (seed, batch_size, lr,
        stop rule, ...); the values given now are used from the resumed epoch on.
    threads : int, optional
        CPU threads torch uses during this run (restored afterwards). By default, a count
        you chose is kept: ``torch.set_num_threads(n)`` after ``import workbench``, or the
        OMP_NUM_THREADS or MKL_NUM_THREADS variable. Else, while torch is at its own
        default, a step of under `workbench.train.threads.SMALL_STEP_FLOPS` operations (counted
        on two rows: a convolution at every position) trains on 1 thread, which stays fast
        when other programs use the CPU, and a larger one at torch's setting.

    Returns
    -------
    History
        Columns ``epoch, train_loss, val_loss, lr, seconds`` (+ ``train_acc, val_acc`` for
        classification, + ``test_loss[, test_acc]`` when the data has a test split), with
        ``history.stop``, ``history.best_epoch`` and ``history.rule`` (the `stop` given).

    Raises
    ------
    workbench.train.interrupt.Interrupted
        On the stop button (SIGINT), after the current optimizer step: the finished epochs
        are kept (``history.stop`` says where it was interrupted), `restore_best` is
        applied and the callbacks' ``on_fit_end`` runs. It is a KeyboardInterrupt carrying
        ``.history``; ``wb.last_history()`` returns the same history.
    """
    _check(epochs, lr, batch_size, stop, monitor)
    mode = resolve_mode(monitor, mode)  # val_acc with "min" would restore the worst epoch
    if not isinstance(data, Data):
        data = from_tensors(*data)
    dev = pick_device(device)
    n_threads = pick_threads(model, data, batch_size, dev, threads)
    # From here on the stop button only sets a flag (see workbench.train.interrupt), torch runs at
    # the chosen thread count, and (once the checks passed) the model's Dropout layers draw
    # from the run's generator; all three are put back when fit returns or raises.
    with StopButton() as button, using_threads(n_threads), ExitStack() as run_scope:
        classification = data.task == "classification"
        loss = make_loss(loss_fn, data.task)
        data, batches = before_training(  # once, so that nothing is wrong by epoch 1
            model, data, dev, loss=loss, loss_fn=loss_fn, batch_size=batch_size
        )

        callbacks = list(callbacks)
        if live:
            callbacks.append(live_view() if live is True else live)
        # A live view goes on screen now, before the set-up below: a kernel's first optimizer
        # imports torch._dynamo (1-2 s), and an empty cell for that long looks stuck.
        _call(callbacks, "on_fit_prepare", {"epochs": epochs, "label": label})

        # The run's own generators, for shuffling and for dropout masks: fit never touches
        # torch's global one. `masks` gives the stream the global generator gave after
        # torch.manual_seed(seed), which is where dropout drew from before.
        where = dev if dev.type == "cuda" else "cpu"
        gen = torch.Generator(device=where).manual_seed(seed)
        masks = torch.Generator(device=where).manual_seed(seed)
        run_scope.enter_context(dropout_from(model, masks))

        X, y = (t.to(dev) for t in data.train)
        X_val, y_val = (t.to(dev) for t in data.val)
        test = None if data.test is None else tuple(t.to(dev) for t in data.test)
        model.to(dev)
        optimizer = make_optimizer(opt, model.parameters(), lr, weight_decay, momentum, dev)
        sched = scheduler(optimizer) if scheduler is not None else None
        plateau = isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)

        history = History(monitor=monitor, mode=mode)
        history.rule = stop  # the rule with its settings: wb.explore(history) opens with it
        names = ["epoch", "train_loss", "val_loss", "lr", "seconds"]
        names += ["train_acc", "val_acc"] if classification else []
        names += (["test_loss", "test_acc"] if classification else ["test_loss"]) if test else []
        for name in names:
            history[name] = []
        _check_monitors(stop, monitor, history)
        guard = NonFinite("train_loss") | NonFinite("val_loss")
        rule = guard if stop is None else guard | stop

        first, best_value, best_state, saver = 1, None, None, None
        if checkpoint is not None or resume is not None:
            from workbench.checkpoint.resume import TrainingState
            from workbench.checkpoint.store import Checkpointer

            saver = Checkpointer.of(checkpoint)
            run = TrainingState(model, optimizer, sched, gen, history, rule, settings={
                "seed": seed, "batch_size": batch_size, "opt": opt, "lr": lr,
                "weight_decay": weight_decay, "momentum": momentum, "scheduler": sched,
                "loss_fn": loss_fn or ("cross_entropy" if classification else "mse"),
                "stop": stop, "monitor": monitor, "mode": mode, "restore_best": restore_best,
                "data": [len(X), len(X_val)], "columns": names,
            }, dropout=masks)  # fmt: skip
            first, best_value, best_state = run.start(
                resume, saver, epochs=epochs, override=override
            )

        info = {
            "epochs": epochs,
            "task": data.task,
            "device": str(dev),
            "monitor": monitor,
            "mode": mode,
            "stop": stop,
            "label": label,
            "first_epoch": first,
            "threads": n_threads,
        }
        remember(history)
        # The rule's state is carried from epoch to epoch, so each check costs the same however
        # long the run; a resumed run first steps over the epochs it restored.
        rule_state = rule.start()
        for done in range(1, len(history["epoch"]) + 1):
            rule_state, _ = rule.step(rule_state, history, done)
        _call(callbacks, "on_fit_start", history, info)

        n = len(X)
        # Per-batch work is kept to the optimizer step: batch losses and outputs are collected
        # and reduced once per epoch (a few tensor ops per batch cost more than a small
        # epoch's arithmetic). Outputs are kept only while small; otherwise count per batch.
        sizes = torch.tensor(batches, device=dev)
        keep_outputs = classification and n * max(data.n_classes, 1) <= KEEP_OUTPUTS
        for epoch in range(first, epochs + 1):
            start = time.perf_counter()
            model.train()
            losses, outputs = [], []
            correct = torch.zeros((), device=dev, dtype=torch.int64)
            perm = torch.randperm(n, generator=gen, device=gen.device).to(dev)
            for idx in perm.split(batches):
                xb, yb = X[idx], y[idx]
                out = model(xb)
                batch_loss = loss(out, yb)
                optimizer.zero_grad(set_to_none=True)
                batch_loss.backward()
                optimizer.step()
                if button.pressed:  # the stop button: here, between two whole steps
                    break
                losses.append(batch_loss.detach())
                if keep_outputs:
                    outputs.append(out.detach())
                elif classification:
                    correct += (out.detach().argmax(1) == yb).sum()
            if button.pressed:  # a part-trained epoch is not recorded
                steps = f"after step {len(losses) + 1} of {len(sizes)}"
                history.stop = _interrupted(history, f"in epoch {epoch}, {steps}")
                break
            train_loss = (torch.stack(losses) * sizes).sum() / n
            if keep_outputs:
                correct = (torch.cat(outputs).argmax(1) == y[perm]).sum()
            val_loss, val_acc = evaluate(model, X_val, y_val, loss, classification)
            row = [train_loss, val_loss] + ([correct / n, val_acc] if classification else [])
            if test:
                test_loss, test_acc = evaluate(model, *test, loss, classification)
                row += [test_loss, test_acc] if classification else [test_loss]
            values = torch.stack([v.float() for v in row]).tolist()  # the one sync per epoch
            record = dict(zip(names[1:3] + names[5:], values, strict=True))
            record.update(epoch=epoch, lr=optimizer.param_groups[0]["lr"])
            if sched is not None:
                sched.step(record[monitor]) if plateau else sched.step()
            record["seconds"] = time.perf_counter() - start
            history.append(**record)

            value = record.get(monitor)
            if restore_best and value is not None and _better(value, best_value, mode):
                best_value = value
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            rule_state, fired = rule.step(rule_state, history, epoch)
            if fired is not None:
                history.stop = fired
            _call(callbacks, "on_epoch_end", history)
            if saver is not None and (
                epoch % saver.every == 0 or fired is not None or epoch == epochs or button.pressed
            ):
                saver.save(run.capture(epoch, best_value, best_state))
            if fired is None and button.pressed:  # pressed during evaluation or a save
                history.stop = _interrupted(history, f"after epoch {epoch}")
            if history.stop is not None:
                break

        history.best_epoch = best_epoch(history, monitor, mode)
        if restore_best and best_state is not None:
            model.load_state_dict(best_state)
        _call(callbacks, "on_fit_end", history)
    if button.pressed:
        raise Interrupted(history)
    return history


def _interrupted(history: History, when: str) -> Stop:
    epochs = history.get("epoch") or [0]
    return Stop(int(epochs[-1]), f"interrupted {when}", "Interrupted")


def _better(value: float, best: float | None, mode: str) -> bool:
    if math.isnan(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def _check_monitors(stop, monitor: str, history: History) -> None:
    # Fail before the first epoch, not after it, when a rule watches a metric fit never writes.
    empty = {name: [] for name in history}
    for rule in [stop, NonFinite(monitor)]:
        if rule is not None:
            rule(empty)


def _call(callbacks, method: str, *args) -> None:
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None:
            fn(*args)


__all__ = ["fit", "evaluate", "pick_device", "make_loss", "make_optimizer", "Stop"]
