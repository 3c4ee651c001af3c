"""The events of a playground run to replay, checked before any epoch trains.

An event is one change after the epoch it names, ``{"epoch": 31, "lr": 0.3}``, or
``{"epoch": 40, "continue": True}`` after a stop; ``pg.config["events"]`` lists them. Every
event is checked before the replay trains: its form, its epoch (in order, none after
``epochs``), its value (as `playsettings.check` checks a setting), and the settings after each
epoch's changes together, so a replay cannot fail on a bad value half way through.
"""

from __future__ import annotations

from workbench.playground.settings import check, check_together, whole


def check_events(events, epochs: int, first: dict) -> list[tuple[int, str, object]]:
    """The events of a run to replay as ``(epoch, key, value)``, every one checked before
    any epoch trains: their shape and order, each value, and the settings after each epoch's
    changes together. `epochs` must be checked already; `first` is the settings at epoch 0.
    """
    if isinstance(events, str | bytes | dict) or not isinstance(events, list | tuple):
        raise ValueError(
            f"events={events!r} must be a list of changes, e.g. "
            "events=[{'epoch': 3, 'lr': 0.3}] (as in pg.config['events'])"
        )
    todo, settings = [], dict(first)
    for i, event in enumerate(events):
        epoch, key, value = _event(i, event, epochs)
        if todo and epoch < todo[-1][0]:
            raise ValueError(
                f"events must be in epoch order, but events[{i}] at epoch {epoch} comes after "
                f"epoch {todo[-1][0]}: {[e for e, _, _ in todo] + [epoch]}; sort them, e.g. "
                "sorted(events, key=lambda e: e['epoch'])"
            )
        if todo and epoch > todo[-1][0]:
            _together_after(todo[-1][0], settings)
        if key != "continue":
            settings[key] = value
        todo.append((epoch, key, value))
    if todo:
        _together_after(todo[-1][0], settings)
    return todo


def _event(i: int, event, epochs: int) -> tuple[int, str, object]:
    keys = [k for k in event if k != "epoch"] if isinstance(event, dict) else []
    if len(keys) != 1 or "epoch" not in event:
        if not isinstance(event, dict):
            why = "it is not a dict"
        elif "epoch" not in event:
            why = "it has no 'epoch'"
        elif not keys:
            why = "it names no setting"
        else:
            why = (
                f"it changes {len(keys)} settings ({', '.join(map(str, keys))}): give each its own"
            )
        raise ValueError(
            f"events[{i}]={event!r} must look like one change after the epoch it names, "
            f"e.g. {{'epoch': 31, 'lr': 0.3}}, but {why}"
        )
    where, key = f"events[{i}]={event!r}", keys[0]
    example = f"{{'epoch': {min(3, epochs)}, 'lr': 0.3}}; none comes after epochs={epochs}"
    epoch = whole(f"{where}: epoch", event["epoch"], 0, epochs, example=example)
    if key == "continue" and event[key] is not True:
        raise ValueError(
            f"{where}: 'continue' must be True, e.g. {{'epoch': 40, 'continue': True}}"
        )
    if key == "continue":
        return epoch, key, True
    try:
        return epoch, key, check(key, event[key])
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _together_after(epoch: int, settings: dict) -> None:
    try:
        check_together(settings)
    except ValueError as error:
        raise ValueError(f"events: after the changes at epoch {epoch}, {error}") from None


__all__ = ["check_events"]
