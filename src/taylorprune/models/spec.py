"""One model spec string, accepted everywhere a model is named.

- a registered name: ``cifarnet``, ``resnet56``, ``resnet20_projection``;
- ``torchvision:NAME`` for any torchvision classification model (``torchvision:resnet18``);
- ``package.module:factory`` for a user's own builder.

A spec passed here is the caller's own choice, like an import statement: a factory spec is
imported and called. A spec read from a file is another matter: ``untrusted_code`` says what
building it would run beyond taylorprune's and torchvision's builders, and
``taylorprune.artifacts.load_network`` refuses such a file unless the caller trusts it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from .checkpoints import load_weights
from .normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize
from .registry import create_model, is_registered, list_models

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
TORCHVISION = "torchvision:"
_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class HeldOut:
    """The validation split bundled weights were trained without: ``split_validation(train, size,
    seed)`` of a training set of ``of`` images. Validating on any other image of that set would
    judge a network on images it learned."""

    size: int
    seed: int
    of: int


HELD_OUT = {"cifarnet": HeldOut(size=5000, seed=0, of=50_000)}  # as its model card says


class InputNormalized(nn.Module):
    """Wraps a network that expects normalised input so it takes images in [0, 1]."""

    def __init__(self, net: nn.Module, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def builder_kwargs(spec: object, num_classes: int) -> dict[str, int]:
    """``{"num_classes": n}`` for specs whose builders take it (built-in names, torchvision)."""
    takes_it = isinstance(spec, str) and (spec.startswith(TORCHVISION) or is_registered(spec))
    return {"num_classes": num_classes} if takes_it else {}


def untrusted_code(spec: str, kwargs: Mapping[str, object], *, source: str) -> str | None:
    """Why building ``spec`` with ``kwargs`` could run code other than taylorprune's registered
    builders and torchvision's classifiers, or None when it cannot.

    For specs that come out of a file (``source`` names it in the answer): registered names
    and ``torchvision:`` specs pass, with keyword values that are plain JSON (numbers, strings,
    booleans, null, lists of them) so nothing but data reaches a builder.
    """
    if not (spec.startswith(TORCHVISION) or is_registered(spec)) and ":" in spec:
        return f"{source} names the builder {spec!r}, code loading would import and run"
    for key, value in kwargs.items():
        if not _plain(value):
            return (f"keyword {key!r} of {source} is {value!r}, not a plain JSON value "
                    "(number, string, boolean, null, or a list of them)")
    return None


def _plain(value: object) -> bool:
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return type(value) in _JSON_SCALARS


def build_model(spec: str, **kwargs: object) -> nn.Module:
    """Build the (untrained) architecture that ``spec`` names."""
    if spec.startswith(TORCHVISION):
        return _torchvision(spec.removeprefix(TORCHVISION), **kwargs)
    if is_registered(spec):
        return create_model(spec, **kwargs)
    if ":" in spec:
        return _factory(spec, **kwargs)
    raise InputError(
        f"unknown model {spec!r}; use one of {', '.join(list_models())}, "
        "torchvision:NAME, package.module:factory, or a .safetensors file written by taylorprune"
    )


def load_model(
    spec: str | nn.Module,
    *,
    weights: str | Path | None = None,
    pretrained: bool = False,
    trust_checkpoint: bool = False,
    **kwargs: object,
) -> nn.Module:
    """Resolve a spec (or pass a module through), then load weights if asked."""
    if isinstance(spec, nn.Module):
        model = spec
    else:
        model = build_model(spec, **kwargs)
        if pretrained:
            load_weights(model, pretrained_path(spec))
    if weights is not None:
        load_weights(model, weights, trust=trust_checkpoint)
    return model


def pretrained_path(name: str) -> Path:
    path = PRETRAINED_DIR / f"{name}.safetensors"
    if not path.is_file():
        have = sorted(p.stem for p in PRETRAINED_DIR.glob("*.safetensors"))
        raise InputError(
            f"no bundled pretrained weights for {name!r} (bundled: {', '.join(have) or 'none'}); "
            "train it with `taylorprune train` or pass --weights FILE"
        )
    return path


def _torchvision(name: str, **kwargs: object) -> nn.Module:
    """A classifier from torchvision's own registry, by exact name: no detection or segmentation
    builder (those fetch backbone weights), nothing torchvision does not list."""
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise InputError(f"torchvision has no classification model {name!r}; known: {', '.join(known)}")
    return InputNormalized(torchvision.models.get_model(name, weights=None, **kwargs))


def _factory(spec: str, **kwargs: object) -> nn.Module:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise InputError(
            f"cannot import factory {spec!r} ({err}); check that the module is on PYTHONPATH"
        ) from None
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise InputError(f"factory {spec!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model
