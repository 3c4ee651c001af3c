"""Checkpoints: round trip, exact resume, pruning policy, and every kind of bad input."""

import errno
import os
import pickle
import random

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.checkpoint import files
from workbench.checkpoint import store as ck
from workbench.checkpoint.resume import TrainingState
from workbench.data.models import MLP, SmallCNN
from workbench.stopping import Patience, Threshold

RUN = dict(epochs=40, lr=3e-2, stop=Patience(5), restore_best=True, device="cpu")


@pytest.fixture(scope="module")
def digits():
    return wb.data.load("digits", seed=0, train_size=200)


def small(seed=0):
    return MLP((64, 32, 10), dropout=0.2, seed=seed)  # dropout: resume must restore its generator


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def full_run(digits, tmp_path_factory):
    """One run with a checkpoint after every epoch, all kept: (model, history, folder)."""
    folder = tmp_path_factory.mktemp("run")
    model = small()
    history = wb.fit(model, digits, checkpoint=ck.Checkpointer(folder, keep_last=99), **RUN)
    return model, history, folder


# --- round trip ----------------------------------------------------------------------------


def test_every_part_of_the_state_round_trips(tmp_path):
    model = MLP((4, 8, 3), batch_norm=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    gen, masks = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    torch.rand(3, generator=masks)
    for _ in range(3):  # give every part a non-initial state
        opt.zero_grad()
        model(torch.randn(5, 4, generator=gen)).sum().backward()
        opt.step()
        sched.step()
    history = wb.History({"epoch": [1, 2, 3], "val_loss": [0.5, 0.3, float("nan")]})
    history.stop = Patience(1)(history)
    random.seed(3)
    np.random.seed(4)  # noqa: NPY002 - the global generator is what a resume must restore
    state = TrainingState(model, opt, sched, gen, history, Patience(1), {"seed": 0}, masks)
    ck.save(tmp_path / "a.pt", state.capture(3, 0.3, {"w": torch.ones(2)}))
    expected = (masks.get_state(), gen.get_state(), random.getstate(), np.random.get_state())  # noqa: NPY002

    model2 = MLP((4, 8, 3), batch_norm=True, seed=9)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    gen2, masks2, history2 = torch.Generator(), torch.Generator(), wb.History()
    torch.manual_seed(123), random.seed(5), np.random.seed(6)  # noqa: NPY002
    users = torch.get_rng_state()
    state2 = TrainingState(model2, opt2, sched2, gen2, history2, Patience(1), {"seed": 0}, masks2)
    first, best_value, best_state = state2.start(tmp_path / "a.pt", None, epochs=5, override=False)

    assert same_weights(model, model2)  # BatchNorm's running statistics included
    assert str(opt2.state_dict()) == str(opt.state_dict())
    assert sched2.state_dict() == sched.state_dict()
    assert torch.equal(masks2.get_state(), expected[0]), "the dropout generator is restored"
    assert torch.equal(torch.get_rng_state(), users), "torch's global generator is the user's"
    assert torch.equal(gen2.get_state(), expected[1])
    assert random.getstate() == expected[2]
    np_state = np.random.get_state()  # noqa: NPY002
    assert np_state[0] == expected[3][0] and np.array_equal(np_state[1], expected[3][1])
    assert history2 == history and history2.stop == history.stop and history2.epochs == 3
    assert ck.load(tmp_path / "a.pt")["history"]["best_epoch"] == 2
    assert first == 6  # the saved run had stopped: nothing left to run
    assert best_value == 0.3 and torch.equal(best_state["w"], torch.ones(2))


def test_the_file_loads_with_weights_only_and_records_version_and_fingerprint(full_run):
    model, history, folder = full_run
    state = torch.load(ck.latest(folder), weights_only=True)  # plain torch, safe mode
    assert state["workbench"] == wb.__version__ and state["epoch"] == history.epochs
    assert state["settings"]["architecture"] == ck.fingerprint(model)
    assert state["settings"]["stop"] == {
        "type": "Patience",
        "patience": 5,
        "min_delta": 0.0,
        "monitor": "val_loss",
        "mode": "auto",
        "start_from_epoch": 0,
    }


def test_fingerprint_sees_layer_types_not_weight_values():
    assert ck.fingerprint(MLP((4, 8, 2), seed=0)) == ck.fingerprint(MLP((4, 8, 2), seed=1))
    assert ck.fingerprint(MLP((4, 8, 2))) != ck.fingerprint(
        MLP((4, 8, 2), activation=torch.nn.Tanh)
    )
    assert ck.fingerprint(MLP((4, 8, 2))) != ck.fingerprint(MLP((4, 9, 2)))


# --- exact resume --------------------------------------------------------------------------


def test_resuming_from_any_epoch_ends_bit_identical(digits, full_run):
    model, history, folder = full_run
    assert history.stop is not None and history.best_epoch < history.epochs  # stopped, restored
    saved = sorted(folder.glob("epoch-*.pt"))
    assert len(saved) == history.epochs
    for path in saved:
        resumed = small(seed=7)  # other initial weights: all must come from the checkpoint
        h = wb.fit(resumed, digits, resume=path, **RUN)
        assert h.without("seconds") == history.without("seconds"), path.name
        assert h.stop == history.stop and h.best_epoch == history.best_epoch
        assert same_weights(resumed, model), path.name


def test_a_checkpoint_from_before_the_dropout_generator_still_resumes_bit_identical(
    digits, full_run, tmp_path
):
    # Older files saved torch's global CPU state, which their dropout had drawn from.
    model, history, folder = full_run
    state = ck.load(folder / "epoch-0003.pt")
    rng = state["rng"]
    rng["torch"] = rng.pop("dropout")
    del rng["dropout_device"]
    ck.save(tmp_path / "old.pt", state)
    resumed = small(seed=7)
    h = wb.fit(resumed, digits, resume=tmp_path / "old.pt", **RUN)
    assert h.without("seconds") == history.without("seconds"), (
        "a run resumed from an older checkpoint should continue the same dropout masks"
    )
    assert same_weights(resumed, model), "and end with the same weights"


def test_uninterrupted_run_is_unchanged_by_checkpointing(digits, full_run):
    model, history, _ = full_run
    plain = small()
    assert wb.fit(plain, digits, **RUN).without("seconds") == history.without("seconds")
    assert same_weights(plain, model)


def test_resume_with_scheduler_sgd_momentum_and_more_epochs(digits, tmp_path):
    def sched(opt):
        return torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    kw = dict(opt="sgd", momentum=0.9, lr=0.05, scheduler=sched, device="cpu", seed=3)
    whole = small()
    h_whole = wb.fit(whole, digits, epochs=7, **kw)
    part = small()
    wb.fit(part, digits, epochs=3, checkpoint=tmp_path, **kw)
    h = wb.fit(part, digits, epochs=7, checkpoint=tmp_path, resume="last", **kw)  # train longer
    assert h.without("seconds") == h_whole.without("seconds") and same_weights(part, whole)
    assert [p.name for p in tmp_path.glob("epoch-*.pt")] == ["epoch-0007.pt"]


def test_resume_last_in_an_empty_folder_starts_afresh(digits, tmp_path):
    h = wb.fit(small(), digits, epochs=2, checkpoint=tmp_path / "new", resume="last", device="cpu")
    assert h["epoch"] == [1, 2] and ck.latest(tmp_path / "new").name == "epoch-0002.pt"


def test_a_stopped_run_resumes_at_once_or_goes_on_under_a_new_rule(digits, full_run):
    model, history, folder = full_run
    resumed = small(seed=3)
    h = wb.fit(resumed, digits, resume=folder, **RUN)  # a folder means its newest file
    assert h.epochs == history.epochs and same_weights(resumed, model)  # best weights restored
    longer = dict(RUN, stop=Patience(8))
    with pytest.raises(ck.CheckpointError, match="stop"):
        wb.fit(small(), digits, resume=folder, **longer)
    h = wb.fit(small(), digits, resume=folder, override=True, **longer)
    assert h.epochs > history.epochs and h.stop.epoch == h.epochs
    assert h["val_loss"][: history.epochs] == history["val_loss"]


# --- policy --------------------------------------------------------------------------------


def test_policy_keeps_the_last_k_the_best_k_and_always_the_latest(digits, tmp_path):
    policy = ck.Checkpointer(
        tmp_path, every=2, keep_last=2, keep_best=1, monitor="val_acc", mode="max"
    )
    h = wb.fit(small(), digits, epochs=9, lr=3e-2, checkpoint=policy, device="cpu")
    saved_epochs = [2, 4, 6, 8, 9]  # every 2nd, plus the last epoch
    best = max(saved_epochs, key=lambda e: (h["val_acc"][e - 1], -e))
    kept = sorted(int(p.stem[6:]) for p in tmp_path.glob("epoch-*.pt"))
    assert kept == sorted({8, 9, best})
    assert ck.latest(tmp_path).name == "epoch-0009.pt"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"every": 0}, "every"),
        ({"keep_last": 0}, "keep_last"),
        ({"keep_best": -1}, "keep_best"),
        ({"keep_best": 1.5}, "keep_best"),
        ({"mode": "up"}, "mode"),
        ({"monitor": 3}, "monitor"),
    ],
)
def test_bad_policy_is_refused_with_the_parameter_name(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        ck.Checkpointer(tmp_path, **kwargs)


def test_bad_checkpoint_arguments_to_fit(digits, tmp_path):
    with pytest.raises(TypeError, match="checkpoint"):
        wb.fit(small(), digits, epochs=1, checkpoint=3, device="cpu")
    with pytest.raises(ValueError, match="resume='last' needs checkpoint"):
        wb.fit(small(), digits, epochs=1, resume="last", device="cpu")
    with pytest.raises(ValueError, match="val_acuracy.*val_acc"):
        policy = ck.Checkpointer(tmp_path, keep_best=1, monitor="val_acuracy")
        wb.fit(small(), digits, epochs=1, checkpoint=policy, device="cpu")
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        wb.fit(small(), digits, epochs=1, resume=tmp_path / "nothing.pt", device="cpu")


def test_a_folder_with_another_runs_checkpoints_is_not_overwritten(digits, full_run, tmp_path):
    _, history, folder = full_run
    with pytest.raises(ck.CheckpointError, match="another run.*resume='last'"):
        wb.fit(small(), digits, checkpoint=folder, **RUN)
    wb.fit(small(), digits, epochs=2, checkpoint=tmp_path, device="cpu")
    with pytest.raises(ck.CheckpointError, match="another run"):  # resuming a third run there
        wb.fit(small(), digits, checkpoint=folder, resume=tmp_path / "epoch-0002.pt", **RUN)
    assert ck.latest(folder).name == f"epoch-{history.epochs:04d}.pt"


# --- bad files -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "not_a_checkpoint"])
def test_damaged_or_foreign_files_get_a_clear_error_naming_the_file(full_run, tmp_path, kind):
    good = ck.latest(full_run[2]).read_bytes()
    content = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "garbage": os.urandom(1000),
        "not_a_checkpoint": None,
    }[kind]
    path = tmp_path / f"{kind}.pt"
    if content is None:
        torch.save({"weight": torch.ones(2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ck.CheckpointError, match=f"{kind}.pt is not a valid workbench checkpoint"):
        ck.load(path)


class Evil:
    """Unpickling this calls ``open(marker, "w")``: a file appears if the code runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["pickle", "torch_save", "inside_a_checkpoint"])
def test_a_pickle_that_runs_code_is_refused_and_the_code_does_not_run(full_run, tmp_path, how):
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Evil(marker)))  # the payload is real: plain pickle runs it
    assert marker.exists()
    marker.unlink()

    path = tmp_path / "evil.pt"
    if how == "pickle":
        path.write_bytes(pickle.dumps(Evil(marker)))
    elif how == "torch_save":
        torch.save(Evil(marker), path)
    else:
        state = torch.load(ck.latest(full_run[2]), weights_only=True)
        state["history"]["stop"] = Evil(marker)
        torch.save(state, path)
    with pytest.raises(ck.CheckpointError, match="evil.pt.*could run code"):
        ck.load(path)
    with pytest.raises(ck.CheckpointError):
        ck.load_weights(small(), path)
    assert not marker.exists()


def test_another_architecture_lists_missing_unexpected_and_mismatched(digits, full_run):
    path = ck.latest(full_run[2])
    other = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))
    other.add_module("extra", torch.nn.Linear(2, 2))
    with pytest.raises(ck.CheckpointError) as err:
        ck.load_weights(other, path)
    text = str(err.value)
    assert str(path) in text and "missing: 2.weight, 2.bias, extra.weight, extra.bias" in text
    assert "unexpected: 3.weight, 3.bias" in text  # Dropout is layer 2 in the saved MLP
    assert "0.weight: checkpoint (32, 64), model (16, 64)" in text
    with pytest.raises(ck.CheckpointError, match="shape mismatches"):
        wb.fit(MLP((64, 16, 10)), digits, resume=path, **RUN)


def test_load_weights_restores_weights_only_and_reuses_part_of_a_model(tmp_path, digits):
    data = wb.data.load("digits", seed=0, train_size=200, images=True)
    cnn = SmallCNN(seed=0)
    wb.fit(cnn, data, epochs=1, checkpoint=tmp_path, device="cpu")
    path = ck.latest(tmp_path)

    copy = SmallCNN(seed=1)
    assert ck.load_weights(copy, path) == ([], [], []) and same_weights(copy, cnn)

    new = SmallCNN(n_classes=5, seed=1)  # a new task: reuse the features, train a new head
    head_before = new.head.weight.clone()
    ck.load_weights(new.features, path, prefix="features.")
    assert same_weights(new.features, cnn.features) and torch.equal(new.head.weight, head_before)

    keys = ck.load_weights(SmallCNN(n_classes=5), path, strict=False)
    assert keys.missing == [] and keys.unexpected == []
    assert keys.mismatched == [
        "head.weight: checkpoint (10, 512), model (5, 512)",
        "head.bias: checkpoint (10,), model (5,)",
    ]
    with pytest.raises(ck.CheckpointError, match="prefix='decoder.'"):
        ck.load_weights(new, path, prefix="decoder.")


@pytest.mark.parametrize(
    "change, setting",
    [
        ({"seed": 1}, "seed"),
        ({"batch_size": 32}, "batch_size"),
        ({"lr": 1e-2}, "lr"),
        ({"stop": Threshold(0.1)}, "stop"),
        ({"restore_best": False}, "restore_best"),
    ],
)
def test_resume_with_other_settings_names_the_setting_unless_overridden(
    digits, full_run, change, setting
):
    path = sorted(full_run[2].glob("epoch-*.pt"))[2]
    with pytest.raises(ck.CheckpointError, match=rf"(?s)differ.*\b{setting}: checkpoint"):
        wb.fit(small(), digits, resume=path, **(RUN | change))
    h = wb.fit(small(), digits, resume=path, override=True, **(RUN | change))
    assert h["epoch"][:3] == [1, 2, 3]
    if setting == "lr":
        assert h["lr"][3] == 1e-2  # the new value is used from the resumed epoch on


# --- failing writes ------------------------------------------------------------------------


def test_a_full_disk_leaves_the_previous_checkpoint_untouched(monkeypatch, full_run, tmp_path):
    path = tmp_path / "epoch-0001.pt"
    state = ck.load(ck.latest(full_run[2]))
    ck.save(path, state)
    before = path.read_bytes()

    def full_disk(obj, f):
        f.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(ck.CheckpointError, match="epoch-0001.pt.*No space left.*untouched"):
        ck.save(path, state)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["epoch-0001.pt"]
    ck.load(path)


def test_a_failing_fsync_also_keeps_the_previous_file(monkeypatch, tmp_path):
    path = tmp_path / "a.pt"
    ck.save(path, {"format": ck.FORMAT, "n": 1})
    monkeypatch.setattr(
        ck.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error"))
    )
    with pytest.raises(ck.CheckpointError, match="I/O error"):
        ck.save(path, {"format": ck.FORMAT, "n": 2})
    monkeypatch.undo()
    assert ck.load(path)["n"] == 1 and os.listdir(tmp_path) == ["a.pt"]


def test_a_folder_that_cannot_be_written_is_an_error(digits, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ck.CheckpointError, match="cannot write"):
        ck.save(blocker / "a.pt", {"format": ck.FORMAT})
    with pytest.raises(ck.CheckpointError, match="cannot create the checkpoint folder"):
        wb.fit(small(), digits, epochs=1, checkpoint=blocker / "run", device="cpu")


def test_a_read_only_folder_keeps_its_checkpoint(monkeypatch, tmp_path):
    path = tmp_path / "a.pt"
    ck.save(path, {"format": ck.FORMAT, "n": 1})

    def denied(path):  # what os.open raises in a read-only folder (root ignores chmod)
        raise PermissionError(errno.EACCES, "Permission denied", str(path.parent))

    monkeypatch.setattr(files, "_create_temp", denied)
    with pytest.raises(ck.CheckpointError, match="Permission denied"):
        ck.save(path, {"format": ck.FORMAT, "n": 2})
    assert ck.load(path)["n"] == 1


def test_latest_ignores_temporary_files_and_the_next_save_removes_them(digits, tmp_path):
    assert ck.latest(tmp_path / "missing") is None and ck.latest(tmp_path) is None
    (tmp_path / ".epoch-0009.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    wb.fit(small(), digits, epochs=1, checkpoint=tmp_path, resume="last", device="cpu")
    assert os.listdir(tmp_path) == ["epoch-0001.pt"], "the lock file goes when the run ends"
