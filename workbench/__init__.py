"""workbench: a teaching workbench for training optimization in deep learning.

    import workbench as wb
    data = wb.data.load("digits", seed=0)
    model = wb.models.MLP((64, 128, 128, 10))
    history = wb.fit(model, data, epochs=100, stop=wb.stopping.Patience(10), live=True)
    wb.explore(history)

The package is built in wings, from the ground up: history, stopping, data, checkpoint,
train, then views and pretrained, then explore, playground and search (docs/design.md;
`make lint` checks that no wing imports one above it). Importing workbench needs no display
and no Jupyter front end: the widget modules import ipywidgets and IPython only when used.
"""

from importlib import import_module

from workbench import data, stopping, views
from workbench._version import __version__
from workbench.data import models
from workbench.explore import explore, summary
from workbench.history import History
from workbench.playground import Playground, playground
from workbench.train import Interrupted, evaluate, fit, last_history, pick_device, threads
from workbench.views import LiveCurve, plots

# Wings loaded on first use (name -> module).
_LAZY = {
    "checkpoint": "workbench.checkpoint",
    "pretrained": "workbench.pretrained",
    "search": "workbench.search",
}


def __getattr__(name):
    if name in _LAZY:
        return import_module(_LAZY[name])
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def versions() -> dict:
    """Versions of Python, workbench and its main libraries, the device and the threads.

    "threads" is torch's setting; "fit threads" says what `fit` trains with (one thread
    for small models on the CPU, see `workbench.train.threads`).
    """
    import platform

    import matplotlib
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "workbench": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "matplotlib": matplotlib.__version__,
        "device": str(pick_device()),
        "threads": torch.get_num_threads(),
        "fit threads": threads.describe(),
    }


__all__ = [
    "History", "Interrupted", "LiveCurve", "Playground", "data", "evaluate", "explore", "fit",
    "last_history", "models", "pick_device", "playground", "plots", "stopping", "summary",
    "versions", "views",
]  # fmt: skip
