"""The three documented examples, run at tiny sizes: every route they take works end to end."""

import math
import sys
from pathlib import Path

import pytest
import torch

from taylorprune import graph
from tests.custom_data import DictSegmenter
from tests.fixtures import shared_file

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import digit_rotation  # noqa: E402
import segmentation  # noqa: E402
import streaming_classification  # noqa: E402


def test_digit_rotation_prunes_a_regression_to_an_rmse_ceiling():
    result = digit_rotation.run(digit_rotation.parse(
        ["--epochs", "2", "--fine-tune-epochs", "1", "--goal", "0.1", "--increment", "0.1", "--ceiling", "1000",
         "--width", "4"]))
    assert result["images"] == {"train": 1078, "validation": 360, "test": 359}
    assert result["learnables"][1] < result["learnables"][0]
    assert result["stop_reason"] == "Learnables reduction goal reached."
    assert all(math.isfinite(v) and 0 < v < 90 for v in result["test_rmse_deg"])


def test_rotated_digits_are_deterministic_and_span_the_angles():
    a, _, _ = digit_rotation.rotated_digits(0)
    b, _, _ = digit_rotation.rotated_digits(0)
    x, angle = a.tensors
    assert x.shape[1:] == (1, 24, 24) and (x == b.tensors[0]).all()
    assert -45 <= float(angle.min()) < -40 and 40 < float(angle.max()) <= 45


def test_segmentation_prunes_a_dict_output_network_to_an_miou_floor(monkeypatch):
    # The script as documented, with a small dict-output network in place of LR-ASPP (whose
    # pruning costs about a CPU minute); the next test prunes LR-ASPP itself once.
    monkeypatch.setattr(segmentation, "network", lambda: DictSegmenter(classes=len(segmentation.CLASSES)))
    result = segmentation.run(segmentation.parse(
        ["--size", "32", "--train", "32", "--val", "16", "--epochs", "2", "--fine-tune-epochs", "1",
         "--floor", "0", "--goal", "0.1", "--increment", "0.1"]))
    assert result["learnables"][1] < result["learnables"][0]
    assert all(0 <= v <= 1 for v in result["test_miou"])
    assert result["stop_reason"] == "Learnables reduction goal reached."


def test_lraspp_prunes_with_its_dict_output_kept_whole():
    net = segmentation.network().eval()
    x = torch.rand(1, 3, 64, 64)
    cg = graph.trace_channels(net, (x,))
    heads = {m.tensor for g in cg.groups if g.reason == "network output" for m in g.members}
    assert {"classifier.low_classifier.weight", "classifier.high_classifier.weight"} <= heads
    group = max(cg.prunable, key=lambda g: g.size)
    pruned = graph.prune(net, (x,), {group.id: list(range(group.size // 2))}, channel_graph=cg)
    out = pruned(x)
    assert set(out) == {"out"} and out["out"].shape == (1, len(segmentation.CLASSES), 64, 64)
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in net.parameters())


def test_shapes_on_texture_is_deterministic_and_labels_every_kind():
    data = segmentation.ShapesOnTexture(12, size=48, seed=3)
    image, mask = data[5]
    again, mask_again = data[5]
    assert image.shape == (3, 48, 48) and mask.shape == (48, 48)
    assert (image == again).all() and (mask == mask_again).all()
    kinds = set().union(*(set(data[i][1].unique().tolist()) for i in range(len(data))))
    assert kinds == set(range(len(segmentation.CLASSES)))


@pytest.mark.shared
def test_streaming_classification_reads_a_224px_folder(tmp_path):
    tar = shared_file("data/cifar10-jpeg.tar.gz")
    result = streaming_classification.run(streaming_classification.parse(
        ["--tar", str(tar), "--folder", str(tmp_path / "folder"), "--images", "40", "--val-per-class", "1",
         "--train-images", "24", "--val-images", "10", "--workers", "2", "--batch", "8", "--epochs", "1",
         "--goal", "0.05", "--increment", "0.05", "--score-batches", "1", "--drop", "100"]))
    assert result["folder_images"] == {"train": 40, "val": 10} and result["streamed_images"] == 40
    assert result["learnables"][1] < result["learnables"][0]
    assert result["decoded_train_folder_bytes_uint8"] == 40 * 3 * 224 * 224
    assert 0 < result["peak_pss_bytes"] <= result["peak_rss_bytes"]
    assert 0 < result["stream_peak_pss_bytes"] <= result["stream_peak_rss_bytes"]
