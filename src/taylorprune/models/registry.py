"""Model registry: names to builders, so a new architecture is one decorated function."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..errors import InputError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``builder(**kwargs)`` available as ``create_model(name, **kwargs)``."""

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise InputError(f"model {name!r} is registered twice")
        _BUILDERS[name] = builder
        return builder

    return add


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def is_registered(name: str) -> bool:
    return name in _BUILDERS


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build a registered model; unknown names get the list of known ones."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise InputError(
            f"unknown model {name!r}; choose one of {', '.join(list_models())}"
        ) from None
    return builder(**kwargs)
