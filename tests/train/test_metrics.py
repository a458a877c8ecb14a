import math

import pytest
import torch
import torchmetrics
from torch import nn

from taylorprune.errors import InputError
from taylorprune.train import evaluate, test_net
from taylorprune.train.metrics import MetricFunction, check_metrics, direction, meets, metric_name
from tests.custom_data import DictSegmenter, Pairs, blob_pairs, squares
from tests.train.test_loop import tiny_net


class Fixed(nn.Module):
    """Returns preset outputs batch by batch, whatever the input (to check metrics by hand)."""

    def __init__(self, outputs: torch.Tensor) -> None:
        super().__init__()
        self.outputs, self.w = outputs, nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.outputs[x[:, 0].long()] + self.w


def fixed_task(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[nn.Module, Pairs]:
    """Example i's input is its index, so the network returns outputs[i] for it."""
    index = torch.arange(len(targets)).float().view(-1, 1)
    return Fixed(outputs), Pairs(index, targets)


def test_builtin_metrics_agree_with_hand_counts():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(50, 7, generator=g), torch.randint(0, 7, (50,), generator=g)
    net, data = fixed_task(logits, labels)
    got = evaluate(net, data, metrics=["accuracy", "top5"], mini_batch_size=16)
    assert got["accuracy"] == pytest.approx(100 * (logits.argmax(1) == labels).float().mean().item())
    top5 = logits.topk(5, 1).indices.eq(labels.view(-1, 1)).any(1).float().mean().item()
    assert got["top5"] == pytest.approx(100 * top5)
    assert got["loss"] == pytest.approx(nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)


def test_rmse_compares_one_output_per_example_with_its_target():
    pred, target = torch.tensor([[1.0], [2.0], [4.0]]), torch.tensor([1.0, 0.0, 1.0])
    net, data = fixed_task(pred, target)
    got = evaluate(net, data, metrics=["rmse"], loss="mse", mini_batch_size=2)
    assert got["rmse"] == pytest.approx(math.sqrt((0 + 4 + 9) / 3))
    assert got["loss"] == pytest.approx((0 + 4 + 9) / 3)


def test_miou_on_dict_outputs_by_hand():
    masks = torch.tensor([[[0, 1], [1, 1]], [[0, 0], [1, 1]]])  # (2, 2, 2)
    guess = torch.tensor([[[0, 1], [0, 1]], [[0, 0], [1, 1]]])  # one pixel wrong
    logits = nn.functional.one_hot(guess, 2).permute(0, 3, 1, 2).float()  # (2, 2, 2, 2)

    class Seg(Fixed):
        def forward(self, x):
            return {"out": super().forward(x), "aux": torch.zeros(1)}

    index = torch.arange(2).float().view(2, 1)
    got = evaluate(Seg(logits), Pairs(index, masks), metrics=["miou", "accuracy"])
    # class 0: 3 true, 4 predicted, 3 shared; class 1: 5 true, 4 predicted, 4 shared
    iou0, iou1 = 3 / 4, 4 / 5
    assert got["miou"] == pytest.approx((iou0 + iou1) / 2)
    assert got["accuracy"] == pytest.approx(100 * 7 / 8)


def test_a_torchmetrics_metric_is_named_by_its_class_and_reset_per_evaluation():
    data = squares(12)
    jaccard = torchmetrics.JaccardIndex(task="multiclass", num_classes=2)
    net = DictSegmenter()
    first = evaluate(net, data, metrics=[jaccard], mini_batch_size=5)
    second = evaluate(net, data, metrics=[jaccard], mini_batch_size=12)
    assert set(first) == {"loss", "MulticlassJaccardIndex"}
    assert first["MulticlassJaccardIndex"] == pytest.approx(second["MulticlassJaccardIndex"])
    assert direction([jaccard], "MulticlassJaccardIndex") is True


def test_a_metric_function_is_averaged_over_examples_either_way():
    values = torch.arange(7).float().view(7, 1)
    net, data = fixed_task(values, torch.zeros(7))
    per_example = MetricFunction(lambda out, y: out.squeeze(1), higher_is_better=True, name="mean_out")
    batch_mean = MetricFunction(lambda out, y: out.mean(), higher_is_better=False, name="batch_mean")
    got = evaluate(net, data, metrics=[per_example, batch_mean], loss="mse", mini_batch_size=3)
    assert got["mean_out"] == pytest.approx(3.0)
    assert got["batch_mean"] == pytest.approx(3.0)  # batches of 3, 3, 1 weighed by size


def test_a_metric_function_gets_the_outputs_as_returned():
    seen = []

    def aux_mean(out, y):
        seen.append(sorted(out))
        return out["aux"].mean()

    got = evaluate(DictSegmenter(), squares(4), metrics=[MetricFunction(aux_mean, False)])
    assert seen == [["aux", "out"]] and math.isfinite(got["aux_mean"])


def test_test_net_takes_any_metric():
    data = blob_pairs(12)
    assert 0 <= test_net(tiny_net(), data, "accuracy") <= 100
    value = test_net(tiny_net(), data, MetricFunction(lambda o, y: (o.argmax(1) == y).float(), True, "hit"))
    assert value == pytest.approx(test_net(tiny_net(), data) / 100)


def test_directions_and_thresholds():
    assert direction(["accuracy"], "loss") is False
    assert direction(["rmse"], "rmse") is False and direction(["miou"], "miou") is True
    assert meets(91, 90, True) and not meets(89, 90, True)  # a floor
    assert meets(0.4, 0.5, False) and not meets(0.6, 0.5, False)  # a ceiling


class NoDirection(torchmetrics.MeanMetric):
    higher_is_better = None


@pytest.mark.parametrize("metrics, objective, match", [
    (["acuracy"], "loss", "unknown metric 'acuracy'"),
    ([lambda o, y: o], "loss", "MetricFunction"),
    ([NoDirection()], "loss", "higher_is_better"),
    ([MetricFunction(lambda o, y: o, True)], "loss", "needs a name"),
    (["rmse", "rmse"], "rmse", "repeat"),
    (["rmse"], "accuracy", "objective_metric_name='accuracy'"),
    ([3], "loss", "a metric must be"),
])
def test_bad_metrics_are_one_line(metrics, objective, match):
    with pytest.raises(InputError, match=match):
        check_metrics(metrics, objective)


def test_top5_needs_five_classes():
    with pytest.raises(InputError, match="at least 5 classes"):
        evaluate(tiny_net(3), blob_pairs(6), metrics=["top5"])


def test_metric_names():
    assert metric_name("rmse") == "rmse"
    assert metric_name(torchmetrics.MeanSquaredError()) == "MeanSquaredError"
    assert metric_name(MetricFunction(len, True)) == "len"
