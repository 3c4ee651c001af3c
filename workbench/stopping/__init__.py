"""Stop rules: when to end training. Pure Python over a history; no torch, no widgets.

Owns `Rule` and its pure step (`rule.py`), the rules (`rules.py`: Threshold, Patience,
RelativeChange, Divergence, NonFinite, AnyOf) and Prechelt's criteria (`prechelt.py`), plus
`best_epoch` and `resolve_mode`. It may import `workbench.history` only. Users import every
name from here: ``from workbench.stopping import Patience``.
"""

from workbench.stopping.prechelt import GeneralizationLoss, ProgressQuotient, UpStrips
from workbench.stopping.rule import (
    AnyOf,
    MetricNotFound,
    Param,
    Rule,
    Stop,
    best_epoch,
    resolve_mode,
)
from workbench.stopping.rules import (
    RULES,
    Divergence,
    NonFinite,
    Patience,
    RelativeChange,
    Threshold,
)

__all__ = [
    "RULES", "AnyOf", "Divergence", "GeneralizationLoss", "MetricNotFound", "NonFinite",
    "Param", "Patience", "ProgressQuotient", "RelativeChange", "Rule", "Stop", "Threshold",
    "UpStrips", "best_epoch", "resolve_mode",
]  # fmt: skip
