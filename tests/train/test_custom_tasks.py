"""train_network on Datasets, DataLoaders, dict outputs and lower-is-better objectives."""

import math

import pytest
import torch
import torchmetrics
from torch.utils.data import DataLoader

from taylorprune.train import TrainingOptions, evaluate, train_network
from taylorprune.train.metrics import MetricFunction
from tests.custom_data import DictSegmenter, blob_pairs, regressor, slopes, squares
from tests.train.test_loop import tiny_net

QUICK = dict(verbose=False, execution_environment="cpu")


def test_training_on_a_dataset_streams_it_and_learns():
    data = blob_pairs(96)
    before = evaluate(tiny_net(), data)["loss"]
    data.reads = 0
    opts = TrainingOptions(max_epochs=4, mini_batch_size=16, initial_learn_rate=0.05, **QUICK)
    net, info = train_network(tiny_net(), data, "crossentropy", opts)
    assert len(info.training_history) == 4 * 6
    assert data.reads == 4 * 96 + 2  # each example once per epoch, plus the two of the input check
    assert evaluate(net, data)["loss"] < 0.7 * before


def test_dataset_and_image_data_train_the_same_network():
    """Same order, same batches: the Dataset route is the ImageData route without augmentation."""
    from tests.fixtures import colour_blobs

    opts = TrainingOptions(max_epochs=2, mini_batch_size=16, initial_learn_rate=0.05, augment=False, **QUICK)
    a, _ = train_network(tiny_net(), colour_blobs(48), "crossentropy", opts)
    b, _ = train_network(tiny_net(), blob_pairs(48), "crossentropy", opts)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)


def test_a_users_dataloader_is_used_as_given():
    loader = DataLoader(blob_pairs(50), batch_size=20, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    opts = TrainingOptions(max_epochs=2, mini_batch_size=7, validation_data=DataLoader(blob_pairs(30, seed=3)),
                           validation_frequency=3, **QUICK)
    _, info = train_network(tiny_net(), loader, "crossentropy", opts)
    assert len(info.training_history) == 2 * 3  # its 3 batches of 20, 20, 10 per epoch, not 50 // 7
    assert info.validation_history and math.isfinite(info.validation_history[-1].accuracy)


def test_segmentation_with_dict_outputs_and_a_torchmetrics_objective():
    jaccard = torchmetrics.JaccardIndex(task="multiclass", num_classes=2)
    opts = TrainingOptions(max_epochs=3, mini_batch_size=8, initial_learn_rate=0.05,
                           validation_data=squares(16, seed=1), validation_frequency=4,
                           metrics=[jaccard, "accuracy"], objective_metric_name="MulticlassJaccardIndex",
                           output_network="best-validation", **QUICK)
    net, info = train_network(DictSegmenter(), squares(32), "crossentropy", opts)
    scores = [r.metrics["MulticlassJaccardIndex"] for r in info.validation_history]
    best = [r for r in info.validation_history if r.is_best][-1]
    assert best.metrics["MulticlassJaccardIndex"] == max(scores)
    assert scores[-1] > 0.5  # a bright square on noise is easy
    assert 0 <= info.training_history[-1].accuracy <= 100  # per-pixel accuracy of the mini-batch


def test_a_lower_is_better_objective_keeps_the_lowest():
    mae = MetricFunction(lambda out, y: (out.squeeze(1) - y).abs(), higher_is_better=False, name="mae")
    opts = TrainingOptions(max_epochs=4, mini_batch_size=16, solver="adam", initial_learn_rate=0.02,
                           validation_data=slopes(32, seed=1), validation_frequency=2,
                           metrics=["rmse", mae], objective_metric_name="rmse",
                           output_network="best-validation", **QUICK)
    net, info = train_network(regressor(), slopes(64), "mse", opts)
    rmse = [r.metrics["rmse"] for r in info.validation_history]
    best = [r for r in info.validation_history if r.is_best][-1]
    assert best.metrics["rmse"] == min(rmse)
    assert evaluate(net, slopes(32, seed=1), metrics=["rmse"], loss="mse")["rmse"] == pytest.approx(min(rmse))
    assert all(math.isnan(r.accuracy) for r in info.training_history)  # no accuracy for a regression
