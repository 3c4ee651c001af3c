"""The source models of the transfer-learning lesson: the synthetic world, its tasks, and
the two shipped source networks (`source.py`, weights in `assets/`), trained by `fit`
(``python -m workbench.pretrained`` rebuilds them). It may import everything up to
`workbench.train`, and nothing of the views.
"""

from workbench.pretrained.source import *  # noqa: F403
from workbench.pretrained.source import (  # noqa: F401  the settings the lesson quotes
    CHANNELS,
    MLP_REPORT,
    MLP_SETTINGS,
    MLP_SIZES,
    REPORT,
    SETTINGS,
    SOURCE_CLASSES,
    TARGET_CLASSES,
    __all__,
)
