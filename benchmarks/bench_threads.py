"""fit at 1 against 2 threads over step sizes, alone and beside a CPU hog: where the crossover is.

`workbench.train.threads.SMALL_STEP_FLOPS` comes from this table. Each workload is an MLP or the
lessons' SmallCNN (its width changed) on the digits, at a batch size; its step size is
counted as fit counts it (`workbench.train.threads.step_flops`). For each, `wb.fit` trains a
few epochs at `threads=1` and at `threads=2`, interleaved (the order alternates), alone
and with a process that keeps one core busy (a busy laptop); the table reports median
seconds per epoch and the ratio 2 threads / 1 thread (below 1: two threads are faster).

    python benchmarks/bench_threads.py                 # 5 repeats
    python benchmarks/bench_threads.py --quick --json benchmarks/results_threads.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import torch

import workbench as wb
from workbench.data.models import MLP, SmallCNN
from workbench.train.threads import SMALL_STEP_FLOPS, step_flops

HOG = "while True: pass"  # another program that keeps one core busy
TARGET_S = 0.15  # each measurement trains about this long at 1 thread, alone


def workloads() -> dict:
    """name -> (data, model factory, batch size), from about 1e6 to 4e9 operations a step."""
    flat = wb.data.load("digits", seed=0, test_size=0)
    images = wb.data.load("digits", seed=0, test_size=0, images=True)
    out = {}
    for width, bs in ((32, 64), (128, 64), (128, 256), (512, 64), (1024, 64), (2048, 64)):
        out[f"MLP 64-{width}-{width}-10, batch {bs}"] = (
            flat, lambda w=width: MLP((64, w, w, 10)), bs
        )  # fmt: skip
    for channels in (4, 8, 16, 32, 64):
        name = f"SmallCNN({channels} channels){' (lesson 07, W3)' if channels == 16 else ''}"
        out[name] = (images, lambda c=channels: SmallCNN(channels=c), 64)
    return out


def epoch_seconds(data, make_model, bs, epochs, threads) -> float:
    model = make_model()
    start = time.perf_counter()
    wb.fit(model, data, epochs=epochs, batch_size=bs, device="cpu", threads=threads)
    return (time.perf_counter() - start) / epochs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    loads = workloads()
    flops, epochs, picks = {}, {}, {}
    for name, (data, make_model, bs) in loads.items():
        flops[name] = step_flops(make_model(), data.train[0], bs)
        picks[name] = 1 if flops[name] < SMALL_STEP_FLOPS else 2
        epoch_seconds(data, make_model, bs, 1, 1)  # warm-up
        one = epoch_seconds(data, make_model, bs, 1, 1)
        epochs[name] = max(1, round(TARGET_S / one))
    order = sorted(loads, key=flops.get)
    times = {(name, cond, n): [] for name in order for cond in ("quiet", "hog") for n in (1, 2)}
    for rep in range(repeats):
        for cond in ("quiet", "hog") if rep % 2 == 0 else ("hog", "quiet"):
            hog = subprocess.Popen([sys.executable, "-c", HOG]) if cond == "hog" else None
            try:
                time.sleep(0.3 if hog else 0)  # let it take its core
                for name in order:
                    data, make_model, bs = loads[name]
                    for n in (1, 2) if rep % 2 == 0 else (2, 1):
                        times[name, cond, n].append(
                            epoch_seconds(data, make_model, bs, epochs[name], n)
                        )
            finally:
                if hog:
                    hog.kill()
                    hog.wait()
        print(f"repeat {rep + 1} of {repeats} done", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    env = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
    env += f"{torch.get_num_threads()} threads by default, {len(order)} workloads"
    print(f"\n{env}; median of {repeats} interleaved repeats; fit's default: one thread under "
          f"{SMALL_STEP_FLOPS:.0e} operations a step\n")  # fmt: skip
    print("| workload | operations a step | fit's default | quiet: 1 thread | 2 threads | 2/1 "
          "| beside a hog: 1 thread | 2 threads | 2/1 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    results = {}
    for name in order:
        row = {"step_flops": flops[name], "epochs": epochs[name], "fit_threads": picks[name]}
        cells = [f"{flops[name]:.2g}", str(picks[name])]
        for cond in ("quiet", "hog"):
            one, two = med[name, cond, 1], med[name, cond, 2]
            row[cond] = {"1": 1000 * one, "2": 1000 * two, "ratio": two / one}
            cells += [f"{1000 * one:.1f} ms", f"{1000 * two:.1f} ms", f"{two / one:.2f}"]
        results[name] = row
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            what = ("ms per epoch of wb.fit (train + validation pass) at threads=1 and "
                    "threads=2, alone and beside a 'while True: pass' process")  # fmt: skip
            json.dump({"env": env, "repeats": repeats, "what": what, "results": results}, f,
                      indent=2)  # fmt: skip
    return results


if __name__ == "__main__":
    main()
