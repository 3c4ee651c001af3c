"""How lesson 07 chose each contender's learning rate: on validation, from one grid, fairly.

    python benchmarks/tune_07.py            # about 8 minutes on 2 cores

Every method of the lesson (scratch, frozen, fine-tune and the shuffled-label source on the
MLP world; scratch, scratch with the two-rate recipe, the shuffled source and the real
source on the digits) gets the same grid of rates and the same draws, and keeps the rate
with the lowest mean best validation loss. Test data plays no part. The MLP rates use draws
0-4 at 5 and 50 labels per class, the digit rates draws 0-5; in the lesson these draws
belong to seeds 0 and 1 only, so seeds 2-9 of `make claims` use draws the choice never saw.

The script runs the lesson's own definitions (the cells that define its helpers, found by
what they define), so it tunes exactly what the lesson trains. It prints the chosen rates
next to the lesson's `LR` and `DIGIT_LR`, writes benchmarks/tuning/07_rates.csv, and exits
with 1 if they disagree.
"""

import statistics
import sys
from pathlib import Path

import matplotlib
import nbformat

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "07_transfer_learning.ipynb"
OUT = ROOT / "benchmarks" / "tuning" / "07_rates.csv"
GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
# the lesson's cells to run, by what they start with (in the lesson's order)
CELLS = ("import matplotlib", "source_data = ", "def few_labels", "def reuse", "def optimizer_for", "LR = {",
         "noise = wb.models.MLP", "noise_cnn = ", "DIGIT_LR = {")  # fmt: skip


def lesson_namespace() -> dict:
    """Run the lesson's setup and helper cells; return their names."""
    nb = nbformat.read(LESSON, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    ns: dict = {}
    for start in CELLS:
        found = [s for s in code if s.startswith(start)]
        if len(found) != 1:
            raise SystemExit(f"lesson 07 has {len(found)} code cells starting {start!r}, not 1")
        exec(compile(found[0], f"lesson 07: {start}", "exec"), ns)  # noqa: S102 -- our lesson
    ns["source"] = ns["wb"].pretrained.load_source_mlp()
    return ns


def best_val(ns) -> float:
    return min(ns["wb"].last_history()["val_loss"])


def tune_mlp(ns) -> list[dict]:
    methods = {"scratch": ("scratch", None), "frozen": ("frozen", ns["source"]),
               "finetune": ("finetune", ns["source"]), "shuffled source": ("frozen", ns["noise"])}  # fmt: skip
    rows = []
    for name, (method, base) in methods.items():
        for lr in GRID:
            vals = []
            for k in (5, 50):
                for draw in range(5):
                    ns["transfer"](method, ns["few_labels"](k, draw), draw, base, lr=lr)
                    vals.append(best_val(ns))
            rows.append(
                {"world": "mlp", "method": name, "lr": lr, "val_loss": statistics.mean(vals)}
            )
            print(rows[-1], flush=True)
    return rows


def tune_digits(ns) -> list[dict]:
    wb = ns["wb"]
    runs = {"scratch": (None, False), "scratch (two rates)": (None, True),
            "shuffled source": (ns["noise_cnn"], True), "source 0-4": (ns["cnn"], True)}  # fmt: skip
    rows = []
    for name, (base, two) in runs.items():
        for lr in GRID:
            vals = []
            for draw in range(6):
                data = wb.pretrained.digit_task(
                    wb.pretrained.TARGET_CLASSES, seed=draw, per_class=5
                )
                ns["finetune_cnn"](data, draw, base, two, lr)
                vals.append(best_val(ns))
            rows.append(
                {"world": "digits", "method": name, "lr": lr, "val_loss": statistics.mean(vals)}
            )
            print(rows[-1], flush=True)
    return rows


def main() -> int:
    import pandas as pd

    ns = lesson_namespace()
    table = pd.DataFrame(tune_mlp(ns) + tune_digits(ns))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False)
    chosen = table.loc[table.groupby(["world", "method"]).val_loss.idxmin()]
    lesson = {("mlp", m): lr for m, lr in ns["LR"].items()}
    lesson |= {("digits", m): lr for m, lr in ns["DIGIT_LR"].items()}
    differ = 0
    for row in chosen.itertuples():
        used = lesson.get((row.world, row.method))
        differ += used != row.lr
        print(f"{row.world:7} {row.method:20} chosen {row.lr:g}  lesson uses {used}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
