"""Crash safety: SIGKILL a training run at random moments, resume it, lose nothing.

A worker process imports torch once (slow) and forks a fresh training process for each
attempt (fast). Each attempt resumes from the newest checkpoint and is killed with SIGKILL
after a random delay; the saves are slowed down so that many kills land in the middle of
writing a file. After every kill the newest checkpoint must load, and every run, however
often it was killed, must end with the same history and bit-identical weights as a run
that was never interrupted.
"""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import workbench as wb
from workbench.checkpoint import store as ck

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork and SIGKILL")

WORKER = r"""
import io, os, signal, sys, time, traceback
import torch
torch.set_num_threads(1)  # no thread pool in the parent: forking stays safe
import workbench as wb
from workbench.checkpoint import store as ck
from workbench.data.models import MLP
from workbench.stopping import Patience

data = torch.load(sys.argv[1], weights_only=True)
RUN = dict(epochs=40, lr=1e-2, stop=Patience(5), restore_best=True, device="cpu")
real_save = torch.save


def slow_save(obj, f, *args, **kwargs):
    # Write half the bytes, pause, write the rest: a kill can land mid-save.
    buf = io.BytesIO()
    real_save(obj, buf, *args, **kwargs)
    raw = buf.getvalue()
    f.write(raw[: len(raw) // 2])
    f.flush()
    time.sleep(0.01)
    f.write(raw[len(raw) // 2 :])


def train(folder, out):
    model = MLP((64, 32, 10), dropout=0.2)
    kw = dict(checkpoint=folder, resume="last") if folder != "-" else {}
    history = wb.fit(model, data, **RUN, **kw)
    ck.save(out, {"format": ck.FORMAT, "model": model.state_dict(), "history": history.to_dict()})


wb.fit(MLP((64, 32, 10)), data, epochs=1, device="cpu")  # warm up once, before forking
torch.save = slow_save
print("ready", flush=True)
for line in sys.stdin:
    delay, folder, out = line.split()
    pid = os.fork()
    if pid == 0:
        try:
            train(folder, out)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    deadline = time.monotonic() + float(delay)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
            break
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print("killed", flush=True)
            break
        time.sleep(0.0005)
"""


class Worker:
    """The forking worker: ``attempt(delay, folder, out)`` -> "killed" or "exit 0"."""

    def __init__(self, tmp_path: Path):
        data = wb.data.load("digits", seed=0, train_size=200)
        torch.save((data.train, data.val, data.test), tmp_path / "data.pt")
        (tmp_path / "worker.py").write_text(WORKER)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(tmp_path / "worker.py"), str(tmp_path / "data.pt")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def attempt(self, delay: float, folder, out) -> str:
        self.proc.stdin.write(f"{delay} {folder} {out}\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def result(out: Path):
    state = ck.load(out)
    return state["model"], wb.History.from_dict(state["history"])


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_the_run(tmp_path):
    started = time.monotonic()
    worker = Worker(tmp_path)
    try:
        t0 = time.monotonic()
        assert worker.attempt("inf", "-", tmp_path / "reference.pt") == "exit 0"
        t_full = time.monotonic() - t0  # one uninterrupted run, without checkpoints
        print(f"startup {t0 - started:.1f} s, reference run {t_full:.2f} s")
        ref_weights, ref_history = result(tmp_path / "reference.pt")
        assert ref_history.stop is not None and ref_history.epochs < 40  # the rule fires

        rng = random.Random(0)
        kills, mid_save, finished, attempts, epochs_at_kill = 0, 0, 0, 0, set()
        run = 0
        folder = tmp_path / f"run{run}"
        while True:
            attempts += 1
            assert attempts < 200, "the runs never finish: is resuming making progress?"
            before = ck.latest(folder)  # pruned once a newer one is saved: keep its epoch
            before = 0 if before is None else int(before.stem.removeprefix("epoch-"))
            # Kill anywhere from before the first save to near the end; after 24 kills, let
            # the run finish.
            delay = rng.uniform(0, t_full) if kills < 24 else "inf"
            out = tmp_path / f"out{attempts}.pt"
            outcome = worker.attempt(delay, folder, out)
            if outcome == "killed":
                kills += 1
                epochs_at_kill.add(before)
                mid_save += any(folder.glob(".epoch-*.tmp"))  # a half-written temporary file
                newest = ck.latest(folder)
                if newest is not None:
                    state = ck.load(newest)  # the newest checkpoint always loads
                    assert state["epoch"] >= before  # progress is never lost
                continue
            assert outcome == "exit 0", outcome
            weights, history = result(out)
            assert history.without("seconds") == ref_history.without("seconds")
            assert history.stop == ref_history.stop
            assert history.best_epoch == ref_history.best_epoch
            assert weights.keys() == ref_weights.keys()
            assert all(torch.equal(weights[k], ref_weights[k]) for k in weights)
            assert not list(folder.glob(".epoch-*.tmp"))  # leftovers were cleaned up
            finished += 1
            if kills >= 24:
                break
            run += 1
            folder = tmp_path / f"run{run}"
    finally:
        worker.close()
    print(
        f"{kills} kills ({mid_save} mid-save, resumed from {len(epochs_at_kill)} different "
        f"epochs) over {finished} runs in {attempts} attempts, "
        f"{time.monotonic() - started:.1f} s"
    )
    assert kills >= 20 and mid_save >= 3 and kills - mid_save >= 1 and len(epochs_at_kill) >= 5
