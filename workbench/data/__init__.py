"""What is trained: the datasets (`datasets.py`: `load`, `from_tensors`, `Data`), the 2-D
problems of the playground (`problems.py`) and the models (`models.py`: `MLP`, `SmallCNN`,
`linear`). It may import `workbench.history` and `workbench.stopping`, nothing above; it
knows nothing of training loops or widgets. ``wb.data.load`` and ``wb.models.MLP`` are the
public names.
"""

from workbench.data import models, problems
from workbench.data.datasets import NAMES, Data, as_pair, from_tensors, load

__all__ = ["NAMES", "Data", "as_pair", "from_tensors", "load", "models", "problems"]
