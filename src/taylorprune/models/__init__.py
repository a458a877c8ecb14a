"""Model zoo, spec strings and checkpoint loading."""

from . import cifar_resnet  # noqa: F401  (registers the CIFAR ResNets)
from .checkpoints import load_weights, read_state_dict
from .normalize import Normalize
from .registry import create_model, list_models, register_model
from .spec import HELD_OUT, HeldOut, InputNormalized, build_model, builder_kwargs, load_model

__all__ = [
    "HELD_OUT",
    "HeldOut",
    "InputNormalized",
    "Normalize",
    "build_model",
    "create_model",
    "list_models",
    "load_model",
    "builder_kwargs",
    "load_weights",
    "read_state_dict",
    "register_model",
]
