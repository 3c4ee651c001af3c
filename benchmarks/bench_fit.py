"""Seconds per epoch of `wb.fit` against a hand-written tight loop and common alternatives.

Every contender trains the same model from the same initial weights on the same tensors,
and one epoch is a training pass plus a full validation pass. Contenders are interleaved
within each repeat, so that a slow spell on a shared machine hits all of them alike, and
the table reports medians and ratios to the tight loop measured in this one run.

    python benchmarks/bench_fit.py                 # all workloads (a few minutes on 2 cores)
    python benchmarks/bench_fit.py --quick         # fewer repeats
    python benchmarks/bench_fit.py --live          # + live curve on/off in a kernel, W1
    python benchmarks/bench_fit.py --rules         # + each stop rule's cost per epoch
    python benchmarks/bench_fit.py --hog           # + lesson 00, W1 and W3 beside a CPU hog
    python benchmarks/bench_fit.py --device cuda --large   # + a 500k-sample GPU workload
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

import workbench as wb
from workbench.data.datasets import Data
from workbench.data.models import MLP, SmallCNN


def workload(name: str, device: torch.device):
    """Return (data, model factory, batch size) for W1, W2, W3 or L (large, for GPUs)."""
    if name == "W1":
        return wb.data.load("digits", seed=0, test_size=0), lambda: MLP((64, 128, 128, 10)), 64
    if name == "W3":
        data = wb.data.load("digits", seed=0, test_size=0, images=True)
        return data, lambda: SmallCNN(), 64
    from sklearn.datasets import make_classification

    n = 50_000 if name == "W2" else 500_000
    X, y = make_classification(n, n_features=64, n_informative=32, n_classes=10, random_state=0)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor(y)
    cut = int(0.8 * n)
    data = Data((X[:cut], y[:cut]), (X[cut:], y[cut:]), None, "classification", 64, 10, name)
    return data, lambda: MLP((64, 128, 128, 10)), 256 if name == "W2" else 1024


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_wb(data, make_model, bs, epochs, device, threads=None):
    """fit with a stop rule, at the thread count it picks (`workbench.train.threads`)."""
    model = make_model()
    stop = wb.stopping.Patience(10_000)  # a real rule, evaluated every epoch, never firing
    wb.fit(model, data, epochs=epochs, stop=stop, batch_size=bs, device=device, threads=threads)


def run_wb_same_threads(data, make_model, bs, epochs, device):
    """fit at torch's thread count, as the other contenders run: this compares the loops."""
    run_wb(data, make_model, bs, epochs, device, threads=torch.get_num_threads())


def run_tight(data, make_model, bs, epochs, device):
    """The loop a careful engineer writes by hand: on-device data, randperm, one sync/epoch."""
    model = make_model().to(device)
    X, y = (t.to(device) for t in data.train)
    Xv, yv = (t.to(device) for t in data.val)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    except (RuntimeError, TypeError):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(0)
    n = len(X)
    for _ in range(epochs):
        model.train()
        total = torch.zeros((), device=device)
        perm = torch.randperm(n, generator=gen, device=gen.device).to(device)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            loss = F.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        model.eval()
        with torch.no_grad():
            out = model(Xv)
            val = torch.stack([F.cross_entropy(out, yv), (out.argmax(1) == yv).float().mean()])
        torch.cat([(total / n).reshape(1), val]).tolist()


def run_dataloader(data, make_model, bs, epochs, device):
    """The tutorial loop: a DataLoader, a .item() per batch."""
    from torch.utils.data import DataLoader, TensorDataset

    model = make_model().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(*data.train), batch_size=bs, shuffle=True)
    Xv, yv = (t.to(device) for t in data.val)
    for _ in range(epochs):
        model.train()
        running = 0.0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
        model.eval()
        with torch.no_grad():
            out = model(Xv)
            F.cross_entropy(out, yv).item(), (out.argmax(1) == yv).float().mean().item()


def run_sklearn(data, make_model, bs, epochs, device):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = (t.numpy() for t in data.train)
    Xv, yv = (t.numpy() for t in data.val)
    clf = MLPClassifier((128, 128), batch_size=bs, learning_rate_init=1e-3, random_state=0)
    classes = np.arange(data.n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            clf.partial_fit(X, y, classes=classes)
            clf.score(Xv, yv)


LIVE_SETUP = """
import time, torch, workbench as wb
torch.set_num_threads({threads})
data = wb.data.load("digits", seed=0, test_size=0)

class EpochClock:  # from the first epoch's start to the last epoch's end
    def on_fit_start(self, history, info):
        self.start = time.perf_counter()
    def on_epoch_end(self, history):
        self.end = time.perf_counter()

def run(live):
    clock, curve = EpochClock(), wb.LiveCurve() if live else False
    start = time.perf_counter()
    wb.fit(wb.models.MLP((64, 128, 128, 10)), data, epochs={epochs}, batch_size=64,
           stop=wb.stopping.Patience(10_000), live=curve, callbacks=[clock])
    fit_s = time.perf_counter() - start
    draws = curve.draws_ if live else 0
    print("RESULT", fit_s, clock.end - clock.start, draws)
"""


def live_overhead(device, repeats: int, epochs: int = 150) -> dict:
    """W1 with the live curve on and off, interleaved, in a real Jupyter kernel.

    Each run is one cell, as in a lesson: the chart is displayed, its updates go out over
    the kernel's channels (nobody draws them here: the page's work is in the browser test)
    and the final picture is drawn when the cell ends. Reported: the fit's seconds on and
    off (the cost inside the run), the whole cell's seconds on and off (with the picture),
    and how many updates a second the page got during the epochs.
    """
    from jupyter_client.manager import start_new_kernel

    if device.type != "cpu":
        return {}
    km, kc = start_new_kernel(kernel_name="python3")
    results = {False: [], True: []}

    def cell(code: str) -> tuple[float, list]:
        lines = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                lines.extend(msg["content"]["text"].splitlines())
            elif msg["msg_type"] == "error":
                raise RuntimeError("\n".join(msg["content"]["traceback"]))

        start = time.perf_counter()
        kc.execute_interactive(code, output_hook=hook, timeout=600)
        return time.perf_counter() - start, lines

    try:
        cell(LIVE_SETUP.format(threads=torch.get_num_threads(), epochs=epochs))
        for rep in range(repeats + 1):
            for live in (False, True) if rep % 2 else (True, False):
                cell_s, lines = cell(f"run({live})")
                fit_s, epochs_s, draws = next(
                    map(float, ln.split()[1:]) for ln in lines if ln.startswith("RESULT")
                )
                if rep:  # the first pair is a warm-up (imports, font caches)
                    results[live].append((fit_s, cell_s, epochs_s, draws))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    med = {k: [statistics.median(col) for col in zip(*v, strict=True)] for k, v in results.items()}
    (off_s, off_cell, _, _), (on_s, on_cell, on_epochs, draws) = med[False], med[True]
    return {"epochs": epochs, "off_s": off_s, "on_s": on_s, "ratio": on_s / off_s,
            "off_cell_s": off_cell, "on_cell_s": on_cell, "cell_ratio": on_cell / off_cell,
            "draws": int(draws), "updates_per_s": draws / on_epochs,
            "epochs_per_s": epochs / on_epochs}  # fmt: skip


def quiet_rules() -> dict:
    """Every rule with settings that never fire on `rule_history`: fit would stop there."""
    s = wb.stopping
    return {
        "Patience": s.Patience(10**6),
        "Threshold": s.Threshold(-1.0),
        "Divergence": s.Divergence(1e9),
        "NonFinite": s.NonFinite(),
        "RelativeChange": s.RelativeChange(1e-12),
        "GeneralizationLoss": s.GeneralizationLoss(1e9),
        "ProgressQuotient": s.ProgressQuotient(1e9, strip=5),
        "UpStrips": s.UpStrips(10**6, strip=5),  # a rising loss: its count keeps growing
    }


def rule_history(n: int) -> dict:
    """A run of `n` epochs: falling training loss, validation loss that rises throughout."""
    return {
        "epoch": list(range(1, n + 1)),
        "train_loss": [1 / (1 + 0.01 * i) for i in range(n)],
        "val_loss": [1 + 1e-4 * i + 1e-5 * math.sin(i) for i in range(n)],
    }


def rule_cost(lengths=(100, 1_000, 10_000), last: int = 100) -> dict:
    """Microseconds per epoch that fit spends on its rule (the rule with fit's NaN guard).

    fit carries the rule's state and calls `rule.step` once per epoch; the cost at a run
    length n is the median step time over epochs n-last+1..n (a median, so that one
    preemption on a shared machine does not count as the rule's), after stepping the epochs
    before as fit does. The history grows as in fit, so nothing can look ahead.
    """
    guard = wb.stopping.NonFinite("train_loss") | wb.stopping.NonFinite("val_loss")
    out = {}
    for name, rule in quiet_rules().items():
        rule = guard | rule
        out[name] = {}
        for n in lengths:
            full, grown = rule_history(n), {k: [] for k in ("epoch", "train_loss", "val_loss")}
            state, seconds = rule.start(), []
            for epoch in range(1, n + 1):
                for key, values in grown.items():
                    values.append(full[key][epoch - 1])
                start = time.perf_counter()
                state, stop = rule.step(state, grown, epoch)
                if epoch > n - last:
                    seconds.append(time.perf_counter() - start)
                assert stop is None, f"{name} fired at epoch {epoch}: the benchmark is wrong"
            out[name][str(n)] = 1e6 * statistics.median(seconds)
    return out


HOG = "while True: pass"  # another program that keeps one core busy
HOG_LIMIT = 2.0  # lesson 00 beside a hog may take at most twice its quiet time (issue 13)
TORCH_THREADS = torch.get_num_threads()  # torch's own choice, before --threads changes it


def lesson00(threads=None) -> float:
    """Seconds of lesson 00's training cell (digits, MLP 64-128-128-10, Patience(5))."""
    data = wb.data.load("digits", seed=0, train_size=300)
    model = MLP((64, 128, 128, 10), seed=0)
    start = time.perf_counter()
    wb.fit(model, data, epochs=100, stop=wb.stopping.Patience(5), restore_best=True, seed=0,
           device="cpu", threads=threads)  # fmt: skip
    return time.perf_counter() - start


def hog_case(repeats: int) -> dict:
    """Lesson 00's training alone and beside a CPU hog, with fit's threads and with torch's
    default (what fit used before it chose; with it, lesson 00 took 28 s instead of 1 s).

    The ratio hog / quiet must stay at most 2 with fit's choice (issue 13: a busy laptop).
    """
    threads = {"fit's choice": None, f"torch's {TORCH_THREADS}": TORCH_THREADS}
    lesson00()  # warm-up
    out = {}
    for label, n in threads.items():
        quiet, busy = [], []
        for _ in range(repeats):
            quiet.append(lesson00(n))
            hog = subprocess.Popen([sys.executable, "-c", HOG])
            try:
                time.sleep(0.3)  # let it take its core
                busy.append(lesson00(n))
            finally:
                hog.kill()
                hog.wait()
        q, b = statistics.median(quiet), statistics.median(busy)
        out[label] = {"quiet_s": q, "hog_s": b, "ratio": b / q}
        verdict = "within" if b / q <= HOG_LIMIT else "OVER"
        print(f"lesson 00, threads {label}: quiet {q:.2f} s, hog {b:.2f} s ({b / q:.2f}x, "
              f"{verdict} the {HOG_LIMIT:g}x limit)")  # fmt: skip
    return out


CONTENDERS = {
    "tight loop": run_tight,
    "wb.fit": run_wb,
    "wb.fit, torch's threads": run_wb_same_threads,
    "DataLoader loop": run_dataloader,
    "sklearn MLP": run_sklearn,
}


def measure(fn, args, epochs, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn(*args, epochs, device)
    sync(device)
    return (time.perf_counter() - start) / epochs


def compare(names, device, repeats: int, epochs: dict) -> dict:
    """Each workload's median seconds per epoch for every contender, interleaved."""
    results = {}
    for name in names:
        data, make_model, bs = workload(name, device)
        contenders = dict(CONTENDERS)
        if name == "W3" or device.type != "cpu":
            contenders.pop("sklearn MLP")  # no CNN in sklearn; and it runs on the CPU only
        times = {c: [] for c in contenders}
        for fn in contenders.values():  # warm-up: first calls pay for lazy initialisation
            fn(data, make_model, bs, 1, device)
        for rep in range(repeats):
            order = list(contenders) if rep % 2 == 0 else list(reversed(contenders))
            for c in order:
                times[c].append(
                    measure(contenders[c], (data, make_model, bs), epochs[name], device)
                )
        med = {c: statistics.median(t) for c, t in times.items()}
        results[name] = {
            c: {"ms_per_epoch": 1000 * m, "ratio": m / med["tight loop"]} for c, m in med.items()
        }
        print(f"{name}: " + ", ".join(f"{c} {1000 * m:.1f} ms" for c, m in med.items()), flush=True)
    return results


def beside_hog(names, device, repeats: int, epochs: dict) -> dict:
    """`compare` with another process keeping one core busy throughout (a busy laptop)."""
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        time.sleep(0.3)  # let it take its core
        return compare(names, device, repeats, epochs)
    finally:
        hog.kill()
        hog.wait()


def print_table(workloads: dict) -> None:
    cols = list(dict.fromkeys(c for r in workloads.values() for c in r))
    print("| workload | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, r in workloads.items():
        cells = [
            f"{r[c]['ms_per_epoch']:.1f} ms ({r[c]['ratio']:.2f}x)" if c in r else "-" for c in cols
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="*", default=["W1", "W2", "W3"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--large", action="store_true", help="add the 500k-sample workload L")
    parser.add_argument("--live", action="store_true", help="measure the live-curve overhead")
    parser.add_argument("--rules", action="store_true", help="measure each rule's cost")
    parser.add_argument("--hog", action="store_true", help="+ lesson 00, W1, W3 beside a hog")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = wb.pick_device(args.device)
    repeats = 3 if args.quick else args.repeats
    names = args.workloads + (["L"] if args.large else [])
    epochs = {"W1": 20, "W2": 3, "W3": 10, "L": 3}
    results = compare(names, device, repeats, epochs)
    if args.live:
        results["live"] = live_overhead(device, repeats)
    if args.rules:
        results["rules_us_per_epoch"] = rule_cost()
    if args.hog:
        results["hog"] = hog_case(repeats)
        names_hog = [n for n in names if n in ("W1", "W3")]  # the small steps it is about
        print("beside a CPU hog:")
        results["beside a hog"] = beside_hog(names_hog, device, repeats, epochs)

    env = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
    env += f"{torch.get_num_threads()} threads, device {device}"
    if device.type == "cuda":
        env += f" ({torch.cuda.get_device_name()})"
    print(f"\n{env}; median of {repeats} interleaved repeats\n")
    extras = ("live", "rules_us_per_epoch", "hog", "beside a hog")  # printed on their own
    print_table({k: r for k, r in results.items() if k not in extras})
    if "beside a hog" in results:
        print("\nbeside a process that keeps one core busy:\n")
        print_table(results["beside a hog"])
    if "live" in results:
        live = results["live"]
        print(
            f"\nlive curve on W1, {live['epochs']} epochs in a kernel: fit off {live['off_s']:.2f} s, "
            f"on {live['on_s']:.2f} s ({live['ratio']:.3f}x); cell with the final picture "
            f"{live['cell_ratio']:.3f}x; {live['updates_per_s']:.0f} updates/s at "
            f"{live['epochs_per_s']:.0f} epochs/s"
        )
    if "rules_us_per_epoch" in results:
        w1 = results.get("W1", {}).get("wb.fit", {}).get("ms_per_epoch")
        print("\n| rule (with fit's NaN guard) | 100 epochs | 1,000 | 10,000 |")
        print("|---|---|---|---|")
        for name, cost in results["rules_us_per_epoch"].items():
            cells = [
                f"{us:.1f} us" + (f" ({us / 10 / w1:.3f}%)" if w1 else "") for us in cost.values()
            ]
            print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, "repeats": repeats, "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
