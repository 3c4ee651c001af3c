"""Successive halving, best-so-far curves, and the Optuna glue of workbench.search.trials."""

import math
import os
import signal
import subprocess
import sys
import time
import warnings

import optuna
import pytest
from optuna.trial import TrialState

from workbench.data import datasets as wb_data
from workbench.search import trials as search
from workbench.stopping import Patience

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_successive_halving_keeps_the_best_third_and_counts_resumed_epochs():
    rungs = search.successive_halving(lambda i, r: (i % 5) + r / 100, 27, min_epochs=1, eta=3)
    assert [(r["epochs"], len(r["configs"])) for r in rungs] == [(1, 27), (3, 9), (9, 3), (27, 1)]
    assert [r["spent"] for r in rungs] == [27, 18, 18, 18] and rungs[-1]["total"] == 81
    # the best third: every i % 5 == 4, then the earliest ties of i % 5 == 3
    assert rungs[1]["configs"] == [3, 4, 8, 9, 13, 14, 18, 19, 24]


def test_successive_halving_stops_at_max_epochs_and_ranks_nan_last():
    scores = {0: math.nan, 1: 0.5, 2: 0.9}
    rungs = search.successive_halving(lambda i, r: scores[i], 3, eta=3, max_epochs=1)
    assert len(rungs) == 1
    rungs = search.successive_halving(lambda i, r: scores[i], 3, eta=2)
    assert rungs[1]["configs"] == [2]


@pytest.mark.parametrize("bad", [{"n_configs": 0}, {"min_epochs": 0}, {"eta": 1}])
def test_successive_halving_refuses_bad_settings(bad):
    kw = {"n_configs": 3, "min_epochs": 1, "eta": 3} | bad
    with pytest.raises(ValueError):
        search.successive_halving(lambda i, r: 0.0, kw.pop("n_configs"), **kw)


def test_best_so_far_counts_every_epoch():
    assert search.best_so_far([[0.5, 0.7], [math.nan, 0.6, 0.9]]) == (
        [1, 2, 3, 4, 5],
        [0.5, 0.7, 0.7, 0.7, 0.9],
    )


def test_rule_pruner_prunes_when_the_stop_rule_fires():
    rule = Patience(2, monitor="val_acc", mode="max")
    study = optuna.create_study(direction="maximize", pruner=search.rule_pruner(rule))
    trial = study.ask()
    decisions = []
    for step, value in enumerate([0.5, 0.6, 0.6, 0.55]):
        trial.report(value, step)
        decisions.append(trial.should_prune())
    assert decisions == [False, False, False, True]


def test_fit_trial_reports_every_epoch_and_can_be_pruned():
    data = wb_data.load("digits", seed=0, train_size=200, test_size=0)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    study.optimize(lambda t: search.fit_trial(t, data, epochs=3), n_trials=2)
    for t in study.trials:
        assert len(t.user_attrs["curve"]) == 3 and t.value == max(t.user_attrs["curve"])
        assert sorted(t.intermediate_values) == [0, 1, 2]

    always = search.rule_pruner(Patience(1, monitor="val_acc", mode="max", start_from_epoch=0))
    study = optuna.create_study(direction="maximize", pruner=always)
    study.enqueue_trial({"lr": 1e-4, "width": 4, "weight_decay": 1e-6})
    study.optimize(lambda t: search.fit_trial(t, data, epochs=20), n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert len(study.trials[0].user_attrs["curve"]) < 20


def test_two_workers_share_one_study(tmp_path):
    import multiprocessing

    storage = f"sqlite:///{tmp_path}/study.db"
    optuna.create_study(study_name="s", storage=storage, direction="maximize")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=search.worker, args=(storage, "s", 1), kwargs={"epochs": 1})
               for _ in range(2)]  # fmt: skip
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert [w.exitcode for w in workers] == [0, 0]
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert len(trials) == 2 and len({t.user_attrs["pid"] for t in trials}) == 2


@pytest.mark.slow
def test_a_sigkilled_workers_trial_is_failed_and_retried_by_a_survivor(tmp_path):
    storage = f"sqlite:///{tmp_path}/study.db"
    optuna.create_study(study_name="s", storage=storage, direction="maximize")
    worker = [sys.executable, "-m", "workbench.search", "--storage", storage, "--study", "s",
              "--heartbeat", "1", "--grace", "2"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    started = time.monotonic()

    def wait_for(what, condition):
        while time.monotonic() - started < 180:
            trials = optuna.load_study(study_name="s", storage=storage).trials
            if found := condition(trials):
                return found
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}")

    def running(pid):
        return lambda trials: [t for t in trials if t.user_attrs.get("pid") == pid]

    # One worker with a trial that never ends, one that runs short trials for up to 180 s
    # (it is stopped once the retry is done); both start at once, as on a cluster.
    doomed = subprocess.Popen([*worker, "--trials", "1", "--epochs", "100000"], env=env)
    survivor = subprocess.Popen([*worker, "--trials", "0", "--epochs", "5", "--timeout", "180"],
                                env=env)  # fmt: skip
    try:
        dead = wait_for("the first worker's trial", running(doomed.pid))[0]
        wait_for("the survivor's first trial", running(survivor.pid))
        doomed.send_signal(signal.SIGKILL)  # no chance to mark its trial failed
        doomed.wait(timeout=30)
        killed = time.monotonic()
        retried = wait_for("the retry", lambda trials: [
            t for t in trials if retried_from(t) == dead.number and t.state.is_finished()
        ])[0]  # fmt: skip
    finally:
        for p in (doomed, survivor):
            p.kill()
            p.wait(timeout=30)
    print(f"killed after {killed - started:.1f} s, retried {time.monotonic() - killed:.1f} s later")
    dead = optuna.load_study(study_name="s", storage=storage).trials[dead.number]
    assert dead.state == TrialState.FAIL, f"a dead worker's trial must not stay {dead.state}"
    # The copy runs to an end like any trial: COMPLETE, or PRUNED when the survivor's earlier
    # trials already beat it at the same epoch (the study's median pruner).
    assert retried.state in (TrialState.COMPLETE, TrialState.PRUNED), (
        f"the retried trial ended {retried.state.name}; it should complete or be pruned"
    )
    assert retried.user_attrs["pid"] == survivor.pid and retried.params == dead.params, (
        "the retry runs in the surviving worker, with the same hyperparameters"
    )


def retried_from(trial):
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    with warnings.catch_warnings():  # marked experimental; it is what the test reads
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return (retry or optuna.storages.RetryFailedTrialCallback).retried_trial_number(trial)
