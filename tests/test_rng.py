"""One run never changes another run's random numbers.

Torch's global generator is one per process, and a playground trains on a worker thread
beside the student's cells. Each test below repeats its check TRIES times while a playground
plays and rebuilds its network after nearly every epoch (the moment the old code seeded the
global generator), because a race shows up only in some tries. Before every draw came from
a run's own generator, these tests failed (measured on a shared 2-core machine) in 15 and 28
of 30 main-thread tries (two runs), 12 of 30 seeded fits and 2 of 30 replays.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch
from test_playground import _wait
from torch import nn

import workbench as wb
from workbench.data import problems
from workbench.data.models import MLP, SmallCNN, linear
from workbench.playground.play import playground

TRIES = 30
SMALL = {"n": 60, "hidden": "4", "batch_size": 8}  # short epochs: many rebuilds per second


class Churn:
    """A playground that plays while a second thread keeps changing its network width, so
    it rebuilds the network (and, in the old code, reseeded torch's generator) all the time."""

    def __init__(self, **settings):
        self.pg = playground(**{**SMALL, **settings})
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._change, daemon=True)

    def _change(self):
        for i in range(10**9):
            if self._done.is_set():
                return
            self.pg.set(hidden="4, 4" if i % 2 else "4")
            time.sleep(0.001)

    def __enter__(self):
        self.pg.play()
        self._thread.start()
        _wait(lambda: self.pg.epoch >= 2)
        return self.pg

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.pg.pause()
        assert self.pg.error is None, f"the playground failed while playing: {self.pg.error!r}"
        return False


def _draws():
    torch.manual_seed(0)
    return [torch.rand(3) for _ in range(20)]


def test_seeded_draws_on_the_main_thread_do_not_change_while_a_playground_plays():
    expected = _draws()
    differed = []
    with Churn() as pg:
        for i in range(TRIES):
            start, same = pg.epoch, True
            while pg.epoch < start + 2:  # each try spans rebuilds of the playground's network
                got = _draws()
                same &= all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
            if not same:
                differed.append(i)
    assert not differed, (
        f"torch.manual_seed(0); torch.rand(3) gave other numbers in tries {differed} of "
        f"{TRIES} while a playground played: it must draw from its own generator only"
    )


def _dropout_fit(data):
    model = MLP((2, 16, 16, 2), dropout=0.5, seed=1)
    history = wb.fit(model, data, epochs=3, seed=3, batch_size=16, device="cpu")
    return history.without("seconds"), model


@pytest.fixture(scope="module")
def moons():
    split = problems.make("moons", n=200, noise=0.2, train_fraction=0.5, seed=0)
    return wb.data.from_tensors((split.X_train, split.y_train), (split.X_val, split.y_val))


def test_a_seeded_fit_with_dropout_is_bit_identical_while_a_playground_plays(moons):
    expected, model = _dropout_fit(moons)
    differed = []
    with Churn():
        for i in range(TRIES):
            history, again = _dropout_fit(moons)
            weights = zip(again.state_dict().values(), model.state_dict().values(), strict=True)
            if history != expected or not all(torch.equal(a, b) for a, b in weights):
                differed.append(i)
    assert not differed, (
        f"a seeded fit with dropout gave another history in tries {differed} of {TRIES} "
        "while a playground played: its dropout masks must come from the run's generator"
    )


def test_a_replay_from_config_is_bit_identical_after_changes_made_while_playing():
    differed = []
    for i in range(TRIES):
        churn = Churn(seed=i)
        with churn as pg:
            pg.set(lr=0.05)
            start = pg.epoch
            while pg.epoch < start + 6:  # the student's cells draw meanwhile
                torch.manual_seed(i)
                torch.rand(100)
        config = pg.config
        assert any("hidden" in e for e in config["events"]), "the network changed while playing"
        again = playground(**config)
        weights = zip(again.model.parameters(), pg.model.parameters(), strict=True)
        if again.history.to_json() != pg.history.to_json() or not all(
            torch.equal(a, b) for a, b in weights
        ):
            differed.append(i)
        pg.close()
        again.close()
    assert not differed, (
        f"replaying pg.config gave another history in tries {differed} of {TRIES}: a "
        "playground's weights must come from its seed alone, whatever else draws meanwhile"
    )


# --- the models' own generators ------------------------------------------------------------


def _old_way(build, seed):
    """How the models were built before: torch's global generator, seeded, then nn layers."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _old_mlp(sizes):
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


def _old_cnn(n_classes, channels):
    convs = [nn.Conv2d(1, channels, 3, padding=1), nn.Conv2d(channels, 2 * channels, 3, padding=1)]
    return [*convs, nn.Linear(2 * channels * 16, n_classes)]


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 + 5])
@pytest.mark.parametrize("sizes", [(2, 1), (4, 8, 3), (64, 128, 128, 10), (7, 33, 5, 2)])
def test_initial_weights_equal_torchs_default_init_after_manual_seed(seed, sizes):
    old = _old_way(lambda: _old_mlp(sizes), seed)
    new = MLP(sizes, batch_norm=True, seed=seed)
    pairs = list(zip(old.state_dict().items(), new.state_dict().items(), strict=True))
    for (name, a), (_, b) in pairs:
        assert torch.equal(a, b), f"MLP{sizes} seed {seed}: {name} differs from nn.Linear's init"
    old_linear = _old_way(lambda: nn.Linear(sizes[0], sizes[-1]), seed)
    new_linear = linear(sizes[0], sizes[-1], seed=seed)
    assert torch.equal(old_linear.weight, new_linear.weight), "linear() weights differ"
    assert torch.equal(old_linear.bias, new_linear.bias), "linear() bias differs"


@pytest.mark.parametrize(("n_classes", "channels"), [(10, 16), (5, 8), (3, 4)])
def test_small_cnn_weights_equal_torchs_default_init_after_manual_seed(n_classes, channels):
    for seed in (0, 3):
        old = _old_way(lambda: _old_cnn(n_classes, channels), seed)  # noqa: B023
        new = SmallCNN(n_classes, channels=channels, seed=seed)
        layers = [new.features[0], new.features[2], new.head]
        for i, (a, b) in enumerate(zip(old, layers, strict=True)):
            assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias), (
                f"SmallCNN({n_classes}, channels={channels}) seed {seed}: layer {i} differs"
            )


def test_building_a_model_neither_reads_nor_writes_the_global_generator():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    MLP((4, 8, 3), dropout=0.5, seed=2), SmallCNN(seed=2), linear(3, 2, seed=2)
    MLP((4, 8, 3), seed=None)
    assert torch.equal(torch.get_rng_state(), state), "building a model moved torch's generator"
    a, b = MLP((4, 8, 3), seed=None), MLP((4, 8, 3), seed=None)
    assert not torch.equal(a[0].weight, b[0].weight), "seed=None should give fresh weights"
    gen = torch.Generator().manual_seed(4)
    assert torch.equal(MLP((4, 8, 3), seed=gen)[0].weight, MLP((4, 8, 3), seed=4)[0].weight), (
        "a generator passed as seed= should be drawn from as it is"
    )
    with pytest.raises(TypeError, match="seed="):
        MLP((4, 8, 3), seed=0.5)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("shape", [(5, 7), (64, 128), (3, 2, 4)])
def test_our_dropout_draws_the_masks_torchs_dropout_draws_from_the_same_state(p, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1), requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        out = nn.Dropout(p)(x)
    gen = torch.Generator().manual_seed(7)
    out2 = wb.models.Dropout(p, generator=gen)(x2)
    out.sum().backward(), out2.sum().backward()
    assert torch.equal(out, out2), f"Dropout({p}) masks differ from nn.Dropout's"
    assert torch.equal(x.grad, x2.grad), f"Dropout({p}) gradients differ from nn.Dropout's"


def test_fit_hands_its_dropout_generator_to_our_dropout_and_puts_it_back(moons):
    model = MLP((2, 16, 2), dropout=0.5)
    layer = model[2]
    seen = []

    class Peek:
        def on_epoch_end(self, history):
            seen.append(layer.generator)

    torch.manual_seed(11)
    state = torch.get_rng_state()
    wb.fit(model, moons, epochs=2, seed=3, device="cpu", callbacks=[Peek()])
    assert torch.equal(torch.get_rng_state(), state), "fit moved torch's global generator"
    assert seen[0] is not None and seen[0] is seen[1], "fit's run owns one dropout generator"
    assert layer.generator is None, "after fit the layer is back to what it was"


def test_doctests():
    import doctest

    import workbench.data.models

    result = doctest.testmod(workbench.data.models)
    assert result.failed == 0 and result.attempted > 0, "a doctest of workbench.data.models failed"
