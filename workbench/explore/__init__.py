"""The stop-rule explorer: replay a rule over finished runs (`replay.py`: `summary`), the
rule's sliders (`sliders.py`), the words beside them (`explain.py`) and the widget
(`explorer.py`: `explore`, `Explorer`). It may import history, stopping and views; it
never trains. Public names: ``wb.explore``, ``wb.summary``.
"""

from workbench.explore.explorer import (
    Explorer,
    default_rule,
    explore,
    recorded_rules,
    summary,
    tunable_rules,
)

__all__ = ["Explorer", "default_rule", "explore", "recorded_rules", "summary", "tunable_rules"]
