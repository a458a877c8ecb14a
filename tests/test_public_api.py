"""The README's worked example, on a tiny network and data set, through the public names."""

import torch

import taylorprune as tp
from tests.fixtures import colour_blobs, tiny_resnet


def test_readme_workflow(tmp_path):
    train, test = colour_blobs(240, size=8, seed=1), colour_blobs(60, size=8, seed=2)
    train, val = tp.split_validation(train, 30, seed=0)
    net, _ = tp.train_network(tiny_resnet(), train, "crossentropy", tp.TrainingOptions(
        max_epochs=3, mini_batch_size=32, initial_learn_rate=0.05, verbose=False, execution_environment="cpu"))
    options = tp.default_fine_tuning_options(validation_data=val, max_epochs=1, mini_batch_size=32,
                                             verbose=False, execution_environment="cpu")
    pruned, info = tp.compress_network_using_taylor_pruning(
        net, train, "crossentropy", options, validation_threshold=50.0,
        learnables_reduction_increment=0.2, learnables_reduction_goal=0.4, num_importance_score_iterations=2)
    assert isinstance(info.stop_reason, tp.StopReason)
    assert info.learnables == tp.count_learnables(pruned) < tp.count_learnables(net)
    assert 0 <= tp.test_net(pruned, test) <= 100
    path = tp.save_network(pruned, tmp_path / "p.safetensors", "tests.fixtures:tiny_resnet", plans=info.plans,
                           input_shape=(3, 8, 8))
    same = tp.load_network(path, trust_code=True).eval()
    x = torch.rand(4, 3, 8, 8)
    # The loaded network is in NCHW, the pruned one still in channels_last from training: other
    # kernels, other summation orders (bit-equal on some CPUs, not on AVX2 ones). Same weights
    # give outputs within float32 rounding of a few additions; wrong weights differ by far more.
    torch.testing.assert_close(same(x), pruned.eval()(x), rtol=1e-5, atol=1e-6)


def test_every_public_name_resolves():
    for name in tp.__all__:
        assert getattr(tp, name) is not None


def test_readme_custom_task():
    """The README's custom-task example: a Dataset, dict outputs, a torchmetrics objective as a floor."""
    import torchmetrics

    from tests.custom_data import DictSegmenter, squares

    net, train, val = DictSegmenter(), squares(48), squares(16, seed=1)
    miou = torchmetrics.JaccardIndex(task="multiclass", num_classes=2)
    opts = tp.TrainingOptions(max_epochs=2, mini_batch_size=16, initial_learn_rate=0.05, validation_data=val,
                              metrics=[miou], objective_metric_name="MulticlassJaccardIndex",
                              output_network="best-validation", verbose=False, execution_environment="cpu")
    net, _ = tp.train_network(net, train, "crossentropy", opts)
    pruned, info = tp.compress_network_using_taylor_pruning(
        net, train, "crossentropy", opts.replace(max_epochs=1), validation_threshold=0.3,
        learnables_reduction_goal=0.2, learnables_reduction_increment=0.1, num_importance_score_iterations=2)
    assert info.objective_metric == "MulticlassJaccardIndex" and info.higher_is_better
    assert info.validation_metric >= 0.3 and tp.count_learnables(pruned) < tp.count_learnables(net)
    assert tp.test_net(pruned, val, tp.MetricFunction(lambda out, y: (out["out"].argmax(1) == y).float().mean(),
                                                      higher_is_better=True, name="pixels")) >= 0
