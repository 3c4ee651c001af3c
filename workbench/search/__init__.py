"""Hyperparameter search with early stopping: successive halving, Optuna trials that report
every epoch, stop rules as pruners, and a worker for a shared study (`trials.py`;
``python -m workbench.search``). It may import everything up to `workbench.train`;
`explore` and `playground` do not know it.
"""

from workbench.search.trials import *  # noqa: F403
from workbench.search.trials import __all__  # noqa: F401
