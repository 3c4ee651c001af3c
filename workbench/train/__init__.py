"""Training: `fit` (`fit.py`), the checks before epoch 1 (`checks.py`), the thread choice
(`threads.py`) and the stop button (`interrupt.py`). It may import history, stopping, data
and checkpoint; it never imports a view: `fit(live=True)` gets its live view from the
factory that `workbench.views` registers. Public names: ``wb.fit``, ``wb.evaluate``,
``wb.pick_device``, ``wb.Interrupted``, ``wb.last_history``.
"""

from workbench.train.fit import evaluate, fit, pick_device
from workbench.train.interrupt import Interrupted, last_history

__all__ = ["Interrupted", "evaluate", "fit", "last_history", "pick_device"]
