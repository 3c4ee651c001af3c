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

from workbench import data, models, stopping
from workbench.fit import evaluate, fit, pick_device
from workbench.history import History

__version__ = "0.1.0"

# name -> module; loaded on first use so that `import workbench` stays light and headless
_LAZY = {
    "explore": "workbench.explore",
    "summary": "workbench.explore",
    "LiveCurve": "workbench.live",
    "plots": "workbench.plots",
    "checkpoint": "workbench.checkpoint",
}


def __getattr__(name):
    if name in _LAZY:
        module = import_module(_LAZY[name])
        return module if module.__name__.endswith(name) else getattr(module, name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def versions() -> dict:
    """Versions of Python, workbench and its main libraries, and the device fit would use."""
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
    }


__all__ = ["History", "data", "evaluate", "fit", "models", "pick_device", "stopping", "versions"]
