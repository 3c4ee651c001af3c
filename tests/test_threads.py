"""The thread count fit trains with: counted operations, the user's own count, the default."""

import pytest
import torch
from torch import nn

import workbench as wb
from workbench.data.models import MLP, SmallCNN
from workbench.train import threads
from workbench.train.threads import SMALL_STEP_FLOPS, pick_threads, step_flops, user_threads

CPU = torch.device("cpu")


@pytest.fixture
def torch_default(monkeypatch):
    """Torch at its default count of 2 (no variable set, untouched since the import)."""
    for name in threads.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(threads, "IMPORT_THREADS", 2)
    yield
    torch.set_num_threads(before)


def images(n=4):
    return torch.zeros(n, 1, 8, 8)


def test_a_convolution_counts_every_position_it_uses_its_weights_at():
    # SmallCNN on 8x8: conv 1->16 and 16->32 (3x3, padding 1) at 64 positions, then 512->10
    forward = 2 * (64 * 16 * 9 * 1 + 64 * 32 * 9 * 16 + 10 * 512)
    assert step_flops(SmallCNN(), images(), 64) == 3 * forward * 64, (
        "a step is a forward pass (2 operations per weight use: each 3x3 kernel at each of "
        "the 64 positions) and a backward pass of twice that, for every row of the batch"
    )
    weights_once = 6 * sum(p.numel() for p in SmallCNN().parameters()) * 64
    assert step_flops(SmallCNN(), images(), 64) > 25 * weights_once, (
        "counting each weight once undercounts this CNN about 30 times"
    )


def test_counting_changes_no_state_and_survives_a_model_that_fails():
    model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Dropout(0.5), nn.Linear(32, 3))
    model.train()
    model[3].eval()  # a frozen layer stays frozen
    X = torch.randn(10, 64, dtype=torch.float64)
    stats, rng = model[1].running_mean.clone(), torch.get_rng_state()
    flops = step_flops(model, X, 8)
    assert flops == 3 * (2 * (64 * 32 + 32 * 3) + 2 * 64) * 8, (
        "Linear layers by their outputs, BatchNorm's 64 weights 2 per row (float64 X is cast)"
    )
    assert torch.equal(model[1].running_mean, stats), "BatchNorm's statistics are untouched"
    assert torch.equal(torch.get_rng_state(), rng), "the global random generator is untouched"
    assert [m.training for m in model] == [True, True, True, False], "training flags are kept"
    fallback = step_flops(MLP((64, 10)), torch.zeros(4, 5), 8)
    assert fallback == 6 * (64 * 10 + 10) * 8, "a model that fails on X: its weights are counted"


def test_the_default_is_one_thread_for_small_steps_and_torchs_above(torch_default):
    digits = wb.data.load("digits", seed=0, images=True)
    lesson07 = SmallCNN()  # 1.2e8 operations a step, all but 1% in its convolutions
    assert step_flops(lesson07, digits.train[0], 64) > SMALL_STEP_FLOPS
    assert pick_threads(lesson07, digits, 64, CPU) == 2, (
        "lesson 07's CNN trains at torch's threads: alone, two were 1.5x faster"
    )
    tiny = SmallCNN(channels=4)
    assert step_flops(tiny, digits.train[0], 64) < SMALL_STEP_FLOPS
    assert pick_threads(tiny, digits, 64, CPU) == 1, "a small step: one thread"
    flat = wb.data.load("digits", seed=0)
    assert pick_threads(MLP((64, 128, 128, 10)), flat, 64, CPU) == 1, "W1's MLP: one thread"
    assert pick_threads(MLP((64, 128, 128, 10)), flat, 256, CPU) == 2, "W2's 4e7: torch's"
    assert pick_threads(tiny, digits, 64, torch.device("cuda")) == 2, "on a GPU: torch's"
    assert user_threads() is None and "1 for steps under" in wb.versions()["fit threads"]


def test_a_count_the_user_set_is_respected(torch_default, monkeypatch):
    digits = wb.data.load("digits", seed=0, images=True)
    tiny = SmallCNN(channels=4)
    torch.set_num_threads(3)
    assert pick_threads(tiny, digits, 64, CPU) == 3, "torch.set_num_threads(3) after import"
    assert "set by the user" in wb.versions()["fit threads"]
    torch.set_num_threads(2)
    monkeypatch.setattr(threads, "IMPORT_THREADS", 1)
    assert pick_threads(tiny, digits, 64, CPU) == 2, (
        "torch.set_num_threads(2) after import, even when 2 is the machine's default"
    )
    monkeypatch.setattr(threads, "IMPORT_THREADS", 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert pick_threads(tiny, digits, 64, CPU) == 2, "OMP_NUM_THREADS=2 is the user's choice"
    assert pick_threads(tiny, digits, 64, CPU, threads=1) == 1, "threads= decides first"
