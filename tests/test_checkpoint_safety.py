"""Checkpoints lose nothing and say what is wrong: the data-loss and message cases of issue 11.

Each test reproduces a case in which the checkpoint code deleted files, loaded a damaged
one, or gave a misleading error, and checks the behaviour that replaced it.
"""

import contextlib
import os
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import workbench as wb
from workbench.checkpoint import store as ck
from workbench.checkpoint.resume import plain
from workbench.data.models import MLP

FAST = dict(lr=3e-2, device="cpu")


@pytest.fixture(scope="module")
def digits():
    return wb.data.load("digits", seed=0, train_size=200)


def small(seed=0):
    return MLP((64, 32, 10), seed=seed)


def kept(folder):
    return sorted(int(p.stem[6:]) for p in folder.glob("epoch-*.pt"))


class FailAt:
    """A callback that raises at the end of epoch `epoch`: an error in the middle of a run."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, history):
        if history.epochs == self.epoch:
            raise RuntimeError(f"an error in epoch {self.epoch}")


# --- keep_best ranks by its own monitor -------------------------------------------------------


def test_keep_best_on_an_accuracy_keeps_the_highest_whatever_fit_monitors(digits, tmp_path):
    policy = ck.Checkpointer(tmp_path, keep_best=1, monitor="val_acc")  # fit watches val_loss
    h = wb.fit(small(), digits, epochs=9, checkpoint=policy, **FAST)
    best = max(range(1, 10), key=lambda e: (h["val_acc"][e - 1], -e))
    assert kept(tmp_path) == sorted({9, best}), (
        f"keep_best=1 on val_acc must keep the epoch with the highest accuracy ({best}, "
        f"val_acc {h['val_acc'][best - 1]}) besides the last; kept {kept(tmp_path)}"
    )


def test_keep_best_mode_can_be_given_and_is_checked(digits, tmp_path):
    policy = ck.Checkpointer(tmp_path, keep_best=1, monitor="val_acc", mode="min")
    h = wb.fit(small(), digits, epochs=6, checkpoint=policy, **FAST)
    worst = min(range(1, 7), key=lambda e: (h["val_acc"][e - 1], e))
    assert kept(tmp_path) == sorted({6, worst}), "mode='min' asked for the lowest val_acc"
    with pytest.raises(ValueError, match="mode must be 'auto', 'min'.*'best'"):
        ck.Checkpointer(tmp_path, keep_best=1, mode="best")


# --- resuming from an older file --------------------------------------------------------------


@pytest.fixture
def later_files(digits, tmp_path):
    """The issue's folder: a finished run that kept epochs 20, 21, 27, 28 and 29."""
    wb.fit(small(), digits, epochs=29, checkpoint=ck.Checkpointer(tmp_path, keep_last=99), **FAST)
    for path in tmp_path.glob("epoch-*.pt"):
        if int(path.stem[6:]) not in (20, 21, 27, 28, 29):
            path.unlink()
    return tmp_path


def test_resuming_from_an_older_file_refuses_before_training_and_deletes_nothing(
    digits, later_files
):
    before = {p.name: p.read_bytes() for p in later_files.glob("epoch-*.pt")}
    older = later_files / "epoch-0020.pt"
    with pytest.raises(ck.CheckpointError) as err:
        wb.fit(small(), digits, epochs=29, checkpoint=later_files, resume=older,
               callbacks=[FailAt(22)], **FAST)  # fmt: skip
    message = str(err.value)
    assert "epoch-0021.pt, epoch-0027.pt, epoch-0028.pt, epoch-0029.pt" in message, (
        f"the message must list the later files that would go: {message}"
    )
    assert "new folder" in message and "discard_newer=True" in message, (
        f"the message must give both ways out (a new folder, discard_newer=True): {message}"
    )
    after = {p.name: p.read_bytes() for p in later_files.glob("epoch-*.pt")}
    assert after == before, "a refused resume must leave every file as it was"


def test_the_two_ways_out_a_new_folder_or_discard_newer(digits, later_files):
    older = later_files / "epoch-0020.pt"
    branch = later_files.parent / "branch"
    h = wb.fit(small(), digits, epochs=23, checkpoint=branch, resume=older, **FAST)
    assert h.epochs == 23 and kept(branch) == [23], "a new folder gets the resumed run"
    assert kept(later_files) == [20, 21, 27, 28, 29], "and the old folder is left alone"

    policy = ck.Checkpointer(later_files, keep_last=2, discard_newer=True)
    with pytest.raises(RuntimeError, match="epoch 22"):
        wb.fit(small(), digits, epochs=29, checkpoint=policy, resume=older,
               callbacks=[FailAt(22)], **FAST)  # fmt: skip
    assert kept(later_files) == [20, 21], "discard_newer=True replaces the later timeline"


# --- flipped bits, permissions, file modes ----------------------------------------------------


def flip_a_bit_in_the_largest_tensor(path):
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    # A zip entry: a 30-byte local header, its name and extra field, then the stored bytes.
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.file_size // 2] ^= 0b100
    path.write_bytes(bytes(raw))


def test_a_flipped_bit_in_tensor_data_is_found_and_names_the_file(digits, tmp_path):
    wb.fit(small(), digits, epochs=2, checkpoint=tmp_path / "run", **FAST)
    path = tmp_path / "copy.pt"
    shutil.copy(tmp_path / "run" / "epoch-0002.pt", path)
    flip_a_bit_in_the_largest_tensor(path)
    with pytest.raises(ck.CheckpointError, match=r"copy\.pt is damaged.*checksum"):
        ck.load(path)
    with pytest.raises(ck.CheckpointError, match=r"copy\.pt is damaged"):
        wb.fit(small(), digits, epochs=3, resume=path, **FAST)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_saved_files_take_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        ck.save(tmp_path / "a.pt", {"format": ck.FORMAT})
    finally:
        os.umask(old)
    got = (tmp_path / "a.pt").stat().st_mode & 0o777
    assert got == mode, (
        f"with umask {umask:03o} a new file is {mode:03o}, as any other; got {got:03o}"
    )


# --- messages that say what is wrong ----------------------------------------------------------


def test_random_bytes_are_not_called_a_file_that_could_run_code(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(7, 256)) * 4)  # starts with neither a zip nor a pickle header
    with pytest.raises(ck.CheckpointError) as err:
        ck.load(path)
    assert "not a PyTorch file" in str(err.value), str(err.value)
    assert "could run code" not in str(err.value), "noise is not a pickle, let alone a harmful one"


def test_permission_denied_says_so_and_who_can_fix_it(monkeypatch, tmp_path):
    path = tmp_path / "theirs.pt"
    ck.save(path, {"format": ck.FORMAT})

    def denied(f, *args, **kwargs):  # what a file of mode 0600 gives another user (not root)
        raise PermissionError(13, "Permission denied", str(f))

    monkeypatch.setattr(torch, "load", denied)
    with pytest.raises(ck.CheckpointError) as err:
        ck.load(path)
    text = str(err.value)
    assert "theirs.pt cannot be read: permission denied" in text and "owner" in text, text
    assert "damaged" not in text, "a file we may not read is not a damaged file"


def test_a_file_with_the_marker_but_missing_keys_names_them(digits, tmp_path):
    path = tmp_path / "handmade.pt"
    torch.save({"format": ck.FORMAT, "version": 1, "epoch": 3}, path)
    with pytest.raises(ck.CheckpointError, match="handmade.pt .*lacks model, optimizer, sched"):
        wb.fit(small(), digits, epochs=5, resume=path, **FAST)
    with pytest.raises(ck.CheckpointError, match="lacks model"):
        ck.load_weights(small(), path)


@pytest.mark.parametrize("first, then", [("sgd", "adam"), ("adam", "sgd")])
def test_resume_with_another_optimizer_starts_its_state_afresh_when_asked(
    digits, tmp_path, first, then
):
    wb.fit(small(), digits, epochs=2, opt=first, momentum=0.9, checkpoint=tmp_path, **FAST)
    path = tmp_path / "epoch-0002.pt"
    with pytest.raises(ck.CheckpointError, match="opt: checkpoint"):
        wb.fit(small(), digits, epochs=4, opt=then, momentum=0.9, resume=path, **FAST)
    names = {"sgd": "SGD", "adam": "Adam"}
    with pytest.warns(UserWarning, match=f"cannot carry over from {names[first]} to {names[then]}"):
        h = wb.fit(small(), digits, epochs=4, opt=then, momentum=0.9, resume=path,
                   override=True, **FAST)  # fmt: skip
    assert h["epoch"] == [1, 2, 3, 4], "the resumed run goes on with the new optimizer"


def step_lr(step_size):
    return lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=0.5)


def test_scheduler_settings_are_compared_on_resume(digits, tmp_path):
    wb.fit(small(), digits, epochs=2, scheduler=step_lr(2), checkpoint=tmp_path, **FAST)
    path = tmp_path / "epoch-0002.pt"
    with pytest.raises(
        ck.CheckpointError, match=r"scheduler: checkpoint .*'step_size': 2.*'step_size': 3"
    ):
        wb.fit(small(), digits, epochs=4, scheduler=step_lr(3), resume=path, **FAST)
    h = wb.fit(small(), digits, epochs=4, scheduler=step_lr(2), resume=path, **FAST)
    assert h.epochs == 4, "the same scheduler settings resume"


def test_two_different_lambdas_are_told_apart_and_a_re_run_lambda_matches(digits, tmp_path):
    wb.fit(small(), digits, epochs=2, loss_fn=lambda out, y: F.cross_entropy(out, y),
           checkpoint=tmp_path, **FAST)  # fmt: skip
    path = tmp_path / "epoch-0002.pt"
    with pytest.raises(ck.CheckpointError, match=r"loss_fn: checkpoint '.*<lambda> \(code"):
        wb.fit(small(), digits, epochs=3, loss_fn=lambda out, y: 2 * F.cross_entropy(out, y),
               resume=path, **FAST)  # fmt: skip
    # The same lambda written again (a re-run notebook cell) is the same setting.
    h = wb.fit(small(), digits, epochs=3, loss_fn=lambda out, y: F.cross_entropy(out, y),
               resume=path, **FAST)  # fmt: skip
    assert h.epochs == 3
    weighted = [lambda out, y, w=w: w * F.cross_entropy(out, y) for w in (1.0, 2.0)]
    assert plain(weighted[0]) != plain(weighted[1]), "a default argument changes a lambda too"
    lambdas = [lambda e: 0.5**e, lambda e: 0.9**e]
    schedulers = [lambda opt, f=f: torch.optim.lr_scheduler.LambdaLR(opt, f) for f in lambdas]
    wb.fit(small(), digits, epochs=1, scheduler=schedulers[0], checkpoint=tmp_path / "b", **FAST)
    with pytest.raises(ck.CheckpointError, match="scheduler: checkpoint .*lr_lambdas"):
        wb.fit(small(), digits, epochs=2, scheduler=schedulers[1],
               resume=tmp_path / "b" / "epoch-0001.pt", **FAST)  # fmt: skip


@contextlib.contextmanager
def as_nobody():
    """Act as an ordinary user: root may write anywhere, so it cannot test a read-only folder."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_an_unwritable_folder_is_found_before_epoch_1(digits):
    shared = Path(tempfile.mkdtemp())  # not under tmp_path, which only root may enter
    shared.chmod(0o755)
    folder = shared / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    epochs = []

    class Count:
        def on_epoch_end(self, history):
            epochs.append(history.epochs)

    try:
        with as_nobody(), pytest.raises(ck.CheckpointError, match="cannot write checkpoints in"):
            wb.fit(small(), digits, epochs=2, checkpoint=folder, callbacks=[Count()], **FAST)
    finally:
        shutil.rmtree(shared)
    assert epochs == [], f"the folder must be checked before training; epochs ran: {epochs}"
