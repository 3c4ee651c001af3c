"""Run every lesson over seeds and record whether its claims hold, with the numbers.

    python benchmarks/claims.py                      # all lessons, seeds 0-9
    python benchmarks/claims.py notebooks/03_*.ipynb --seeds 0-9 --jobs 2
    python benchmarks/claims.py notebooks/07_*.ipynb --set N_VAL=25   # a variant

Each lesson's setup cell holds the line ``SEED = 0``; this script replaces it with
``SEED = n``, runs the lesson top to bottom in a fresh kernel (the asserts in it are the
claims), then reads the lesson's ``measured`` dict (the key numbers its prose quotes).
It writes one CSV per lesson to ``benchmarks/claims/<lesson>.csv`` (seed, status,
seconds, error, then one column per measured number) and rebuilds the summary table
``benchmarks/claims/README.md`` from every CSV there. Prose that quotes numbers "over
seeds 0-9" takes them from these files. ``--set NAME=VALUE`` also replaces the setup line
``NAME = ...`` (a variant a lesson's prose reports, e.g. fewer validation labels); its CSV
is ``<lesson>@NAME=VALUE.csv``, a row of its own in the table. Not part of ``make test``: it takes about
ten times as long as the lessons (``make claims``).
"""

import argparse
import csv
import json
import os
import re
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "claims"
SEED_LINE = re.compile(r"^SEED = 0$", re.MULTILINE)
READ_MEASURED = (
    "import json as _json\n"
    "print(_json.dumps({k: (None if v is None else float(v)) for k, v in measured.items()}))"
)


def with_seed(nb, seed: int):
    """Return `nb` with its setup line ``SEED = 0`` replaced by ``SEED = seed``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and SEED_LINE.search(cell.source):
            cell.source = SEED_LINE.sub(f"SEED = {seed}", cell.source, count=1)
            return nb
    raise ValueError("no line 'SEED = 0' in any code cell: the claims script needs one")


def with_settings(nb, settings: dict[str, str]):
    """Return `nb` with each setup line ``NAME = ...`` replaced by ``NAME = value``."""
    for name, value in settings.items():
        line = re.compile(rf"^{re.escape(name)} = .*$", re.MULTILINE)
        cell = next((c for c in nb.cells if c.cell_type == "code" and line.search(c.source)), None)
        if cell is None:
            raise ValueError(f"no line '{name} = ...' in any code cell to set {name}={value}")
        new = f"{name} = {value}"
        cell.source = line.sub(lambda _, new=new: new, cell.source, count=1)
    return nb


def run_one(path: str, seed: int, threads: int, settings: dict | None = None) -> dict:
    """Run lesson `path` with `seed`; return status, seconds, first error line, measured."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    nb = with_seed(nbformat.read(path, as_version=4), seed)
    nb = with_settings(nb, settings or {})
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    row = {"seed": seed, "status": "pass", "seconds": 0.0, "error": "", "measured": {}}
    start = time.perf_counter()
    with client.setup_kernel():
        try:
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, i)
        except CellExecutionError as err:
            row["status"] = "fail"
            lines = [ln for ln in str(err).splitlines() if "Error" in ln]
            row["error"] = (lines[-1] if lines else str(err).splitlines()[-1])[:200]
        row["seconds"] = round(time.perf_counter() - start, 1)
        if row["status"] == "pass":
            probe = nbformat.v4.new_code_cell(READ_MEASURED)
            nb.cells.append(probe)
            try:
                client.execute_cell(probe, len(nb.cells) - 1)
                text = "".join(
                    o.get("text", "") for o in probe.outputs if o.get("name") == "stdout"
                )
                row["measured"] = json.loads(text)
            except (CellExecutionError, json.JSONDecodeError):
                row["status"], row["error"] = "fail", "the lesson defines no `measured` dict"
    return row


def write_csv(path: Path, rows: list[dict]) -> None:
    keys = sorted({k for r in rows for k in r["measured"]})
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seed", "status", "seconds", "error", *keys])
        for r in sorted(rows, key=lambda r: r["seed"]):
            w.writerow([r["seed"], r["status"], r["seconds"], r["error"],
                        *(_fmt(r["measured"].get(k)) for k in keys)])  # fmt: skip


def _fmt(x) -> str:
    return "" if x is None else f"{x:.4g}"


def write_summary() -> None:
    """Rebuild benchmarks/claims/README.md from every lesson's CSV."""
    lines = [
        "# Claims over seeds",
        "",
        "Written by `make claims` (`benchmarks/claims.py`): each lesson run top to bottom",
        "with `SEED` = each seed below; *pass* means every assert in it held. Numbers are the",
        "lesson's `measured` values over those seeds: min / median / max.",
        "",
        "| lesson | seeds | passed | measured (min / median / max) |",
        "|---|---|---|---|",
    ]
    for path in sorted(OUT.glob("*.csv")):
        with path.open() as f:
            rows = list(csv.DictReader(f))
        seeds = [int(r["seed"]) for r in rows]
        passed = sum(r["status"] == "pass" for r in rows)
        numbers = []
        for key in (
            [k for k in rows[0] if k not in ("seed", "status", "seconds", "error")] if rows else []
        ):
            vals = [float(r[key]) for r in rows if r[key] not in ("", None)]
            if vals:
                numbers.append(
                    f"{key}: {min(vals):.3g} / {statistics.median(vals):.3g} / {max(vals):.3g}"
                )
        seed_text = f"{min(seeds)}-{max(seeds)}" if seeds else "-"
        lines.append(
            f"| {path.stem} | {seed_text} | {passed}/{len(rows)} | {'<br>'.join(numbers)} |"
        )
    failures = [
        f"- {p.stem}, seed {r['seed']}: {r['error']}"
        for p in sorted(OUT.glob("*.csv"))
        for r in csv.DictReader(p.open())
        if r["status"] != "pass"
    ]
    if failures:
        lines += ["", "## Failures", "", *failures]
    (OUT / "README.md").write_text("\n".join(lines) + "\n")


def parse_seeds(text: str) -> list[int]:
    """'0-9' or '0,3,5' -> list of ints."""
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("notebooks", nargs="*", help="lessons to run (default: all)")
    ap.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,4,7 (default 0-9)")
    ap.add_argument("--jobs", type=int, default=2, help="lessons run at once (default 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per lesson (default 1)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="replace the setup line NAME = ... (repeatable)")  # fmt: skip
    args = ap.parse_args(argv)
    settings = dict(s.split("=", 1) for s in args.set)
    variant = "".join(f"@{k}={v}" for k, v in settings.items())
    paths = args.notebooks or sorted(
        str(p) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )
    seeds = parse_seeds(args.seeds)
    OUT.mkdir(parents=True, exist_ok=True)
    failed = 0
    with ProcessPoolExecutor(args.jobs) as pool:
        jobs = {p: [pool.submit(run_one, p, s, args.threads, settings) for s in seeds]
                for p in paths}  # fmt: skip
        for p, futures in jobs.items():
            rows = [f.result() for f in futures]
            write_csv(OUT / f"{Path(p).stem}{variant}.csv", rows)
            bad = [r for r in rows if r["status"] != "pass"]
            failed += len(bad)
            print(
                f"{Path(p).stem}{variant}: {len(rows) - len(bad)}/{len(rows)} seeds pass",
                flush=True,
            )
            for r in bad:
                print(f"    seed {r['seed']}: {r['error']}", flush=True)
    write_summary()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
