"""Charts drawn in the browser: the kernel keeps the numbers, the page draws them.

A `Chart` is a few panels (axes) holding layers: lines, points, vertical or horizontal
marks, and images (a heat map of a small grid). In Jupyter, `chart.show()` puts a widget
in the cell; from then on every change (`extend` appends rows, `set` replaces columns,
`set_layer`/`set_panel` change styles and titles, `set_status` the progress line) is
queued, and `flush()` sends the queue as one small message at most every `interval`
seconds, so a fast loop never floods the page. The page redraws at display rate.
`finish()` sends everything and adds a PNG of the final state (drawn by matplotlib) to the
same output, so a saved notebook shows a picture where no widget can be drawn.

    chart = Chart()
    chart.panel("loss", ylabel="loss", xlabel="epoch", log_toggle=True)
    chart.line("val", "loss", label="validation")
    chart.show()
    for epoch in range(1, 51):
        chart.extend("val", [epoch], [1 / epoch])
        chart.flush()
    chart.finish()

Outside Jupyter nothing is shown and every call is cheap; `chart.png()` still draws.
"""

from __future__ import annotations

import copy
import math
import time
import uuid

from workbench.views.picture import figure_of, png_of

KINDS = ("line", "points", "vline", "hline", "image")


class Chart:
    """Panels of lines, points, marks and images, drawn in the browser.

    Parameters
    ----------
    height : int
        Height in CSS pixels of a panel with ``height=1`` (panels scale it).
    interval : float
        Least seconds between two messages to the page (changes in between are merged).
    snapshot_every : float
        Seconds between full copies of the state sent to the page during a long loop. A
        full copy costs O(all rows); a message O(new rows).
    catch_up : float or None
        Seconds after `show` for the first full copy, for a page that missed the first
        messages while it loaded the drawing module; None: wait `snapshot_every`.
    clock : callable
        Seconds, for the throttle (tests pass a fake clock).

    Attributes
    ----------
    spec : dict
        ``{"panels": {name: options}, "rows": [[panel names]], "layers": {name: options},
        "height": int}``.
    data : dict
        Layer name -> columns (``x``, ``y``, ``c`` for lines and points; ``x`` for a mark;
        ``z`` and ``extent`` for an image).
    status : dict
        The progress line: ``text``, ``progress`` (0..1 or None), ``state`` ("running",
        "done", "stopped", "interrupted", "error"), ``x`` (the epoch it describes).
    messages_ : int
        Messages sent to the page so far.
    """

    def __init__(self, *, height: int = 220, interval: float = 0.05, snapshot_every: float = 30.0,
                 catch_up: float | None = 1.0, clock=time.perf_counter):  # fmt: skip
        self.spec = {"panels": {}, "rows": [], "layers": {}, "height": int(height)}
        self.data: dict = {}
        self.status: dict = {}
        self.interval = interval
        self.snapshot_every = snapshot_every
        self.catch_up = catch_up
        self.clock = clock
        self.messages_ = 0
        self.widget = None
        self._handle = None
        self._diff: dict = {}
        self._sent_at = -math.inf
        self._snapshot_at = -math.inf
        self._picture_due = False
        self._picture_size = (760, 100)

    # --- building ------------------------------------------------------------------------
    def panel(self, name: str, *, title: str = "", xlabel: str = "", ylabel: str = "",
              row: int | None = None, height: float = 1.0, logy: bool = False,
              log_toggle: bool = False, xlim=None, ylim=None, grow: bool = True,
              x_room: float = 0.25, x_limit: float | None = None, x_start: float = 0,
              y_zero: bool = False) -> Chart:  # fmt: skip
        """Add a panel (one set of axes).

        Parameters
        ----------
        name : str
            Key used by layers and by `set_panel`.
        title, xlabel, ylabel : str
            Texts (HTML above the plot in the browser: a long title wraps, never clips).
        row : int, optional
            Put the panel in this existing row (side by side); by default a new row below.
        height : float
            Height relative to the chart's `height`.
        logy, log_toggle : bool
            Log-scale y axis; a checkbox lets the student switch it.
        xlim, ylim : (float, float), optional
            Fixed limits; by default they follow the data.
        grow, x_room, x_limit, x_start : optional
            With `grow` the x axis runs from `x_start` to the last x plus `x_room` (a
            fraction) of room ahead, in round steps, never past `x_limit` (e.g. the planned
            epochs): a 1000-epoch run's first 15 epochs fill the panel.
        y_zero : bool
            Keep 0 inside the y range (losses).

        Returns
        -------
        Chart
            self, so calls chain.
        """
        if name in self.spec["panels"]:
            raise ValueError(f"panel {name!r} exists already; use set_panel to change it")
        options = dict(title=title, xlabel=xlabel, ylabel=ylabel, height=height, logy=logy,
                       log_toggle=log_toggle, xlim=xlim, ylim=ylim, x_grow=grow, x_room=x_room,
                       x_limit=x_limit, x_start=x_start, y_zero=y_zero)  # fmt: skip
        self.spec["panels"][name] = options
        rows = self.spec["rows"]
        if row is None or row >= len(rows):
            rows.append([name])
        else:
            rows[row].append(name)
        self._queue_spec("panels", name, options, rows=True)
        return self

    def line(self, name: str, panel: str, *, label=None, color=None, dash=False, width=2.0):
        """Add a line layer (columns ``x``, ``y``; NaN or inf leaves a gap). Returns self."""
        return self._layer(name, panel, "line", label=label, color=color, dash=dash, width=width)

    def points(self, name: str, panel: str, *, label=None, color=None, size=4.0, edge="#fff"):
        """Add a scatter layer (``x``, ``y``, optional ``c``: class index or colour per point)."""
        return self._layer(name, panel, "points", label=label, color=color, size=size, edge=edge)

    def vline(self, name: str, panel: str, *, text="", label=None, color="#444", dash=True):
        """Add a vertical mark at ``x`` (set with ``set(name, x=...)``; None hides it).

        `text` is written beside the line inside the plot; `label` goes in the legend.
        """
        return self._layer(name, panel, "vline", text=text, label=label, color=color,
                           dash=dash, width=1.5)  # fmt: skip

    def hline(self, name: str, panel: str, *, text="", label=None, color="#444", dash=True):
        """Add a horizontal mark at y = ``x`` (a threshold); see `vline`."""
        return self._layer(name, panel, "hline", text=text, label=label, color=color,
                           dash=dash, width=1.5)  # fmt: skip

    def image(self, name: str, panel: str, *, cmap="RdBu", vmin=None, vmax=None, alpha=1.0,
              smooth=True, label=None):  # fmt: skip
        """Add a heat map: ``z`` rows of values (row 0 at the bottom) over ``extent``.

        Set it with ``set(name, z=grid, extent=(x0, x1, y0, y1))``. `cmap` is "RdBu",
        "viridis" or "gray"; `vmin`/`vmax` fix the colour range (default: the data's).
        """
        return self._layer(name, panel, "image", cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha,
                           smooth=smooth, label=label)  # fmt: skip

    def _layer(self, name, panel, kind, **options):
        if panel not in self.spec["panels"]:
            raise ValueError(f"no panel {panel!r}; add it first with chart.panel({panel!r})")
        options = {"kind": kind, "panel": panel, **options}
        self.spec["layers"][name] = options
        self.data[name] = {"x": None} if kind in ("vline", "hline") else {}
        self._queue_spec("layers", name, options)
        self._queue_set(name)
        return self

    # --- changing ------------------------------------------------------------------------
    def extend(self, name: str, x, y=None, *, at: int | None = None, **columns) -> None:
        """Append rows to a line or points layer: ``extend("val", [3], [0.41])``.

        With `at`, the rows from `at` on are replaced first (a line whose last point moves).
        """
        cols = {"x": _plain(x), **({"y": _plain(y)} if y is not None else {})}
        cols.update({k: _plain(v) for k, v in columns.items()})
        data = self._data(name)
        have = len(data.get("x") or [])
        at = have if at is None else min(at, have)
        for key, values in cols.items():
            column = data.setdefault(key, [])
            del column[at:]  # in place: appending stays O(new rows) however long the run
            column.extend(values)
        if self.widget is None:
            return
        if name in self._diff.get("set", {}):
            self._queue_set(name)
            return
        pending = self._diff.setdefault("extend", {}).get(name)
        if pending is None:
            self._diff["extend"][name] = {"at": at, **cols}
        elif at < pending["at"]:  # rows the page has already got change: send the layer
            self._queue_set(name)
        else:
            for key, values in cols.items():
                column = pending.setdefault(key, [])
                del column[at - pending["at"] :]
                column.extend(values)

    def set(self, name: str, **columns) -> None:
        """Replace columns of a layer: ``set("stop", x=47)``, ``set("grid", z=..., extent=...)``."""
        data = self._data(name)
        for key, value in columns.items():
            data[key] = _plain(value)
        self._queue_set(name)

    def set_layer(self, name: str, **options) -> None:
        """Change a layer's options (label, text, colour, visible, ...)."""
        self._data(name)
        self.spec["layers"][name].update(options)
        self._queue_spec("layers", name, options)

    def set_panel(self, name: str, **options) -> None:
        """Change a panel's options (title, x_limit, ylim, ...)."""
        if name not in self.spec["panels"]:
            raise ValueError(f"no panel {name!r}; panels: {sorted(self.spec['panels'])}")
        self.spec["panels"][name].update(options)
        self._queue_spec("panels", name, options)

    def set_status(self, text: str, *, progress: float | None = None, state: str = "running",
                   x=None) -> None:  # fmt: skip
        """Set the line above the panels: a bar filled to `progress` (0..1) and `text`."""
        self.status = {"text": text, "progress": progress, "state": state, "x": x}
        if self.widget is not None:
            self._diff["status"] = dict(self.status)

    def _data(self, name):
        if name not in self.data:
            raise ValueError(f"no layer {name!r}; layers: {sorted(self.data)}")
        return self.data[name]

    def _queue_spec(self, kind, name, options, rows=False):
        if self.widget is None:
            return
        spec = self._diff.setdefault("spec", {})
        spec.setdefault(kind, {}).setdefault(name, {}).update(copy.deepcopy(options))
        if rows:
            spec["rows"] = copy.deepcopy(self.spec["rows"])

    def _queue_set(self, name):
        if self.widget is None:
            return
        self._diff.get("extend", {}).pop(name, None)
        self._diff.setdefault("set", {})[name] = copy.deepcopy(self.data[name])

    # --- sending ---------------------------------------------------------------------------
    def due(self) -> bool:
        """True when `flush` would send now (a page is connected and `interval` has passed)."""
        return self.widget is not None and self.clock() - self._sent_at >= self.interval

    def flush(self, force: bool = False) -> bool:
        """Send the queued changes if `interval` has passed (or `force`); True if sent."""
        if self.widget is None or not self._diff:
            return False
        now = self.clock()
        if not force and now - self._sent_at < self.interval:
            return False
        if now >= self._snapshot_at:
            self.snapshot()
        else:
            self.widget.send(self._diff)
        self._diff = {}
        self._sent_at = now
        self.messages_ += 1
        return True

    def snapshot(self) -> None:
        """Send the whole state (the page replaces its copy); pending changes are in it."""
        if self.widget is not None:
            self.widget.state = self.state()
            self._diff = {}
            self._snapshot_at = self.clock() + self.snapshot_every

    def state(self) -> dict:
        """A deep copy of spec, data and status: what the page draws."""
        return copy.deepcopy({"spec": self.spec, "data": self.data, "status": self.status})

    def connect(self, widget) -> None:
        """Send from now on to `widget` (anything with ``send(dict)`` and a ``state``).

        `show` connects a `ChartWidget`; tests connect a fake page. The widget is expected
        to hold the current state already; later changes go to it as messages.
        """
        self.widget = widget
        self._diff = {}
        self._sent_at = self.clock()
        first = self.snapshot_every if self.catch_up is None else self.catch_up
        self._snapshot_at = self._sent_at + first

    def show(self):
        """Display the chart in the running Jupyter cell; returns the widget, or None outside.

        A chart shown again (e.g. in a later cell) gets a new output there; both stay live.
        """
        from workbench.views.cells import made_here
        from workbench.views.widgets import ChartWidget, display_chart

        if self.widget is None:
            self.connect(ChartWidget(chart_id=uuid.uuid4().hex, state=self.state()))
            self.widget.chart = self  # a chart shown by a finished fit lives on with its widget
            made_here(self)  # re-running this cell closes it
        self._handle = display_chart(self.widget, self.status.get("text") or "chart")
        return self.widget

    def finish(self, *, width: int = 760, dpi: int = 100, when: str = "cell") -> None:
        """Send everything now and put a PNG of the final state beside the widget.

        Parameters
        ----------
        width, dpi : int
            Size and resolution of the picture (see `png`).
        when : "cell" or "now"
            "cell" draws the picture once when the running cell ends (IPython's
            post_execute), so that a cell with many runs on one chart pays for one picture
            and the loop itself for none; "now" draws it at once.
        """
        if self.widget is None:
            return
        self.snapshot()
        if self._handle is None:
            return
        self._picture_size = (width, dpi)
        shell = _shell() if when == "cell" else None
        if shell is None:
            self._picture()
        elif not self._picture_due:
            self._picture_due = True
            shell.events.register("post_execute", self._picture)

    def _picture(self) -> None:
        """Replace the output with the widget + the PNG of the current state."""
        from workbench.views.widgets import display_chart

        shell = _shell()
        if self._picture_due and shell is not None:
            shell.events.unregister("post_execute", self._picture)
        self._picture_due = False
        width, dpi = self._picture_size
        text = self.status.get("text") or "chart"
        self._handle = display_chart(
            self.widget, text, png=self.png(width=width, dpi=dpi), handle=self._handle
        )

    def close(self) -> None:
        """Let go of the page: the output keeps a PNG of the chart as it is now, in place of
        the widget, and the widget closes. `show` makes a new one."""
        from workbench.views.widgets import close_all, display_chart

        widget, handle = self.widget, self._handle
        if widget is None:
            return
        shell = _shell()
        if self._picture_due and shell is not None:
            shell.events.unregister("post_execute", self._picture)
        self._picture_due = False
        if handle is not None:  # a closed widget's view is hidden: leave the picture there
            width, dpi = self._picture_size
            text = self.status.get("text") or "chart"
            display_chart(None, text, png=self.png(width=width, dpi=dpi), handle=handle)
        self.widget, self._handle, self._diff = None, None, {}
        if getattr(widget, "chart", None) is self:
            widget.chart = None
        close_all(widget)

    # --- static pictures ---------------------------------------------------------------------
    def figure(self, *, width: int = 760, dpi: int = 100):
        """A matplotlib Figure of the current state, `width` pixels wide."""
        return figure_of(self.state(), width=width, dpi=dpi)

    def png(self, *, width: int = 760, dpi: int = 100) -> bytes:
        """PNG bytes of `figure`; every text at least 12 pixels tall whatever the dpi."""
        return png_of(self.state(), width=width, dpi=dpi)


def _shell():
    """The running IPython shell, or None (plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _plain(value):
    """Numbers and (nested) lists as JSON-ready values: numpy/torch accepted, NaN/inf -> None.

    >>> _plain((1, float("nan"), [2.5, float("inf")]))
    [1, None, [2.5, None]]
    """
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["Chart", "KINDS"]
