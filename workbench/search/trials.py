"""Hyperparameter search with early stopping: successive halving, and Optuna trials that
report every epoch so that a pruner (Optuna's own, or one driven by a workbench stop rule) can
end the poor ones early; a stop rule passed as `stop` ends a trial early from the inside.

Optuna is imported only when a trial or a pruner is made, so `import workbench` stays light.
The search space of the lesson is `suggest`; `fit_trial` trains one MLP on it, and `worker`
runs trials of a shared study from another process (``python -m workbench.search``).
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence

from workbench.data import datasets as wb_data
from workbench.data import models
from workbench.train.fit import fit


def successive_halving(
    score: Callable[[int, int], float],
    n_configs: int,
    *,
    min_epochs: int = 1,
    eta: int = 3,
    max_epochs: int | None = None,
) -> list[dict]:
    """Successive halving: train all configs briefly, keep the best 1/eta, train those longer.

    Parameters
    ----------
    score : callable
        ``score(config_index, epochs)`` -> validation score (higher is better) of that config
        after `epochs` epochs. Rungs continue the survivors' training (resume), so a rung to
        `r` epochs costs ``r - r_previous`` epochs per survivor.
    n_configs : int
        How many configs start (indices ``0 .. n_configs - 1``).
    min_epochs, eta : int
        Epochs of the first rung, and the factor by which rungs shrink and lengthen.
    max_epochs : int, optional
        Stop when a rung reaches this many epochs (default: when one config is left).

    Returns
    -------
    list of dict
        One per rung: ``epochs``, ``configs`` (indices trained), ``scores``, ``spent`` (epochs
        spent in this rung) and ``total`` (spent so far).

    >>> rungs = successive_halving(lambda i, r: i * r, 9, min_epochs=1, eta=3)
    >>> [(r["epochs"], r["configs"]) for r in rungs]
    [(1, [0, 1, 2, 3, 4, 5, 6, 7, 8]), (3, [6, 7, 8]), (9, [8])]
    >>> rungs[-1]["total"]  # 9*1 + 3*2 + 1*6 epochs
    21
    """
    if n_configs < 1 or min_epochs < 1 or eta < 2:
        raise ValueError("need n_configs >= 1, min_epochs >= 1 and eta >= 2")
    alive, epochs, done, total, rungs = list(range(n_configs)), min_epochs, 0, 0, []
    while True:
        scores = [score(i, epochs) for i in alive]
        spent = len(alive) * (epochs - done)
        total += spent
        rungs.append(
            {"epochs": epochs, "configs": alive, "scores": scores, "spent": spent, "total": total}
        )
        if len(alive) == 1 or (max_epochs is not None and epochs >= max_epochs):
            return rungs
        keep = max(1, len(alive) // eta)
        # stable sort: ties keep the earlier config; NaN (a diverged run) sorts last
        ranked = sorted(zip(alive, scores, strict=True), key=lambda p: _key(p[1]), reverse=True)
        alive = sorted(i for i, _ in ranked[:keep])
        done, epochs = epochs, epochs * eta
        if max_epochs is not None:
            epochs = min(epochs, max_epochs)


def _key(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def best_so_far(runs: Sequence[Sequence[float]]) -> tuple[list[int], list[float]]:
    """Best score seen against epochs spent, over runs done one after another.

    Parameters
    ----------
    runs : sequence of sequences of float
        Per run, its per-epoch validation scores (higher is better), in the order run.

    Returns
    -------
    (list of int, list of float)
        Cumulative epochs and the best score seen up to then, one point per epoch.

    >>> best_so_far([[0.5, 0.7], [0.6, 0.9]])
    ([1, 2, 3, 4], [0.5, 0.7, 0.7, 0.9])
    """
    xs, ys, best = [], [], -math.inf
    for run in runs:
        for value in run:
            best = max(best, _key(value))
            xs.append(len(xs) + 1)
            ys.append(best)
    return xs, ys


class TrialReporter:
    """A `fit` callback that reports `monitor` to an Optuna trial after every epoch and
    raises ``optuna.TrialPruned`` when the study's pruner says so.

    It also keeps the reported curve in the trial's user attribute "curve", so that a plot
    can count every epoch a pruned trial spent.
    """

    def __init__(self, trial, monitor: str = "val_acc"):
        self.trial, self.monitor = trial, monitor

    def on_epoch_end(self, history: Mapping) -> None:
        """Report the latest value; prune if the pruner says so."""
        import optuna

        values = list(history[self.monitor])
        self.trial.report(values[-1], len(values) - 1)  # Optuna counts steps from 0
        self.trial.set_user_attr("curve", values)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {len(values)}")


def rule_pruner(rule, also=None, *, monitor: str = "val_acc"):
    """An Optuna pruner that prunes a trial when a workbench stop `rule` fires on the values
    the trial reported, or when the Optuna pruner `also` prunes it.

    Beware: a trial the rule stops is marked PRUNED, so ``study.best_trial`` ignores it and
    TPE ranks it below every complete trial, however good its score. For early stopping
    inside a trial, pass the rule as `fit_trial`'s ``stop`` (the trial completes); lesson 8
    runs both.

    Parameters
    ----------
    rule : stop rule
        E.g. ``Patience(3, monitor="val_acc", mode="max")``; it reads ``{monitor: values}``.
    also : optuna pruner, optional
        E.g. ``optuna.pruners.SuccessiveHalvingPruner()``, which compares trials.
    monitor : str
        The name under which the reported values are given to the rule.

    Returns
    -------
    optuna.pruners.BasePruner
    """
    import optuna

    class RulePruner(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            steps = sorted(trial.intermediate_values)
            values = [trial.intermediate_values[s] for s in steps]
            if values and rule({monitor: values}) is not None:
                return True
            return also is not None and also.prune(study, trial)

    return RulePruner()


def suggest(trial) -> dict:
    """The lesson's search space, sampled from an Optuna trial: Adam's learning rate, the
    hidden width of a one-hidden-layer MLP, and the weight decay."""
    return {
        "lr": trial.suggest_float("lr", 1e-4, 1.0, log=True),
        "width": trial.suggest_int("width", 4, 128, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
    }


def fit_trial(trial, data, *, epochs: int, seed: int = 0, stop=None, device="cpu") -> float:
    """Train the MLP the trial suggests on `data`, reporting each epoch's validation accuracy.

    Parameters
    ----------
    trial : optuna.Trial
    data : workbench.data.datasets.Data
    epochs : int
        Most epochs to train.
    seed : int
        Seed of the weights and the shuffling (the same for every trial, so that trials
        differ by their hyperparameters only).
    stop : stop rule, optional
        Early stopping inside the trial (the trial completes with its best score).
    device : str

    Returns
    -------
    float
        The best validation accuracy of the run.
    """
    config = suggest(trial)
    model = models.MLP((data.n_features, config["width"], data.n_classes), seed=seed)
    lr, wd = config["lr"], config["weight_decay"]
    reporter = TrialReporter(trial)
    history = fit(model, data, epochs=epochs, lr=lr, weight_decay=wd, seed=seed, stop=stop,
                  device=device, batch_size=128, callbacks=[reporter])  # fmt: skip
    return max(_key(v) for v in history["val_acc"])


def worker(
    storage: str, study_name: str, n_trials: int | None, *, epochs: int = 5, seed: int = 0,
    heartbeat: int = 10, grace: int | None = None, max_retry: int = 2,
    timeout: float | None = None,
):  # fmt: skip
    """Run trials of a study kept in shared `storage` (SQLite, PostgreSQL, ...).

    Each running trial beats a heartbeat into the storage. When a worker dies without a
    word (SIGKILL, a lost machine), its trial's heartbeat stops; the next worker to start a
    trial marks it failed and queues a copy with the same parameters, which a surviving
    worker then runs, so no trial stays RUNNING forever.

    Parameters
    ----------
    storage : str
        A database URL, e.g. ``sqlite:///study.db``.
    study_name : str
        The name of an existing study in `storage`.
    n_trials : int or None
        Trials to run (None: until `timeout`).
    epochs, seed : int
        Passed to `fit_trial`.
    heartbeat : int
        Seconds between a running trial's heartbeats.
    grace : int, optional
        Seconds without a heartbeat after which a trial counts as dead (2 x `heartbeat`).
    max_retry : int
        How often a dead worker's trial is queued again.
    timeout : float, optional
        Stop starting trials after this many seconds.

    Each trial records the process id as the user attribute "pid". One CPU thread per
    worker, so that workers on one machine do not fight over cores.
    """
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = wb_data.load("digits", seed=seed, test_size=0)
    # Optuna 4.9 renamed the retry callback; take the new name where this Optuna has it.
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    with warnings.catch_warnings():  # the heartbeat is marked experimental; it is what we need
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if retry is None:
            retry = {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry)}
        else:
            retry = {"heartbeat_stale_trial_callback": retry(max_retry)}
        rdb = optuna.storages.RDBStorage(
            storage, heartbeat_interval=heartbeat, grace_period=grace, **retry
        )
    study = optuna.load_study(study_name=study_name, storage=rdb)

    def objective(trial):
        trial.set_user_attr("pid", os.getpid())
        return fit_trial(trial, data, epochs=epochs, seed=seed)

    study.optimize(objective, n_trials=n_trials, timeout=timeout)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m workbench.search --storage URL --study NAME --trials N``: one worker."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--storage", required=True, help="e.g. sqlite:///study.db")
    p.add_argument("--study", required=True, help="name of an existing study")
    p.add_argument("--trials", type=int, default=4, help="0: until --timeout")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heartbeat", type=int, default=10, help="seconds between heartbeats")
    p.add_argument("--grace", type=int, default=None, help="seconds until a trial is dead")
    p.add_argument("--timeout", type=float, default=None, help="seconds of trials at most")
    a = p.parse_args(argv)
    worker(a.storage, a.study, a.trials or None, epochs=a.epochs, seed=a.seed,
           heartbeat=a.heartbeat, grace=a.grace, timeout=a.timeout)  # fmt: skip


if __name__ == "__main__":
    main()

__all__ = ["TrialReporter", "best_so_far", "fit_trial", "rule_pruner", "successive_halving",
           "suggest", "worker"]  # fmt: skip
