"""taylorprune: shrink a trained network to the smallest size that meets an accuracy floor.

The public API follows MATLAB's names in snake_case:

    net = load_model("cifarnet", pretrained=True)
    train, test = load_cifar10()
    pruned, info = compress_network_using_taylor_pruning(net, train, validation_threshold=85.0)
    test_net(pruned, test)
"""

__version__ = "0.1.0"

from . import graph  # noqa: E402
from .artifacts import load_network, save_network  # noqa: E402
from .data import ImageData, as_image_data, load_cifar10, load_image_folder, split_validation  # noqa: E402
from .errors import InputError  # noqa: E402
from .models import create_model, list_models, load_model  # noqa: E402
from .prune import (  # noqa: E402
    PruningInfo,
    StopReason,
    compress_network_using_taylor_pruning,
    count_learnables,
    default_fine_tuning_options,
)
from .train import TrainingOptions, test_net, train_network  # noqa: E402

__all__ = [
    "ImageData",
    "InputError",
    "PruningInfo",
    "StopReason",
    "TrainingOptions",
    "__version__",
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
