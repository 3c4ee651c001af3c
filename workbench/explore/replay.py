"""Replay a stop rule over recorded runs: the numbers the explorer shows and lessons assert on.

Nothing here trains or draws. `summary` replays one rule over one history; `check_runs`
turns what a student passed into named histories, or says clearly what is wrong with it;
`repeat_groups` finds which runs are repeats of one setting (the only runs it makes sense
to average); `average` gives a rule's means over such a group.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from workbench import stopping
from workbench.history import check_history
from workbench.views.plots import best_of, epochs_of, mode_of

# "seed 3", "(seed=3)", "repeat 2": the part of a label that names a repeat, not a setting
_REPEAT = re.compile(r"[\s,;:_-]*\(?\b(?:seed|repeat|rep)\s*[=#:]?\s*\d+\)?", re.IGNORECASE)


def _at(values, epoch):
    return values[epoch - 1] if values and epoch and epoch <= len(values) else None


def summary(
    history: Mapping, rule, *, test_metric: str | None = None, checked: bool = False
) -> dict:
    """Replay `rule` over a recorded history and say what stopping there would have given.

    Parameters
    ----------
    history : mapping
        Metric name -> per-epoch floats of a finished run.
    rule : callable
        A stop rule, e.g. ``stopping.Patience(5)``.
    test_metric : str, optional
        The held-out score to report; default ``test_acc``, else ``test_loss``, if recorded.
    checked : bool
        True where the caller has already run `check_history` on it (the explorer replays
        the same runs at every slider value); else it is checked here.

    Returns
    -------
    dict
        ``stop_epoch`` (None if the rule never fires), ``reason``, ``epochs`` (recorded),
        ``epoch`` (the last epoch that runs), ``epochs_saved``, ``monitor``, ``mode`` (the
        rule's, "auto" resolved: max for accuracies), ``value`` (the monitored value there),
        ``best_epoch``/``best_value`` (over the whole run), ``restored_epoch`` (best up to
        the stop by the run's monitor, ``history.monitor`` or val_loss: what
        ``fit(restore_best=True)`` would load), ``test_metric``, ``test`` (there),
        ``test_restored`` (of the restored epoch), ``test_at_best`` (at the run's best
        epoch), ``best_test``/``best_test_epoch``.

    >>> h = {"val_loss": [0.9, 0.5, 0.6, 0.7, 0.8], "test_acc": [0.5, 0.8, 0.7, 0.7, 0.6]}
    >>> s = summary(h, stopping.Patience(2))
    >>> s["stop_epoch"], s["epochs_saved"], s["test"], s["test_restored"]
    (4, 1, 0.7, 0.8)
    """
    if not checked:
        check_history(history)
    stop = rule(history)
    monitor = getattr(rule, "monitor", None) or getattr(history, "monitor", None) or "val_loss"
    rule_mode = getattr(rule, "mode", None)
    mode = stopping.resolve_mode(monitor, rule_mode) if rule_mode else mode_of(monitor, history)
    n = len(epochs_of(history))
    epoch = stop.epoch if stop is not None else n
    values = list(history.get(monitor) or [])
    best = best_of(values, mode) or (None, None)
    # restore_best and "the best epoch in hindsight" follow the run's monitor (what fit
    # restores by), which differs from the rule's for e.g. RelativeChange on train_loss
    run_monitor = getattr(history, "monitor", None) or "val_loss"
    if run_monitor not in history:
        run_monitor = monitor
    run_mode = mode if run_monitor == monitor else mode_of(run_monitor, history)
    run_values = list(history.get(run_monitor) or [])
    run_best = best_of(run_values, run_mode) or (None, None)
    restored = best_of(run_values[:epoch], run_mode) or (None, None)
    if test_metric is None:
        test_metric = next((m for m in ("test_acc", "test_loss") if history.get(m)), None)
    tests = list(history.get(test_metric) or []) if test_metric else []
    best_test = best_of(tests, mode_of(test_metric)) if tests else None
    return {
        "rule": repr(rule),
        "stop_epoch": stop.epoch if stop is not None else None,
        "reason": stop.reason if stop is not None else None,
        "epochs": n,
        "epoch": epoch,
        "epochs_saved": n - epoch,
        "monitor": monitor,
        "mode": mode,
        "value": _at(values, epoch),
        "best_epoch": best[0],
        "best_value": best[1],
        "restored_epoch": restored[0],
        "test_metric": test_metric if tests else None,
        "test": _at(tests, epoch),
        "test_restored": _at(tests, restored[0]),
        "test_at_best": _at(tests, run_best[0]),
        "best_test": best_test[1] if best_test else None,
        "best_test_epoch": best_test[0] if best_test else None,
    }


def check_runs(runs) -> tuple[dict, dict]:
    """One history, a list of them, or a dict label -> history (or -> list of repeats), as
    a dict label -> history, each checked by `check_history` and refused if it is empty.

    A list as a value (``{"BN": [h0, h1, h2]}``) holds repeats of one setting; they are
    labelled ``"BN #1"``, ``"BN #2"``, ... and `repeat_groups` puts them together.

    Returns
    -------
    (dict of str to history, dict of str to str)
        The runs by label, and the setting of each run given as a list of repeats.
    """
    if isinstance(runs, Mapping) and runs and all(isinstance(v, Mapping) for v in runs.values()):
        named, groups = {str(k): v for k, v in runs.items()}, {}
    elif isinstance(runs, Mapping) and runs and all(_is_runs(v) for v in runs.values()):
        named, groups = {}, {}
        for setting, repeats in runs.items():
            for i, h in enumerate(repeats, start=1):
                named[f"{setting} #{i}"], groups[f"{setting} #{i}"] = h, str(setting)
    elif isinstance(runs, Mapping):
        named, groups = {"run": runs}, {}
    elif isinstance(runs, list | tuple) and any(isinstance(h, Mapping) for h in runs):
        named, groups = {f"run {i}": h for i, h in enumerate(runs, start=1)}, {}
    else:
        named, groups = {"run": runs}, {}
    if not named:
        raise ValueError("explore needs at least one recorded history, e.g. wb.explore(history)")
    for label, history in named.items():
        name = "history" if len(named) == 1 else f"run {label!r}"
        check_history(history, name)
        if not any(len(values) for values in history.values()):
            raise ValueError(
                f"{name} has no recorded epochs: train first, e.g. history = wb.fit(...)"
            )
    return named, groups


def _is_runs(value) -> bool:
    return isinstance(value, list | tuple) and value and all(isinstance(h, Mapping) for h in value)


def repeat_groups(labels: Sequence[str], repeats=None, settings: Mapping | None = None) -> dict:
    """Which runs are repeats of one setting: label -> the setting's name.

    Parameters
    ----------
    labels : sequence of str
        The runs' labels.
    repeats : bool or None
        True: all runs repeat one setting. False: every run is its own setting. None: runs
        whose labels differ only in a seed ("seed 3", "BN (seed=3)") repeat one setting.
    settings : mapping, optional
        Known settings (from ``{"BN": [h0, h1]}``); they win over the labels.

    Returns
    -------
    dict of str to str

    >>> repeat_groups(["BN seed 0", "BN seed 1", "no BN seed 0"])
    {'BN seed 0': 'BN', 'BN seed 1': 'BN', 'no BN seed 0': 'no BN'}
    """
    if repeats not in (None, True, False):
        raise TypeError(
            f"repeats must be True, False or None (decide by the labels), got {repeats!r}"
        )
    settings = settings or {}
    if repeats is True:
        return {label: "all runs" for label in labels}
    if repeats is False:
        return {label: settings.get(label, label) for label in labels}
    return {label: settings.get(label) or _REPEAT.sub("", label).strip() for label in labels}


def average(
    histories: Sequence[Mapping], rule, test_metric: str | None = None, *, checked: bool = False
) -> dict:
    """A rule's means over repeats of one setting (`checked` as in `summary`).

    Returns
    -------
    dict
        ``n``, ``epoch`` (mean last epoch run), ``never`` (how many never stop),
        ``epochs_saved``, ``test_metric``, ``test`` (mean score there), ``test_restored``
        (mean score of what restore_best loads); None where nothing was recorded.
    """
    if not checked:
        for i, h in enumerate(histories, start=1):
            check_history(h, f"run {i}")
    sums = [summary(h, rule, test_metric=test_metric, checked=True) for h in histories]

    def mean(key):
        xs = [s[key] for s in sums if s[key] is not None]
        return sum(xs) / len(xs) if xs else None

    return {
        "n": len(sums),
        "epoch": mean("epoch"),
        "never": sum(s["stop_epoch"] is None for s in sums),
        "epochs_saved": mean("epochs_saved"),
        "epochs": mean("epochs"),
        "test_metric": next((s["test_metric"] for s in sums if s["test_metric"]), None),
        "test": mean("test"),
        "test_restored": mean("test_restored"),
    }


__all__ = ["average", "check_history", "check_runs", "repeat_groups", "summary"]
