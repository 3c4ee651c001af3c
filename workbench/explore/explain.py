"""The explorer's words: the table of numbers under its plot, the averages over repeats,
and the one-line text beside its picture. Nothing here draws or replays; it formats the
summaries (`replay.summary`) the explorer's rule slots hold.
"""

from __future__ import annotations

import html

from workbench.explore.replay import average


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def table(explorer) -> str:
    """The numbers under the plot: one column per rule, its reason, and the averages."""
    rows = [
        ("rule", lambda sl, s: f"<b style='color:{sl.color}'>{html.escape(sl.text)}</b>"),
        ("stops after epoch", _stop_text),
        ("epochs saved", lambda sl, s: f"{s['epochs_saved']} of {s['epochs']}"),
        ("restore_best loads", _restored_text),
        ("last weights", _test_text),
        ("monitored there", _value_text),
    ]
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{name}</th>"
        + "".join(
            f"<td style='padding-right:2em'>{cell(sl, sl.summary)}</td>" for sl in explorer.slots
        )
        + "</tr>"
        for name, cell in rows
        if all(sl.summary for sl in explorer.slots) or name == "rule"
    )
    notes = "".join(
        f"<div style='color:{sl.color}'>{html.escape(sl.note)}</div>"
        for sl in explorer.slots
        if sl.note
    )
    return f"<table>{body}</table>{notes}{averages(explorer)}"


def averages(explorer) -> str:
    """Means over the repeats of the shown run's setting; never across settings."""
    if len(explorer.runs) < 2:
        return ""
    setting = explorer.groups[explorer.run]
    same = [label for label in explorer.runs if explorer.groups[label] == setting]
    if len(same) < 2 and len(set(explorer.groups.values())) < len(explorer.groups):
        return f"<div>No averages for {html.escape(setting)}: it has one run.</div>"
    if len(same) < 2:
        settings = ", ".join(dict.fromkeys(explorer.groups.values()))
        return (
            f"<div>No averages: these runs are different settings ({html.escape(settings)}),"
            " and averaging is for repeats of one setting. Pass repeats=True if they are"
            " repeats (e.g. seeds), or give repeats as {'setting': [h1, h2, ...]}.</div>"
        )
    parts = []
    for slot in explorer.slots:
        try:
            runs = [explorer.runs[label] for label in same]  # checked once, by explore
            a = average(runs, slot.rule, explorer.test_metric, checked=True)
        except (KeyError, ValueError):
            continue
        never = f" ({a['never']} never stop)" if a["never"] else ""
        test = a["test_metric"]
        scores = (
            f"; {test} of the model restore_best loads {_fmt(a['test_restored'])}, "
            f"of the last weights {_fmt(a['test'])}"
            if test
            else ""
        )
        which = f" of {html.escape(setting)}" if setting not in ("", "all runs") else ""
        parts.append(
            f"<div style='color:{slot.color}'>averaged over the {a['n']} repeats{which} "
            f"({html.escape(', '.join(same))}): stops after epoch {a['epoch']:.1f}{never}, "
            f"{a['epochs_saved']:.1f} of {a['epochs']:.0f} epochs saved{scores}</div>"
        )
    return "".join(parts)


def stop_words(s) -> str:
    stop = f"stops after epoch {s['stop_epoch']}" if s["stop_epoch"] else "never stops"
    restored = f"restore_best loads epoch {s['restored_epoch']}"
    if s["test_metric"]:
        restored += f" ({s['test_metric']} {_fmt(s['test_restored'])})"
    return f"{stop} of {s['epochs']}; {restored}"


def _stop_text(slot, s) -> str:
    if s["stop_epoch"] is None:
        return f"never stops within {s['epochs']} epochs"
    return f"<b>{s['stop_epoch']}</b>"


def _restored_text(slot, s) -> str:
    where = f"epoch {s['restored_epoch']}"
    if s["test_metric"] is None:
        return f"{where}: the best up to the stop (no test score recorded)"
    return (
        f"<b>{s['test_metric']} {_fmt(s['test_restored'])}</b> (the weights of {where}, "
        f"the best up to the stop)"
    )


def _value_text(slot, s) -> str:
    best = f"best of the whole run {_fmt(s['best_value'])} @ {s['best_epoch']}"
    return f"{s['monitor']} {_fmt(s['value'])} ({best})"


def _test_text(slot, s) -> str:
    if s["test_metric"] is None:
        return "no test score recorded"
    return (
        f"{s['test_metric']} {_fmt(s['test'])} (at the best val epoch {_fmt(s['test_at_best'])}; "
        f"best of run {_fmt(s['best_test'])} @ {s['best_test_epoch']})"
    )


__all__ = ["averages", "stop_words", "table"]
