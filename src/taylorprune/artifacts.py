"""Networks on disk, safe to load: safetensors weights plus a JSON manifest, never a pickle.

A pruned network's architecture differs from the class that defined it, so the manifest
records how to rebuild it: the base model spec (and its keyword arguments), then the
channel plans that ``graph.prune`` applies to it, in order. Loading rebuilds, prunes,
and loads the weights with every tensor shape checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from . import __version__, graph
from .errors import InputError
from .models import build_model, load_model, load_weights

MANIFEST_KEY = "taylorprune"
FORMAT_VERSION = 1

Plan = Mapping[int, Sequence[int]]


def save_network(
    net: nn.Module,
    path: str | Path,
    spec: str,
    *,
    kwargs: Mapping[str, Any] | None = None,
    plans: Sequence[Plan] = (),
    input_shape: Sequence[int] = (3, 32, 32),
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``net`` (built from ``spec`` then pruned by ``plans``) to one .safetensors file."""
    path = Path(path)
    manifest = {
        "format": FORMAT_VERSION,
        "spec": spec,
        "kwargs": dict(kwargs or {}),
        "plans": [{str(g): [int(i) for i in ix] for g, ix in plan.items()} for plan in plans],
        "input_shape": list(input_shape),
        "taylorprune": __version__,
        "torch": torch.__version__,
        **dict(extra or {}),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata={MANIFEST_KEY: json.dumps(manifest)})
    tmp.replace(path)  # atomic: a crash never leaves a half-written network behind
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(MANIFEST_KEY)
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise InputError(f"{path} is not a readable .safetensors file ({err})") from None
    if raw is None:
        raise InputError(f"{path} was not written by taylorprune; pass --model NAME --weights {path}")
    manifest = json.loads(raw)
    if manifest.get("format", 0) > FORMAT_VERSION:
        raise InputError(f"{path} has format {manifest['format']}; upgrade taylorprune to read it")
    return manifest


def load_network(path: str | Path) -> nn.Module:
    """Rebuild the architecture a taylorprune file records and load its weights."""
    manifest = read_manifest(path)
    net = build_model(manifest["spec"], **manifest["kwargs"])
    example = (torch.zeros(1, *manifest["input_shape"]),)
    for plan in manifest["plans"]:
        net = graph.prune(net, example, {int(g): ix for g, ix in plan.items()})
    return load_weights(net, path)


def resolve_network(spec: str, *, weights: str | None = None, pretrained: bool = False,
                    **kwargs: Any) -> nn.Module:
    """A model spec or a taylorprune file: what every CLI --model accepts."""
    if Path(spec).suffix == ".safetensors" and Path(spec).is_file():
        net = load_network(spec)
        return load_weights(net, weights) if weights else net
    if Path(spec).is_file():
        raise InputError(f"{spec} does not say which architecture it holds; "
                         f"pass the architecture and the file separately: --model NAME --weights {spec}")
    return load_model(spec, weights=weights, pretrained=pretrained, **kwargs)
