"""One playground run, synchronous: points, network, optimizer, history and the event log.

`Run` trains one epoch at a time and applies setting changes between epochs, recording each
as an event. It knows nothing of threads or widgets (`workbench.playground` adds those), so
a run and its replay from the first settings, the seed and the events are the same code.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from workbench import playsettings as ps
from workbench import problems
from workbench.history import History
from workbench.models import MLP
from workbench.playevents import check_events
from workbench.stopping import NonFinite, Stop, best_epoch

ACTIVATION_LAYERS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class Run:
    """The training state of a playground; `settings` must already be checked.

    Attributes: `settings` (in use now), `first` (at the start), `seed`, `history`,
    `model`, `opt`, `split` (the points, without extra features), `log` (the events as
    dicts ``{"epoch", "key", "old", "new"}``).
    """

    def __init__(self, settings: dict, seed: int, device: torch.device):
        self.settings, self.seed, self.device = dict(settings), seed, device
        self.first = dict(settings)
        self.gen = torch.Generator().manual_seed(seed)
        self.history = History({name: [] for name in ps.COLUMNS}, monitor="val_loss", mode="min")
        self.log, self.segment, self.model = [], 0, None
        self._make_data()
        self._make_model()

    @property
    def epoch(self) -> int:
        return len(self.history["epoch"])

    def events(self) -> list[dict]:
        """The events as replay needs them: ``[{"epoch": 31, "lr": 0.3}, ...]``."""
        return [{"epoch": e["epoch"], e["key"]: e["new"]} for e in self.log]

    # --- building ------------------------------------------------------------------------
    def _make_data(self) -> None:
        s = self.settings
        self.split = problems.make(
            s["problem"], n=s["n"], noise=s["noise"], train_fraction=s["train_fraction"],
            seed=self.seed,
        )  # fmt: skip
        feats, sp = s["features"], self.split
        self.train = (problems.add_features(sp.X_train, feats), sp.y_train)
        self.val = (problems.add_features(sp.X_val, feats), sp.y_val)
        self.train = tuple(t.to(self.device) for t in self.train)
        self.val = tuple(t.to(self.device) for t in self.val)

    def _make_model(self) -> None:
        """Build the network; layers whose shapes did not change keep their weights."""
        s = self.settings
        sizes = (problems.n_inputs(s["features"]), *ps.widths(s["hidden"]), 2)
        act = ACTIVATION_LAYERS[s["activation"]]
        model = MLP(sizes, batch_norm=s["batch_norm"], activation=act, seed=self.seed)
        if self.model is not None:  # e.g. batch norm switched on: the Linear layers stay
            for kind in (nn.Linear, nn.BatchNorm1d):
                old = [m for m in self.model if type(m) is kind]
                new = [m for m in model if type(m) is kind]
                for a, b in zip(old, new, strict=False):
                    if _shapes(a) == _shapes(b):
                        b.load_state_dict(a.state_dict())
        self.model = model.to(self.device)
        self._make_optimizer()

    def _make_optimizer(self) -> None:
        s, params = self.settings, self.model.parameters()
        if s["opt"] == "adam":  # the fused kernel is about a third faster on these tiny nets
            kw = {"fused": True} if self.device.type in ("cpu", "cuda") else {}
            self.opt = torch.optim.Adam(params, lr=s["lr"], weight_decay=s["weight_decay"], **kw)
        else:
            momentum = 0.9 if s["opt"] == "momentum" else 0.0
            self.opt = torch.optim.SGD(
                params, lr=s["lr"], momentum=momentum, weight_decay=s["weight_decay"]
            )

    # --- changes -------------------------------------------------------------------------
    def apply(self, key: str, value) -> None:
        """Use a checked setting from the next epoch on, and record it ("continue" goes on
        after a stop)."""
        if key == "continue":
            stop = self.history.stop
            self._record(key, f"{stop.rule} at epoch {stop.epoch}", True)
            self.history.stop, self.segment = None, self.epoch
            return
        old = self.settings[key]
        if old == value:
            return
        self.settings[key] = value
        self._record(key, old, value)
        if key in ps.DATA:
            self._make_data()
        if key in ps.NETWORK:
            self._make_model()
        elif key == "opt":
            self._make_optimizer()
        elif key in ("lr", "weight_decay"):
            for group in self.opt.param_groups:
                group[key] = value

    def _record(self, key: str, old, new) -> None:
        last = self.log[-1] if self.log else None
        if last and key in ps.MERGEABLE and (last["epoch"], last["key"]) == (self.epoch, key):
            last["new"] = new  # one event per slider drag, from the first value to the last
            if last["new"] == last["old"]:
                self.log.pop()
        else:
            self.log.append({"epoch": self.epoch, "key": key, "old": old, "new": new})
        self.history.events = [
            ps.describe(e["epoch"], e["key"], e["old"], e["new"]) for e in self.log
        ]

    # --- training ------------------------------------------------------------------------
    def one(self) -> Stop | None:
        """Continue after a stop (an event), train one epoch, and check the stop rule."""
        if self.history.stop is not None:
            self.apply("continue", True)
        with one_thread():
            self._train_epoch()
        return self._check_stop()

    def _train_epoch(self) -> None:
        (X, y), (X_val, y_val) = self.train, self.val
        s, model, opt = self.settings, self.model, self.opt
        n = len(X)
        size = min(s["batch_size"], n)
        perm = torch.randperm(n, generator=self.gen).to(self.device)
        model.train()
        # per batch only the step itself; losses and outputs are reduced once per epoch
        losses, outputs, used = [], [], []
        for i in range(0, n, size):
            idx = perm[i : i + size]
            if len(idx) < 2 and s["batch_norm"]:
                continue  # batch norm cannot normalize a single point: drop that remainder
            out = model(X[idx])
            loss = F.cross_entropy(out, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            outputs.append(out.detach())
            used.append(idx)
        model.eval()
        with torch.no_grad():
            out = model(X_val)
            val_loss = F.cross_entropy(out, y_val)
            val_acc = (out.argmax(1) == y_val).float().mean()
        seen = torch.cat(used)  # every point but a dropped remainder of one
        sizes = torch.tensor([len(idx) for idx in used], dtype=torch.float32, device=self.device)
        train = (torch.stack(losses) * sizes).sum() / len(seen)
        right = (torch.cat(outputs).argmax(1) == y[seen]).sum() / len(seen)
        values = torch.stack([train, val_loss, right.float(), val_acc]).tolist()  # one sync
        self.history.append(
            epoch=self.epoch + 1, train_loss=values[0], val_loss=values[1],
            train_acc=values[2], val_acc=values[3], lr=s["lr"],
        )  # fmt: skip

    def rule(self):
        """The rule checked after each epoch: NonFinite on both losses, or the chosen rule."""
        guard = NonFinite("train_loss") | NonFinite("val_loss")
        return guard if self.settings["stop"] is None else guard | self.settings["stop"]

    def watched(self) -> dict:
        """The history the rule sees: the epochs since the last continue after a stop."""
        return {k: v[self.segment :] for k, v in self.history.items()}

    def trace(self) -> dict | None:
        """The stop rule's trace over the watched epochs (e.g. ``{"wait": [...]}``), or None."""
        stop = self.settings["stop"]
        if stop is None or not self.epoch:
            return None
        return stop.trace(self.watched())

    def _check_stop(self) -> Stop | None:
        fired = self.rule()(self.watched())
        if fired is not None:
            fired = Stop(fired.epoch + self.segment, fired.reason, fired.rule)
        self.history.stop = fired
        self.history.best_epoch = best_epoch(self.history, "val_loss", "min")
        return fired

    @torch.no_grad()
    def boundary(self, resolution: int):
        """P(class 1) on the view's grid, (resolution, resolution), top row first."""
        self.model.eval()
        X = problems.add_features(problems.grid(resolution), self.settings["features"])
        p = self.model(X.to(self.device)).softmax(1)[:, 1]
        return p.reshape(resolution, resolution).cpu().numpy()

    # --- replay --------------------------------------------------------------------------
    def replay(self, events: list, epochs: int) -> None:
        """Run `epochs` epochs, applying each event after the epoch it names; every event is
        checked before the first epoch trains."""
        epochs = ps.whole("epochs", epochs, 0, example="epochs=40 (with the events of pg.config)")
        todo = check_events(events, epochs, self.settings)
        for epoch in range(epochs + 1):
            while todo and todo[0][0] == epoch:
                _, key, value = todo.pop(0)
                if key == "continue" and self.history.stop is None:
                    raise ValueError(
                        f"events: {{'epoch': {epoch}, 'continue': True}} continues a run that "
                        f"had not stopped at epoch {epoch}, so these events come from another "
                        "run: replay with its seed and first settings, e.g. "
                        "wb.playground(**pg.config)"
                    )
                self.apply(key, value)
            if epoch == epochs:
                break
            if self.history.stop is not None:
                raise ValueError(
                    f"the run stops at epoch {epoch} ({self.history.stop.reason}), but "
                    f"epochs={epochs} and no event continues it: replay with epochs={epoch}, "
                    f"or add to the events e.g. {{'epoch': {epoch}, 'continue': True}}"
                )
            with one_thread():
                self._train_epoch()
            self._check_stop()


@contextmanager
def one_thread():
    """Run torch on one thread inside, as before outside.

    These networks are far too small to split across threads: with two, every batch-norm
    step waits for the second thread, and on a busy 2-core machine an epoch took 20 times
    as long (measured: 20 epochs 0.2 s on one thread, 4.3 s on two).
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def _shapes(module) -> list:
    return [tuple(t.shape) for t in module.state_dict().values()]


__all__ = ["Run"]
