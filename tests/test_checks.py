"""fit checks data, model and settings once, before epoch 1, and says what to fix."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import workbench as wb
from workbench.data.datasets import from_tensors
from workbench.data.models import MLP, linear
from workbench.train.checks import DataWarning, batch_sizes, before_training
from workbench.train.fit import make_loss

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def iris():
    return wb.data.load("iris", seed=0)


@pytest.fixture(scope="module")
def line():
    return wb.data.load("line", seed=0)


def run(model, data, **kwargs):
    kwargs = {"epochs": 2, "device": "cpu"} | kwargs
    return wb.fit(model, data, **kwargs).without("seconds")


def poke(X, row, column, value):
    """A copy of X with one value replaced."""
    X = X.clone()
    X[row, column] = value
    return X


def with_split(data, part, X=None, y=None):
    """A copy of `data` with one split's X or y replaced."""
    X_old, y_old = getattr(data, part)
    return dataclasses.replace(
        data, **{part: (X_old if X is None else X, y_old if y is None else y)}
    )


def test_cross_entropy_on_regression_is_refused_instead_of_a_zero_loss(line):
    with pytest.raises(ValueError, match="loss_fn='cross_entropy' needs class labels.*'mse'"):
        run(linear(1), line, loss_fn="cross_entropy")


def test_flat_regression_targets_train_like_a_column_not_an_n_by_n_broadcast(line):
    flat = from_tensors(*[(X, y[:, 0]) for X, y in (line.train, line.val, line.test)])
    column = run(linear(1), line, epochs=20, lr=0.05)
    assert run(linear(1), flat, epochs=20, lr=0.05) == column, (
        "targets of shape (n,) should train exactly like (n, 1) targets"
    )


def test_a_custom_loss_that_would_broadcast_is_refused(line):
    flat = from_tensors(*[(X, y[:, 0]) for X, y in (line.train, line.val)])
    with pytest.raises(ValueError, match=r"broadcasts into a wrong loss.*reshape\(-1, 1\)"):
        run(linear(1), flat, loss_fn=torch.nn.functional.mse_loss)
    with pytest.raises(ValueError, match="must return one number"):
        run(linear(1), line, loss_fn=nn.MSELoss(reduction="none"))


# Each case: (what is wrong, how to build model and data from iris, words the error must say)
CASES = [
    (
        "10 outputs on 3 classes",
        lambda d: (MLP((4, 16, 10)), d),
        r"outputs 10 values per row, but the data has 3 classes.*last layer 3 outputs",
    ),
    (
        "labels beyond n_classes",
        lambda d: (MLP((4, 16, 3)), with_split(d, "val", y=d.val[1] + 3)),
        r"labels of the val split run from 3 to 5, but classes are numbered 0 to 2",
    ),
    (
        "negative labels",
        lambda d: (MLP((4, 16, 3)), with_split(d, "train", y=d.train[1] - 1)),
        r"labels of the train split run from -1 to 1.*renumber",
    ),
    (
        "float labels",
        lambda d: (MLP((4, 16, 3)), with_split(d, "train", y=d.train[1].float())),
        r"y of the train split is torch.float32.*whole-number class labels.*y.long\(\)",
    ),
    (
        "model input too wide",
        lambda d: (MLP((5, 16, 3)), d),
        r"model cannot take the inputs.*\(4 features\).*first layer",
    ),
    (
        "integer inputs",
        lambda d: (MLP((4, 16, 3)), with_split(d, "train", X=(d.train[0] * 10).to(torch.uint8))),
        r"model failed on X of dtype torch.uint8.*X.float\(\)",
    ),
    (
        "empty train split",
        lambda d: (MLP((4, 16, 3)), with_split(d, "train", d.train[0][:0], d.train[1][:0])),
        r"the train split is empty",
    ),
    (
        "empty validation split",
        lambda d: (MLP((4, 16, 3)), with_split(d, "val", d.val[0][:0], d.val[1][:0])),
        r"the val split is empty.*val_size",
    ),
    (
        "empty test split",
        lambda d: (MLP((4, 16, 3)), with_split(d, "test", d.test[0][:0], d.test[1][:0])),
        r"the test split is empty.*None",
    ),
    (
        "a feature missing from val",
        lambda d: (MLP((4, 16, 3)), with_split(d, "val", X=d.val[0][:, :3])),
        r"X in the val split has shape \(3,\) but in the train split \(4,\)",
    ),
    (
        "a feature missing from test",
        lambda d: (MLP((4, 16, 3)), with_split(d, "test", X=d.test[0][:, :3])),
        r"X in the test split has shape \(3,\)",
    ),
    (
        "NaN in a validation input",
        lambda d: (MLP((4, 16, 3)), with_split(d, "val", X=poke(d.val[0], 3, 2, float("nan")))),
        r"X of the val split holds nan at row 3, column 2.*Fill or drop",
    ),
    (
        "inf in a training input",
        lambda d: (MLP((4, 16, 3)), with_split(d, "train", X=poke(d.train[0], 5, 0, np.inf))),
        r"X of the train split holds inf at row 5, column 0",
    ),
    (
        "fewer targets than inputs",
        lambda d: (MLP((4, 16, 3)), with_split(d, "train", y=d.train[1][:-1])),
        r"the train split has 90 inputs but 89 targets",
    ),
]


@pytest.mark.parametrize("build, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_data_is_named_before_epoch_1(iris, build, words):
    model, data = build(iris)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=words):
        run(model, data)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "no epoch may train first"


def test_nan_in_regression_targets_names_the_split(line):
    y = line.test[1].clone()
    y[4, 0] = float("nan")
    with pytest.raises(ValueError, match="y of the test split holds nan at row 4, column 0"):
        run(linear(1), with_split(line, "test", y=y))


def test_regression_outputs_must_match_the_target_columns(line, iris):
    with pytest.raises(ValueError, match=r"outputs 2 values per row.*have one value.*1 output"):
        run(linear(1, 2), line)
    floats = [(X.numpy(), y.numpy().astype(np.float32)) for X, y in (iris.train, iris.val)]
    with pytest.raises(ValueError, match=r"targets of the train split have one value.*y.long"):
        run(MLP((4, 16, 3)), floats)  # float class numbers read as regression targets


def test_int32_labels_numpy_arrays_and_float64_inputs_train_like_the_usual_tensors(iris):
    usual = run(MLP((4, 16, 3)), iris)
    int32 = from_tensors(*[(X, y.int()) for X, y in (iris.train, iris.val, iris.test)])
    assert run(MLP((4, 16, 3)), int32) == usual, "int32 labels should be converted to int64"
    arrays = [(X.numpy(), y.numpy()) for X, y in (iris.train, iris.val, iris.test)]
    assert run(MLP((4, 16, 3)), arrays) == usual, "float32 NumPy arrays should be accepted"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a lossless conversion says nothing
        run(MLP((4, 16, 3)), arrays)
    doubles = [(X.astype(np.float64), y) for X, y in arrays]
    with pytest.warns(
        DataWarning, match=r"the train, val and test splits hold float64 numbers.*in float32"
    ):
        assert run(MLP((4, 16, 3)), doubles) == usual, "float64 inputs become float32"
    assert arrays[0][0].dtype == np.float32, "the caller's arrays are left as they were"


def test_a_float64_model_keeps_float64_inputs(iris):
    doubles = [(X.double(), y) for X, y in (iris.train, iris.val)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = run(MLP((4, 16, 3)).double(), doubles)
    assert h["epoch"] == [1, 2], "a float64 model trains on float64 inputs without a warning"


def test_batchnorm_merges_a_last_batch_of_one_row_and_says_so_once():
    data = wb.data.load("digits", seed=0, train_size=129)  # 64 + 64 + 1 rows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = run(MLP((64, 32, 10), batch_norm=True), data, epochs=3, batch_size=64)
    said = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(said) == 1 and "batch of 65" in str(said[0].message), "one warning per run"
    assert h["epoch"] == [1, 2, 3], "every epoch trains, with the single row merged"
    with pytest.raises(ValueError, match="batch_size=2 or more"):
        run(MLP((64, 32, 10), batch_norm=True), data, batch_size=1)


def test_batchnorm_over_images_can_take_one_row_so_nothing_is_merged():
    data = wb.data.load("digits", seed=0, train_size=129, images=True)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 10))
    loss = make_loss(None, data.task)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, sizes = before_training(cnn, data, CPU, loss=loss, loss_fn=None, batch_size=64)
    assert sizes == [64, 64, 1], "a 1x6x6 row still gives BatchNorm2d 36 values per channel"
    assert batch_sizes(129, 64) == [64, 64, 1], "without BatchNorm the last row stays alone"


def test_the_check_leaves_the_model_as_it_was():
    data = wb.data.load("digits", seed=0, train_size=100)
    model = MLP((64, 32, 10), batch_norm=True, dropout=0.5)
    model.train()
    model[1].eval()  # a frozen BatchNorm stays frozen
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    loss = make_loss(None, data.task)
    before_training(model, data, CPU, loss=loss, loss_fn=None, batch_size=64)
    assert [m.training for m in model.modules()] == flags, "training flags must be restored"
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "running stats untouched"


def test_cuda_on_a_torch_without_cuda_says_which_device_to_use(iris, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = MLP((4, 16, 3))
    with pytest.raises(ValueError, match=r"device='cuda', but this PyTorch .*device='cpu'"):
        wb.fit(model, iris, epochs=2, device="cuda")
    assert next(model.parameters()).device.type == "cpu"


def test_monitor_none_is_refused_with_the_usual_names(iris):
    with pytest.raises(TypeError, match="monitor=None must name the metric.*'val_loss'"):
        run(MLP((4, 16, 3)), iris, monitor=None)


def test_the_users_data_is_not_changed(iris):
    data = from_tensors(*[(X.double(), y.int()) for X, y in (iris.train, iris.val)])
    with pytest.warns(DataWarning, match="the train and val splits hold float64"):
        run(MLP((4, 16, 3)), data)
    assert data.train[0].dtype == torch.float64, "fit converts a copy, not the caller's data"
    assert data.train[1].dtype == torch.int32, "fit converts a copy, not the caller's labels"
