"""What a person sees: the browser chart (`chart.py`, drawn by `static/chart.js`; its
matplotlib picture in `picture.py`), the anywidget glue (`widgets.py`, `marks.py`), the
live curve of a run (`live.py`: `LiveCurve`) and static plots (`plots.py`). It may import
history, stopping and data; it never trains. Importing it registers `LiveCurve` as the
view that ``fit(live=True)`` makes.
"""

from workbench.train.fit import register_live_view
from workbench.views import plots
from workbench.views.live import LiveCurve

register_live_view(LiveCurve)

__all__ = ["LiveCurve", "plots"]
