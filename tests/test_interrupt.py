"""The stop button: SIGINT during fit lands between optimizer steps, and the run is kept.

A child process trains again and again; the test sends it a real SIGINT at a random moment
of each run. Saves are slowed down so that many interrupts arrive in the middle of writing
a checkpoint. After each one the child reports what a student would find: the exception,
the history, the optimizer's per-parameter step counts, the weights, the checkpoint folder.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

import workbench as wb
from workbench.data.models import MLP
from workbench.train.interrupt import Interrupted, StopButton

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")

# A process started in the background by a non-interactive shell (`nohup make test &`, some
# CI runners) inherits SIGINT ignored, and Python then keeps it ignored; fit respects that.
# A terminal or a Jupyter kernel has Python's default handler: the children put it back.
CHILD = r"""
import json, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import torch
import torch.nn.functional as F
import workbench as wb
from workbench.checkpoint import store as ck
from workbench.data.models import MLP

data = wb.data.load("digits", seed=0, train_size=300, test_size=0)
real_save = torch.save


def slow_save(obj, f, *args, **kwargs):  # a slow disk: interrupts often land mid-save
    time.sleep(0.01)
    real_save(obj, f, *args, **kwargs)


torch.save = slow_save
made = []


def adam(params, lr):  # the plain (not fused) Adam updates its parameters one by one
    made.append(torch.optim.Adam(params, lr=lr))
    return made[-1]


class Spy:
    def on_fit_start(self, history, info):
        self.end = None
        print("READY", flush=True)

    def on_fit_end(self, history):
        self.end = None if history.stop is None else history.stop.reason


for run in range(int(sys.argv[2])):
    folder = f"{sys.argv[1]}/run{run}"
    spy, model = Spy(), MLP((64, 64, 10), seed=run)
    threads = torch.get_num_threads()
    report = {}
    try:
        wb.fit(model, data, epochs=10_000, opt=adam, lr=1e-2, restore_best=True, seed=run,
               device="cpu", checkpoint=folder, callbacks=[spy])
        report["error"] = "fit returned although it was interrupted"
    except KeyboardInterrupt as err:
        h = err.history
        opt = made[-1]
        steps = sorted({int(opt.state[p]["step"]) for p in model.parameters()})
        val_loss = wb.evaluate(model, *data.val, F.cross_entropy, True)[0].item()
        path = ck.latest(folder)
        saved = ck.load(path) if path else None
        report = {
            "type": type(err).__name__, "message": str(err),
            "is_last": h is wb.last_history(), "rendered": err._render_traceback_(),
            "epochs": len(h["epoch"]), "stop": [h.stop.epoch, h.stop.reason, h.stop.rule],
            "seen_at_end": spy.end, "steps": steps, "best_epoch": h.best_epoch,
            "val_loss": val_loss, "history_val_loss": h["val_loss"],
            "handler_restored": repr(signal.getsignal(signal.SIGINT)),
            "threads_restored": torch.get_num_threads() == threads,
        }
        if saved is not None:
            fresh = MLP((64, 64, 10))
            fresh.load_state_dict(saved["model"])  # the weights fit the model
            saved_steps = {int(s["step"]) for s in saved["optimizer"]["state"].values()}
            report["saved"] = {
                "epoch": saved["epoch"], "steps": sorted(saved_steps),
                "val_loss": saved["history"]["metrics"]["val_loss"],
            }
    print("REPORT " + json.dumps(report), flush=True)
"""

RUNS = 8


def test_sigint_lands_between_steps_and_keeps_the_run(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), str(RUNS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    rng, reports = random.Random(), []
    watchdog = threading.Timer(300, child.kill)  # a lost Ctrl-C must fail, not hang the suite
    watchdog.start()
    try:
        for line in child.stdout:
            if line.startswith("READY"):
                time.sleep(rng.uniform(0.0, 1.0))  # anywhere: a step, an evaluation, a save
                child.send_signal(signal.SIGINT)
            elif line.startswith("REPORT "):
                reports.append(json.loads(line[len("REPORT ") :]))
        child.wait(timeout=120)
    finally:
        watchdog.cancel()
        child.kill()
    assert child.returncode == 0, f"the child failed:\n{child.stderr.read()[-3000:]}"
    assert len(reports) == RUNS, f"expected {RUNS} reports, got {reports}"
    steps_per_epoch = 300 // 64 + 1
    for r in reports:
        assert "error" not in r, r.get("error")
        assert r["type"] == "Interrupted", "the stop button raises Interrupted"
        assert "wb.last_history()" in r["message"] and r["is_last"], "the message names the run"
        assert len(r["rendered"]) == 1, "IPython shows one line, not a traceback into torch"
        epoch, reason, rule = r["stop"]
        assert rule == "Interrupted" and reason.startswith("interrupted"), r["stop"]
        assert epoch == r["epochs"] and isinstance(epoch, int), "the last finished epoch"
        assert r["seen_at_end"] == reason, "the callbacks' on_fit_end saw the final history"
        assert len(r["steps"]) == 1, f"Adam's step counts differ between parameters: {r['steps']}"
        assert r["handler_restored"] == repr(signal.default_int_handler), (
            f"fit must put back the Ctrl-C handler it replaced; found {r['handler_restored']}"
        )
        assert r["threads_restored"], "fit must put back torch's thread count"
        if r["best_epoch"] is not None:  # restore_best loaded the best epoch's weights
            best = r["history_val_loss"][r["best_epoch"] - 1]
            assert r["val_loss"] == pytest.approx(best, rel=1e-5), "restore_best was applied"
        saved = r.get("saved")
        if r["epochs"]:
            assert saved is not None, "every finished epoch was saved (checkpoint every 1)"
        if saved is not None:
            assert saved["epoch"] == r["epochs"], "the newest checkpoint is the last epoch"
            assert saved["steps"] == [saved["epoch"] * steps_per_epoch], (
                "the checkpoint's optimizer state is that of a whole number of epochs"
            )
            assert saved["val_loss"] == r["history_val_loss"], "the checkpoint's history agrees"


def test_interrupted_message_and_rendering():
    h = wb.History({"epoch": [1, 2], "val_loss": [0.5, 0.4]})
    h.stop = wb.stopping.Stop(2, "interrupted in epoch 3, after step 4 of 5", "Interrupted")
    err = Interrupted(h)
    assert isinstance(err, KeyboardInterrupt), "Run All must halt at the cell"
    assert err.history is h
    assert str(err).startswith("Training interrupted in epoch 3") and "wb.last_history()" in str(
        err
    )
    assert err._render_traceback_() == [f"Interrupted: {err}"], "one line in IPython"


@pytest.fixture
def sigint():
    """Sets SIGINT's handler for one test (the worker may run with it ignored), then puts
    back the worker's own."""
    worker = signal.getsignal(signal.SIGINT)
    yield lambda handler: signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGINT, worker)


def test_stop_button_restores_the_previous_handler(sigint):
    sigint(signal.default_int_handler)
    with StopButton() as button:
        assert signal.getsignal(signal.SIGINT) != signal.default_int_handler, (
            "SIGINT only sets a flag during fit"
        )
        signal.raise_signal(signal.SIGINT)
    assert button.pressed, "the flag was set instead of raising KeyboardInterrupt"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the old handler is back"


def test_an_ignored_sigint_stays_ignored(sigint, tmp_path):
    # A job started in the background (`nohup python train.py &`) ignores Ctrl-C on purpose:
    # neither the stop button nor a checkpoint save may turn a SIGINT into a stop.
    sigint(signal.SIG_IGN)
    seen = []

    class Press:
        def on_epoch_end(self, history):
            signal.raise_signal(signal.SIGINT)
            seen.append(signal.getsignal(signal.SIGINT))

    data = wb.data.load("iris", seed=0)
    h = wb.fit(MLP((4, 8, 3)), data, epochs=3, device="cpu", checkpoint=tmp_path,
               callbacks=[Press()])  # fmt: skip
    assert len(h["epoch"]) == 3 and h.stop is None, f"an ignored SIGINT stopped fit: {h.stop}"
    assert seen == [signal.SIG_IGN] * 3, f"fit replaced the ignored handler with {seen}"
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN, "still ignored after fit"


def test_last_history_is_the_latest_run():
    data = wb.data.load("iris", seed=0)
    h = wb.fit(MLP((4, 8, 3)), data, epochs=2, device="cpu")
    assert wb.last_history() is h, "wb.last_history() returns the latest run's history"
    assert torch.get_num_threads() == 1, "the suite's thread count is unchanged"


def test_doctests():
    import doctest

    import workbench.train.interrupt
    import workbench.train.threads

    for module in (workbench.train.interrupt, workbench.train.threads):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, f"{module.__name__} examples hold"
