"""The shipped source model loads safely and scores what its report says; rebuilding it
reproduces the same model."""

import json

import pytest
import torch

from workbench.pretrained import source as pretrained


def test_shipped_model_scores_its_report():
    report = pretrained.source_report()
    model = pretrained.load_source_model()
    data = pretrained.digit_task(report["classes"], seed=report["split_seed"])
    assert pretrained.accuracy(model, data) == pytest.approx(report["test_accuracy"], abs=1e-6)
    assert report["test_accuracy"] > 0.95


def test_shipped_file_is_a_plain_state_dict():
    weights = torch.load(pretrained.WEIGHTS, map_location="cpu", weights_only=True)
    assert set(weights) == set(pretrained.load_source_model().state_dict())
    assert pretrained.WEIGHTS.stat().st_size < 200_000


def test_digit_task_relabels_and_keeps_few_labels():
    data = pretrained.digit_task(pretrained.TARGET_CLASSES, seed=1, per_class=3)
    X, y = data.train
    assert X.shape[1:] == (1, 8, 8) and y.bincount().tolist() == [3] * 5
    assert data.n_classes == 5 and int(data.test[1].max()) == 4
    again = pretrained.digit_task(pretrained.TARGET_CLASSES, seed=1, per_class=3)
    assert torch.equal(again.train[0], X)


def test_shuffled_labels_keep_the_images_and_the_label_counts():
    plain = pretrained.digit_task(seed=0)
    shuffled = pretrained.digit_task(seed=0, shuffle_labels=True)
    assert torch.equal(plain.train[0], shuffled.train[0])
    assert torch.equal(plain.train[1].bincount(), shuffled.train[1].bincount())
    assert not torch.equal(plain.train[1], shuffled.train[1])


def test_shipped_mlp_scores_its_report():
    report = pretrained.source_report(pretrained.MLP_REPORT)
    model = pretrained.load_source_mlp()
    data = pretrained.feature_task("source", seed=report["data_seed"], n_train=report["n_train"])
    assert pretrained.accuracy(model, data) == pytest.approx(report["test_accuracy"], abs=1e-6)
    assert report["test_accuracy"] > 0.9 and report["sizes"] == list(pretrained.MLP_SIZES)


def test_shipped_mlp_file_is_a_plain_state_dict():
    weights = torch.load(pretrained.MLP_WEIGHTS, map_location="cpu", weights_only=True)
    assert set(weights) == set(pretrained.load_source_mlp().state_dict())
    assert pretrained.MLP_WEIGHTS.stat().st_size < 100_000


def test_feature_tasks_share_inputs_and_differ_in_labels():
    source = pretrained.feature_task("source", seed=3, n_train=200, n_val=50, n_test=60)
    target = pretrained.feature_task("target", seed=3, n_train=200, n_val=50, n_test=60)
    again = pretrained.feature_task("target", seed=3, n_train=200, n_val=50, n_test=60)
    assert source.train[0].shape == (200, 32) and len(source.val[1]) == 50
    assert len(target.test[1]) == 60 and target.n_classes == 5
    assert torch.equal(source.train[0], target.train[0])
    assert not torch.equal(source.train[1], target.train[1])
    assert torch.equal(again.train[1], target.train[1]) and torch.equal(
        again.test[0], target.test[0]
    )
    assert not torch.equal(pretrained.feature_task("target", seed=4, n_train=200).train[0][:5],
                           target.train[0][:5])  # fmt: skip
    W, A, B = pretrained.world()
    assert W.shape == (32, 4) and A.shape == B.shape == (4, 5)
    assert torch.equal(pretrained.world()[0], W)


def test_shuffled_feature_task_keeps_inputs_and_label_counts():
    plain = pretrained.feature_task(seed=0, n_train=500)
    shuffled = pretrained.feature_task(seed=0, n_train=500, shuffle_labels=True)
    assert torch.equal(plain.train[0], shuffled.train[0])
    assert torch.equal(plain.train[1].bincount(), shuffled.train[1].bincount())
    assert not torch.equal(plain.train[1], shuffled.train[1])
    assert torch.equal(plain.val[1], shuffled.val[1])
    with pytest.raises(ValueError):
        pretrained.feature_task("other")


@pytest.mark.slow
def test_rebuilding_reproduces_the_shipped_models(tmp_path):
    torch.set_num_threads(1)
    reports = pretrained.main(["--out", str(tmp_path)])
    for name, load in (("source_cnn", pretrained.load_source_model),
                       ("source_mlp", pretrained.load_source_mlp)):  # fmt: skip
        shipped = pretrained.source_report(pretrained.ASSETS / f"{name}.json")
        assert reports[name] == shipped == json.loads((tmp_path / f"{name}.json").read_text())
        rebuilt = load(tmp_path / f"{name}.pt")
        for key, tensor in load().state_dict().items():
            torch.testing.assert_close(rebuilt.state_dict()[key], tensor)
