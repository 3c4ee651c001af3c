"""Real processes against one checkpoint folder: the folder lock, and Ctrl-C during saves.

Two runs started together into one folder: exactly one trains, the other is refused at
once with the holder's pid. A holder killed with SIGKILL leaves the folder free. SIGINT
sent while checkpoints are being written is held until the file is complete.
"""

import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch

import workbench as wb
from workbench.checkpoint import store as ck
from workbench.checkpoint.lock import NAME as LOCK
from workbench.checkpoint.lock import FolderLock, FolderLocked
from workbench.data.models import MLP

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs flock and POSIX signals")

RUN = dict(epochs=40, lr=1e-2, seed=0, device="cpu")

TRAINER = r"""
import sys, time
import torch
torch.set_num_threads(1)
import workbench as wb
from workbench.checkpoint import store as ck
from workbench.data.models import MLP

data = torch.load(sys.argv[1], weights_only=True)


class Slow:  # a run long enough for a second one to start while it trains
    def on_epoch_end(self, history):
        print(f"epoch {history.epochs}", flush=True)
        time.sleep(0.1)


print("ready", flush=True)
for line in sys.stdin:
    folder, epochs = line.split()
    try:
        wb.fit(MLP((64, 16, 10)), data, epochs=int(epochs), lr=1e-2, seed=0, device="cpu",
               checkpoint=folder, resume="last", callbacks=[Slow()])
        print("trained", flush=True)
    except ck.CheckpointError as e:
        print("refused " + str(e).replace("\n", " "), flush=True)
"""


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    data = wb.data.load("digits", seed=0, train_size=200)
    torch.save((data.train, data.val), folder / "data.pt")
    (folder / "trainer.py").write_text(TRAINER)
    return folder


def start_trainer(data_file):
    proc = subprocess.Popen(
        [sys.executable, str(data_file / "trainer.py"), str(data_file / "data.pt")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.stdout.readline().strip() == "ready", "the trainer process did not start"
    return proc


def outcome(proc) -> str:
    """The trainer's last line for one run: "trained" or "refused ..." (epoch lines skipped)."""
    while (line := proc.stdout.readline().strip()).startswith("epoch"):
        pass
    return line


@pytest.mark.slow
def test_two_runs_started_together_into_one_folder_one_trains_one_is_refused(data_file, tmp_path):
    procs = [start_trainer(data_file) for _ in range(2)]
    try:
        for round_ in range(4):
            folder = tmp_path / f"round{round_}"
            for p in procs:  # both start at once, into the same empty folder
                p.stdin.write(f"{folder} 10\n")  # 10 epochs: over 1 s of training
                p.stdin.flush()
            results = {p.pid: outcome(p) for p in procs}
            trained = [pid for pid, r in results.items() if r == "trained"]
            refused = [r for r in results.values() if r.startswith("refused")]
            assert len(trained) == 1 and len(refused) == 1, (
                f"round {round_}: exactly one run may write the folder; got {results}"
            )
            assert f"pid {trained[0]} on host {socket.gethostname()}" in refused[0], (
                f"the refusal must name the process that holds the folder: {refused[0]}"
            )
            assert "another folder" in refused[0], f"and say what to do: {refused[0]}"
            assert ck.latest(folder).name == "epoch-0010.pt", "the winner's run is whole"
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=30)


@pytest.mark.slow
def test_a_killed_holder_leaves_the_folder_free(data_file, tmp_path):
    holder = start_trainer(data_file)
    try:
        holder.stdin.write(f"{tmp_path} 1000\n")
        holder.stdin.flush()
        lines = (line.strip() for line in holder.stdout)
        assert "epoch 2" in lines, "the holder did not train"  # epoch 1 is saved by then
        data = torch.load(data_file / "data.pt", weights_only=True)
        with pytest.raises(ck.CheckpointError, match=f"in use by another run .pid {holder.pid}"):
            wb.fit(MLP((64, 16, 10)), data, epochs=1, checkpoint=tmp_path, resume="last",
                   device="cpu")  # fmt: skip
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    lock = FolderLock(tmp_path)  # the OS dropped the dead process's lock
    lock.release()
    # ... and a resume continues the killed run in the same folder.
    h = wb.fit(MLP((64, 16, 10)), data, epochs=ck.load(ck.latest(tmp_path))["epoch"] + 1,
               lr=1e-2, seed=0, device="cpu", checkpoint=tmp_path, resume="last")  # fmt: skip
    assert h.epochs >= 2, "the resumed run goes on after the killed one's last checkpoint"


def test_a_lock_is_released_when_fit_fails_and_refuses_a_second_holder_meanwhile(tmp_path):
    first = FolderLock(tmp_path)
    with pytest.raises(FolderLocked, match=f"pid {os.getpid()}"):
        FolderLock(tmp_path)  # another run in this same process is refused as well
    first.release()

    class Boom:
        def on_epoch_end(self, history):
            raise RuntimeError("boom")

    data = [(torch.randn(8, 4), torch.randn(8, 1))] * 2
    with pytest.raises(RuntimeError, match="boom"):
        wb.fit(torch.nn.Linear(4, 1), data, epochs=2, checkpoint=tmp_path, callbacks=[Boom()])
    FolderLock(tmp_path).release()  # free again: a failed cell does not keep its folder


# Python's default Ctrl-C handler, as in a terminal, even when the suite runs in the
# background with SIGINT ignored (see tests/test_interrupt.py).
SAVER = r"""
import io, os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import torch
from workbench.checkpoint import store as ck

real_save = torch.save
writing = 0


def slow_save(obj, f, *args, **kwargs):
    # Write in pieces with pauses, so that most interrupts land in the middle of a save.
    global writing
    writing = obj["n"]
    buf = io.BytesIO()
    real_save(obj, buf, *args, **kwargs)
    raw = buf.getvalue()
    for i in range(0, len(raw), len(raw) // 4 + 1):
        f.write(raw[i : i + len(raw) // 4 + 1])
        f.flush()
        time.sleep(0.005)


torch.save = slow_save
path = sys.argv[1]
weights = torch.randn(20_000)
n = 0
while True:
    try:
        # Armed: from here on an interrupt lands inside this try, between or inside saves.
        print("armed", flush=True)
        while True:
            n += 1
            ck.save(path, {"format": ck.FORMAT, "n": n, "w": weights})
    except KeyboardInterrupt:
        saved = ck.load(path)["n"]
        temps = len([f for f in os.listdir(os.path.dirname(path)) if f.endswith(".tmp")])
        same = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        print(f"interrupt {writing} {saved} {temps} {same} {writing == n}", flush=True)
    except BaseException as e:
        print(f"error {type(e).__name__}: {e}".replace("\n", " "), flush=True)
"""


@pytest.mark.slow
def test_ctrl_c_during_saves_is_raised_only_once_the_file_is_complete(tmp_path):
    (tmp_path / "saver.py").write_text(SAVER)
    out = tmp_path / "files"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "saver.py"), str(out / "a.pt")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    rng = random.Random(0)

    lines_out = queue.Queue()
    threading.Thread(target=lambda: [lines_out.put(x) for x in proc.stdout], daemon=True).start()

    def reply(seconds: float) -> str | None:  # a line, or None if none came in time
        try:
            return lines_out.get(timeout=seconds).strip()
        except queue.Empty:
            return None

    try:
        lines, unanswered = [], 0
        for _ in range(20):
            armed = reply(120)
            assert armed == "armed", f"the saver did not start its saves: {armed!r}"
            time.sleep(rng.uniform(0.02, 0.1))
            proc.send_signal(signal.SIGINT)
            line = reply(20)
            while line is None and unanswered < 3:  # no answer: press again, as a student would
                unanswered += 1
                proc.send_signal(signal.SIGINT)
                line = reply(20)
            assert line is not None, "three Ctrl-Cs in a row went unanswered: the saver hangs"
            lines.append(line)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    # CPython drops a KeyboardInterrupt raised inside a finalizer ("Exception ignored in"), so
    # a press can, rarely, go unanswered; pressing again must work, and it may not be common.
    assert unanswered <= 2, f"{unanswered} of 20 Ctrl-Cs during saves went unanswered"
    mid_save = 0
    for line in lines:
        kind, *fields = line.split()
        assert kind == "interrupt", f"Ctrl-C must surface as KeyboardInterrupt, not: {line}"
        writing, saved, temps, same, during = fields
        mid_save += during == "True"
        assert saved == writing, (
            f"the save that had begun writing (n={writing}) must complete before the "
            f"interrupt is raised; the file holds n={saved}"
        )
        assert temps == "0" and same == "True", f"no temporary file left, handler restored: {line}"
    assert mid_save >= 5, f"only {mid_save} of 20 interrupts landed during a save: test too weak"


def test_the_lock_file_goes_on_release_and_a_replaced_one_is_not_taken(tmp_path):
    first = FolderLock(tmp_path)
    late = os.open(tmp_path / LOCK, os.O_RDWR)  # a newcomer opens the file just then ...
    first.release()  # ... the holder removes it and unlocks ...
    assert not (tmp_path / LOCK).exists(), "a run that ends removes its lock file"
    third = FolderLock(tmp_path)  # ... and a third run locks a new file at the same path
    newcomer = object.__new__(FolderLock)
    newcomer.path, newcomer._fd = tmp_path / LOCK, None
    assert newcomer._take(late) is None, (
        "the newcomer's lock on the removed file must not count: two runs would hold the folder"
    )
    with pytest.raises(FolderLocked, match=f"pid {os.getpid()}"):
        FolderLock(tmp_path)  # the retry finds the third run's lock
    third.release()
