"""workbench: a teaching workbench for training optimization in deep learning.

    import workbench as wb
    data = wb.data.load("digits", seed=0)
    model = wb.models.MLP((64, 128, 128, 10))
    history = wb.fit(model, data, epochs=100, stop=wb.stopping.Patience(10), live=True)
    wb.explore(history)

Importing workbench needs no display and no Jupyter front end: the widget modules import
ipywidgets and IPython only when they are used.
"""

from importlib import import_module

from workbench import data, models, plots, stopping, threads
from workbench.explore import explore, summary
from workbench.fit import evaluate, fit, pick_device
from workbench.history import History
from workbench.interrupt import Interrupted, last_history
from workbench.live import LiveCurve
from workbench.playground import Playground, playground

__version__ = "0.1.0"

# Modules loaded on first use (name -> (module, attribute or None for the module itself)).
# The widget modules above import ipywidgets and IPython only inside functions, so
# `import workbench` needs no display and no Jupyter front end either way.
_LAZY = {
    "checkpoint": ("workbench.checkpoint", None),
    "pretrained": ("workbench.pretrained", None),
    "search": ("workbench.search", None),
}


def __getattr__(name):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = import_module(module_name)
        return module if attribute is None else getattr(module, attribute)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def versions() -> dict:
    """Versions of Python, workbench and its main libraries, the device and the threads.

    "threads" is torch's setting; "fit threads" says what `fit` trains with (one thread
    for small models on the CPU, see `workbench.threads`).
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
    "History",
    "Interrupted",
    "LiveCurve",
    "Playground",
    "data",
    "evaluate",
    "explore",
    "fit",
    "last_history",
    "models",
    "pick_device",
    "playground",
    "plots",
    "stopping",
    "summary",
    "versions",
]
