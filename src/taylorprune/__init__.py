"""taylorprune: shrink a trained network to the smallest size that meets an accuracy floor.

The public API follows MATLAB's names in snake_case:

    net = load_model("cifarnet", pretrained=True)
    train, test = load_cifar10()
    pruned, info = compress_network_using_taylor_pruning(net, train, validation_threshold=85.0)
    # or, the same: compress_network_using_taylor_pruning(net, train, pruning=PruningOptions(85.0))
    test_net(pruned, test)
"""

import importlib

__version__ = "0.1.0"

# Names resolve on first use (PEP 562), so `taylorprune --help` or `analyze` does not pay
# for importing every subpackage (torchvision alone costs about 2 s).
_EXPORTS = {
    "CompressionReport": "analysis",
    "analyze_network_for_compression": "analysis",
    "load_network": "artifacts",
    "save_network": "artifacts",
    "ImageData": "data",
    "as_image_data": "data",
    "load_cifar10": "data",
    "load_image_folder": "data",
    "split_validation": "data",
    "InputError": "errors",
    "create_model": "models",
    "list_models": "models",
    "load_model": "models",
    "PruningInfo": "prune",
    "PruningOptions": "prune",
    "StopReason": "prune",
    "compress_network_using_taylor_pruning": "prune",
    "count_learnables": "prune",
    "default_fine_tuning_options": "prune",
    "Distillation": "train",
    "MetricFunction": "train",
    "TrainingOptions": "train",
    "test_net": "train",
    "train_network": "train",
}


def __getattr__(name: str) -> object:
    if name == "graph":
        return importlib.import_module(f"{__name__}.graph")
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CompressionReport",
    "Distillation",
    "ImageData",
    "InputError",
    "MetricFunction",
    "PruningInfo",
    "PruningOptions",
    "StopReason",
    "TrainingOptions",
    "__version__",
    "analyze_network_for_compression",
    "as_image_data",
    "compress_network_using_taylor_pruning",
    "count_learnables",
    "create_model",
    "default_fine_tuning_options",
    "graph",
    "list_models",
    "load_cifar10",
    "load_image_folder",
    "load_model",
    "load_network",
    "save_network",
    "split_validation",
    "test_net",
    "train_network",
]
