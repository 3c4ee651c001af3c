"""What a notebook cell made: re-running the cell closes it, so nothing piles up.

A playground, an explorer, a live curve or a chart shown in a cell holds widgets, which
ipywidgets keeps (with everything they reach) until they are closed. When a student re-runs
the cell, the old outputs vanish from the page but their widgets would stay in the kernel,
and a playing playground would train on. So each of those objects calls `made_here(self)`
when it is made: the first object a new run of a cell makes closes what earlier runs of
that cell made. Several objects made by one run (a loop over seeds) all stay open.

The cell is the id JupyterLab and Notebook 7 send with each execute request; outside a
kernel, or in a front end that sends none, nothing is recorded. Objects are held weakly:
this never keeps anything alive.
"""

from __future__ import annotations

import weakref

_MADE = {}  # cell id -> (the execute request that made them, WeakSet of objects)


def made_here(obj) -> None:
    """Record `obj` (anything with ``close()``) as made by the running cell.

    If an earlier run of this cell made objects, they are closed first.
    """
    cell = _running_cell()
    if cell is None:
        return
    cell_id, request = cell
    run, objects = _MADE.get(cell_id, (None, None))
    if run != request:
        for old in list(objects or ()):
            if old is not obj:
                old.close()
        objects = weakref.WeakSet()
        _MADE[cell_id] = (request, objects)
    objects.add(obj)


def _running_cell() -> tuple | None:
    """(cell id, id of this run's execute request) of the cell running now, or None."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        parent = kernel.get_parent("shell") if kernel is not None else None
    except Exception:  # no IPython, an older kernel: nothing to replace
        return None
    if not parent:
        return None
    cell_id = (parent.get("metadata") or {}).get("cellId")
    if cell_id is None:
        return None
    return cell_id, (parent.get("header") or {}).get("msg_id")


__all__ = ["made_here"]
