"""What a network returns: a tensor, a dict (torchvision segmentation: {"out", "aux"}), a tuple.

Losses given by name and built-in metrics read the network's main output; callables given by
the user get the outputs exactly as the network returns them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .errors import InputError

MAIN_KEY = "out"  # the key torchvision's segmentation and detection-style dicts use


def main_output(outputs: Any) -> torch.Tensor:
    """The tensor itself, a dict's "out" (else its first value), or a tuple's first element."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    if isinstance(outputs, Mapping) and outputs:
        return main_output(outputs[MAIN_KEY] if MAIN_KEY in outputs else next(iter(outputs.values())))
    if isinstance(outputs, (tuple, list)) and outputs:
        return main_output(outputs[0])
    raise InputError(f"the network returned {type(outputs).__name__}; return a tensor, a dict with "
                     f"an {MAIN_KEY!r} tensor, or a tuple whose first element is a tensor")


def to_float32(outputs: Any) -> Any:
    """The outputs with every floating tensor in float32 (bf16 autocast outputs included)."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float() if outputs.is_floating_point() else outputs
    if isinstance(outputs, Mapping):
        return {k: to_float32(v) for k, v in outputs.items()}
    if isinstance(outputs, (tuple, list)):
        items = [to_float32(v) for v in outputs]
        if hasattr(outputs, "_fields"):  # a namedtuple keeps its type
            return type(outputs)(*items)
        return tuple(items) if isinstance(outputs, tuple) else items
    return outputs
