"""The playground: a real PyTorch run on a 2-D problem, steered while it trains. `play.py`
(`Playground`, `playground`: the thread and the public API), `run.py` (one run, no
threads), `settings.py` (checks), `view.py`, `controls.py` and `picture.py` (what the page
shows). It may import everything below `explore`; `explore` and `search` do not know it.
Public names: ``wb.playground``, ``wb.Playground``.
"""

from workbench.playground.play import Playground, playground

__all__ = ["Playground", "playground"]
