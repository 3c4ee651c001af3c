"""The training loop: history contents, determinism, stopping, restoring, bad input."""

import dataclasses
import math

import pytest
import torch

import workbench as wb
from workbench.data.models import MLP, linear
from workbench.stopping import MetricNotFound, Patience, Threshold


@pytest.fixture(scope="module")
def digits():
    return wb.data.load("digits", seed=0, train_size=200)


def small(seed=0):
    return MLP((64, 32, 10), seed=seed)


def test_history_has_every_documented_column(digits):
    h = wb.fit(small(), digits, epochs=3, device="cpu")
    expected = {"epoch", "train_loss", "val_loss", "lr", "seconds", "train_acc", "val_acc"}
    assert expected | {"test_loss", "test_acc"} == set(h)
    assert h["epoch"] == [1, 2, 3] and h.epochs == 3
    assert h.stop is None and 1 <= h.best_epoch <= 3
    assert all(0 <= a <= 1 for a in h["val_acc"])


def test_regression_has_no_accuracy_and_learns_the_line():
    data = wb.data.load("line", seed=0)
    h = wb.fit(linear(1), data, epochs=60, lr=0.05, device="cpu")
    assert "val_acc" not in h and h["val_loss"][-1] < 0.5 * h["val_loss"][0]


def test_same_seed_gives_identical_history_other_seed_does_not(digits):
    runs = [wb.fit(small(), digits, epochs=4, seed=s, device="cpu") for s in (7, 7, 8)]
    assert runs[0].without("seconds") == runs[1].without("seconds")
    assert runs[0].without("seconds") != runs[2].without("seconds")


def test_dropout_is_reproducible_too(digits):
    def run():
        return wb.fit(MLP((64, 32, 10), dropout=0.5), digits, epochs=3, seed=3, device="cpu")

    assert run().without("seconds") == run().without("seconds")


def test_stop_rule_ends_the_run_where_the_replay_says(digits):
    rule = Patience(3)
    h = wb.fit(small(), digits, epochs=200, stop=rule, lr=1e-2, device="cpu")
    assert h.stop is not None and h.stop.epoch == h.epochs < 200
    assert rule(h) == h.stop  # the pure rule replayed over the record agrees with the loop


def test_restore_best_leaves_the_best_epochs_weights(digits):
    model = small()
    h = wb.fit(model, digits, epochs=40, lr=3e-2, stop=Patience(5), restore_best=True, device="cpu")
    assert h.best_epoch < h.epochs  # it did overfit after the best epoch
    val_loss, _ = wb.evaluate(model, *digits.val, torch.nn.functional.cross_entropy, True)
    assert val_loss.item() == pytest.approx(h["val_loss"][h.best_epoch - 1], rel=1e-5)

    kept = small()
    wb.fit(kept, digits, epochs=40, lr=3e-2, stop=Patience(5), device="cpu")
    val_last, _ = wb.evaluate(kept, *digits.val, torch.nn.functional.cross_entropy, True)
    assert val_last.item() == pytest.approx(h["val_loss"][-1], rel=1e-5)


def test_non_finite_loss_always_stops_with_a_clear_reason(digits):
    h = wb.fit(small(), digits, epochs=20, lr=1e6, opt="sgd", device="cpu")
    assert h.stop is not None and h.stop.epoch == h.epochs < 20
    assert "nan" in h.stop.reason.lower() or "inf" in h.stop.reason.lower()
    last = h["train_loss"][-1], h["val_loss"][-1]
    assert not all(math.isfinite(v) for v in last)


def test_threshold_and_scheduler(digits):
    sched = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)  # noqa: E731
    h = wb.fit(small(), digits, epochs=6, lr=1e-2, scheduler=sched, device="cpu")
    assert h["lr"] == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3])
    h = wb.fit(small(), digits, epochs=100, stop=Threshold(0.85, "val_acc", "max"), device="cpu")
    assert h["val_acc"][-1] > 0.85 and all(a <= 0.85 for a in h["val_acc"][:-1])


def test_reduce_on_plateau_is_stepped_with_the_monitored_metric(digits):
    def sched(opt):
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.1)

    h = wb.fit(small(), digits, epochs=30, lr=3e-2, scheduler=sched, device="cpu")
    assert min(h["lr"]) < 3e-2


def test_callbacks_see_every_epoch(digits):
    seen = []

    class Spy:
        def on_fit_start(self, history, info):
            seen.append(("start", info["epochs"]))

        def on_epoch_end(self, history):
            seen.append(history["epoch"][-1])

        def on_fit_end(self, history):
            seen.append("end")

    wb.fit(small(), digits, epochs=3, callbacks=[Spy()], device="cpu")
    assert seen == [("start", 3), 1, 2, 3, "end"]


def test_tensor_tuples_work_as_data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(100, 3, generator=g)
    y = (X[:, 0] > 0).long()
    h = wb.fit(linear(3, 2), ((X[:80], y[:80]), (X[80:], y[80:])), epochs=2, device="cpu")
    assert "val_acc" in h and "test_loss" not in h


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": 2, "lr": -1}, ValueError, "lr"),
        ({"epochs": 2, "batch_size": 0}, ValueError, "batch_size"),
        ({"epochs": 2, "opt": "adagrad"}, ValueError, "opt"),
        ({"epochs": 2, "loss_fn": "hinge"}, ValueError, "loss_fn"),
        ({"epochs": 2, "stop": 5}, TypeError, "stop"),
    ],
)
def test_bad_arguments_are_refused_with_the_name(digits, kwargs, error, words):
    with pytest.raises(error, match=words):
        wb.fit(small(), digits, device="cpu", **kwargs)


def test_unknown_metric_names_the_metrics_that_exist(digits):
    with pytest.raises(KeyError) as err:
        wb.fit(small(), digits, epochs=2, stop=Patience(2, monitor="val_acuracy"), device="cpu")
    assert isinstance(err.value, MetricNotFound)
    assert "val_acuracy" in str(err.value) and "val_acc" in str(err.value)
    with pytest.raises(MetricNotFound, match="val_loss"):
        wb.fit(small(), digits, epochs=2, monitor="accuracy", device="cpu")


def test_device_auto_is_cpu_here_and_names_work():
    assert wb.pick_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert wb.pick_device().type in (expected, "mps")


def test_accuracy_is_monitored_as_higher_is_better(digits):
    h = wb.fit(small(), digits, epochs=8, monitor="val_acc", device="cpu")
    assert h.mode == "max"
    assert h["val_acc"][h.best_epoch - 1] == max(h["val_acc"])
    with pytest.raises(ValueError, match="mode"):
        wb.fit(small(), digits, epochs=2, mode="lowest", device="cpu")


def test_accuracy_rules_track_the_highest_accuracy(digits):
    h = wb.fit(
        small(), digits, epochs=60, lr=3e-2, stop=Patience(3, monitor="val_acc"), device="cpu"
    )
    assert h.stop is not None, "patience 3 on val_acc stops this overfitting run"
    seen = h["val_acc"][: h.stop.epoch]
    best = max(seen)
    assert f"best {best:.4g} at epoch {seen.index(best) + 1}" in h.stop.reason, (
        f"Patience on val_acc should wait from the highest accuracy: {h.stop.reason}"
    )


@dataclasses.dataclass(frozen=True)
class CountedPatience(Patience):
    """Patience that records the length of every history it is replayed over."""

    replays: list = dataclasses.field(default_factory=list, compare=False)

    def __call__(self, history):
        self.replays.append(len(history["val_loss"]))
        return super().__call__(history)


def test_fit_steps_the_rule_instead_of_replaying_it(digits):
    rule = CountedPatience(50)
    h = wb.fit(small(), digits, epochs=12, stop=rule, device="cpu")
    assert h.epochs == 12 and rule(h) is None
    assert rule.replays[:-1] == [0], (
        "fit replays the rule only on the empty history (to check its metric), then steps it "
        f"once per epoch; it replayed histories of these lengths: {rule.replays[:-1]}"
    )


def test_small_models_train_at_one_thread_and_torch_is_left_as_it_was(digits, monkeypatch):
    from workbench.train import threads

    seen = []

    class Threads:
        def on_fit_start(self, history, info):
            seen.append(("info", info["threads"]))

        def on_epoch_end(self, history):
            seen.append(torch.get_num_threads())

    for name in threads.THREAD_VARIABLES:  # torch at its default count: nobody chose one
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "IMPORT_THREADS", 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        wb.fit(small(), digits, epochs=2, callbacks=[Threads()], device="cpu")
        assert seen == [("info", 1), 1, 1], "a small model trains at one thread"
        assert torch.get_num_threads() == 2, "fit puts torch's thread count back"
        seen.clear()
        wb.fit(small(), digits, epochs=1, callbacks=[Threads()], device="cpu", threads=3)
        assert seen == [("info", 3), 3], "threads= overrides the choice"
        assert torch.get_num_threads() == 2, "and is put back too"
        seen.clear()
        monkeypatch.setattr(threads, "IMPORT_THREADS", 1)  # torch.set_num_threads(2) after
        wb.fit(small(), digits, epochs=1, callbacks=[Threads()], device="cpu")
        assert seen == [("info", 2), 2], "a count the user set is kept, even for small models"
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_are_refused_before_training(digits, threads):
    with pytest.raises(ValueError, match="threads="):
        wb.fit(small(), digits, epochs=1, device="cpu", threads=threads)
