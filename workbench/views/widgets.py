"""The browser side of `workbench.views.chart.Chart`: an anywidget whose module ships in the package.

`ChartWidget` carries one synced trait, `state` (the full chart, sent now and then), and
custom messages with small diffs in between; `static/chart.js` draws them on a canvas at
display rate. Nothing is downloaded at run time and nothing needs building: JupyterLab 4
and Notebook 7 load the module through anywidget's prebuilt extension.
"""

from __future__ import annotations

import base64
from pathlib import Path

import anywidget
import traitlets

STATIC = Path(__file__).parent / "static"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class ChartWidget(anywidget.AnyWidget):
    """The widget of one chart (made by `Chart.show`; not meant to be built by hand).

    Parameters
    ----------
    chart_id : str
        A unique id: every view of the chart in the page shares one copy of its data.
    state : dict
        `Chart.state()` at the time of the call.
    """

    # the text, not the path: anywidget ties every widget made from a file to that file's
    # change signal (for hot reload), which then keeps each one alive after it is closed
    _esm = (STATIC / "chart.js").read_text(encoding="utf-8")
    _css = (STATIC / "chart.css").read_text(encoding="utf-8")
    _chart_id = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Dict().tag(sync=True)

    def __init__(self, chart_id: str, state: dict, **kwargs):
        super().__init__(_chart_id=chart_id, state=state, **kwargs)
        self.chart = None  # the Chart it draws: kept while the page may show it, so it can close


def close_all(*widgets) -> None:
    """Close `widgets` and every widget they hold (children, layout, style), for good.

    ipywidgets keeps each open widget, and so whatever its callbacks reach, until it is
    closed, and closing a box closes neither its children nor its `layout` and `style`
    (themselves widgets): a playground's view alone is 63 of them.
    """
    from ipywidgets import Widget

    todo, seen = list(widgets), set()
    while todo:
        widget = todo.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        if not isinstance(widget, Widget):  # a test's fake page
            getattr(widget, "close", lambda: None)()
            continue
        for name in widget.keys:
            value = getattr(widget, name, None)
            for held in value if isinstance(value, list | tuple) else (value,):
                if isinstance(held, Widget):
                    todo.append(held)
        widget.close()


def display_chart(widget: ChartWidget, text: str, *, png: bytes | None = None, handle=None):
    """Show `widget` in the running cell, or replace what `handle` shows.

    The output is one mimebundle: the widget view, `text` as its plain-text form (so no
    widget repr ever appears), and, when given, the PNG of the final state, which a
    notebook opened fresh (untrusted), GitHub's viewer and nbval show instead of the widget.

    Returns
    -------
    DisplayHandle or None
    """
    from IPython.display import display

    bundle = {"text/plain": text}
    if widget is not None:  # None: the picture alone (a closed chart)
        bundle[WIDGET_MIME] = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    if png is not None:
        bundle["image/png"] = base64.b64encode(png).decode("ascii")
    if handle is None:
        return display(bundle, raw=True, display_id=True)
    handle.update(bundle, raw=True)
    return handle


__all__ = ["ChartWidget", "close_all", "display_chart"]
