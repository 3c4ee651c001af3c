"""Datasets split and scale as documented; models build deterministically from a seed."""

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.data.models import MLP, SmallCNN, linear


@pytest.mark.parametrize("name", wb.data.NAMES)
def test_every_dataset_splits_into_disjoint_standardized_parts(name):
    data = wb.data.load(name, seed=1)
    (X, y), (Xv, _), (Xt, _) = data.train, data.val, data.test
    assert X.dtype == torch.float32 and X.shape[1] == data.n_features
    assert len(X) > len(Xv) > 0 and len(Xt) > 0
    torch.testing.assert_close(X.mean(0), torch.zeros(X.shape[1]), atol=1e-4, rtol=0)
    if data.task == "classification":
        assert y.dtype == torch.int64 and int(y.max()) < data.n_classes
    else:
        assert y.shape == (len(X), 1)


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = (wb.data.load("iris", seed=s) for s in (0, 0, 1))
    assert torch.equal(a.train[0], b.train[0])
    assert not torch.equal(a.train[0], c.train[0])


def test_train_size_and_label_noise():
    clean = wb.data.load("digits", seed=0, train_size=200)
    noisy = wb.data.load("digits", seed=0, train_size=200, label_noise=0.5)
    assert len(clean.train[0]) == 200
    flipped = (clean.train[1] != noisy.train[1]).float().mean().item()
    assert 0.3 < flipped < 0.6  # half are redrawn, and a tenth of those land on the same class
    assert torch.equal(clean.val[1], noisy.val[1])  # noise only in training labels


def test_digits_as_images():
    data = wb.data.load("digits", seed=0, images=True)
    assert data.train[0].shape[1:] == (1, 8, 8)
    assert SmallCNN()(data.train[0][:5]).shape == (5, 10)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"name": "mnist"}, "unknown dataset"),
        ({"val_size": 0.0}, "val_size"),
        ({"test_size": 0.9}, "test_size"),
        ({"train_size": 0}, "train_size"),
        ({"label_noise": 2.0}, "label_noise"),
        ({"name": "iris", "images": True}, "images"),
        ({"name": "moons", "noise": float("nan")}, "noise=nan must be a finite number"),
        ({"name": "line", "noise": float("inf")}, "noise=inf must be a finite number"),
        ({"name": "line", "noise": -1.0}, "noise=-1.0 must be a finite number of at least 0"),
        ({"name": "moons", "n_samples": 0}, "n_samples=0 must be at least 1 row"),
        ({"name": "line", "n_samples": 2.5}, "n_samples=2.5 must be a whole number"),
        ({"name": "blobs", "n_samples": 12}, "12 rows of 'blobs' are too few to split"),
        ({"seed": -1}, "seed=-1 must be a whole number of at least 0"),
        ({"seed": 1.5}, "seed=1.5 must be a whole number"),
        ({"name": "iris", "n_samples": 50}, "n_samples=50 has no effect on 'iris'.*train_size"),
        ({"name": "digits", "noise": 0.3}, "noise=0.3 has no effect on 'digits'.*label_noise"),
        ({"name": "blobs", "noise": 0.3}, "noise=0.3 has no effect on 'blobs'"),
        ({"name": "line", "label_noise": 0.3}, "label_noise=0.3 has no effect on 'line'.*noise="),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, word):
    with pytest.raises(ValueError, match=word):
        wb.data.load(**kwargs)


def test_the_options_a_dataset_takes_still_apply():
    moons = wb.data.load("moons", n_samples=100, noise=0.0, seed=3)
    rows = sum(len(part[0]) for part in (moons.train, moons.val, moons.test))
    assert rows == 100, "n_samples=100 should make 100 moons in all"
    X, y = (t[:, 0].double().numpy() for t in wb.data.load("line", noise=0.0).train)
    residual = y - np.polyval(np.polyfit(X, y, 1), X)
    assert abs(residual).max() < 1e-4, "noise=0 should put every point on the line"


def test_from_tensors_takes_numpy_and_counts_classes_in_every_split():
    X = np.zeros((6, 2), dtype=np.float32)
    train, val, test = (X, np.array([0, 1, 0, 1, 0, 1])), (X, np.zeros(6, int)), (X, np.full(6, 2))
    data = wb.data.from_tensors(train, val, test)
    assert isinstance(data.train[0], torch.Tensor), "NumPy arrays become tensors"
    assert data.task == "classification", "integer labels mean classification"
    assert data.n_classes == 3, "a label seen only in the test split is still a class"
    assert wb.data.from_tensors(train, val, n_classes=5).n_classes == 5, "given n_classes wins"
    with pytest.raises(ValueError, match=r"the val split must be an \(X, y\) pair"):
        wb.data.from_tensors(train, X)


def test_models_are_seeded_and_leave_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = MLP((4, 8, 3), seed=5), MLP((4, 8, 3), seed=5)
    assert torch.rand(1) == before  # building models did not consume global randomness
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(MLP((4, 8, 3), seed=6)[0].weight, a[0].weight)
    assert linear(4, 2).weight.shape == (2, 4)
    with pytest.raises(ValueError, match="sizes"):
        MLP((4,))


def test_slicing_an_mlp_shares_its_layers():
    model = MLP((4, 8, 8, 3))
    body = model[:-1]
    assert isinstance(body, torch.nn.Sequential) and len(body) == len(model) - 1
    assert body[0] is model[0]
    assert body(torch.zeros(2, 4)).shape == (2, 8)
