"""Write a network as a torch.export program (.pt2) with a dynamic batch axis.

Needs only torch: the file runs with ``torch.export.load(path).module()`` or AOTInductor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from .onnx_file import BATCH, export_error

SUFFIX = ".pt2"  # torch.export.save and load warn about any other name


def export_pt2(net: nn.Module, path: str | Path, input_shape: Sequence[int]) -> Path:
    """Trace ``net`` in eval mode with torch.export and save the program, weights inside.

    ``input_shape`` is one example's (C, H, W); the batch axis is symbolic, so one file
    serves any batch size.
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        raise InputError(f"{path}: name a torch.export file with the {SUFFIX} extension "
                         "(torch.export.load expects it)")
    example = torch.rand(2, *input_shape)  # batch 2: a batch of 1 could be specialised away
    was_training = net.training
    net.eval()
    try:
        program = torch.export.export(net, (example,), dynamic_shapes=({0: torch.export.Dim(BATCH, min=1)},))
    except RuntimeError as err:  # control flow on values, a batch size baked in, an unsupported op
        raise export_error(net, "with torch.export", err) from err
    finally:
        net.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(path))
    return path


def load_pt2(path: str | Path, *, trust_code: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """The saved program as a function of a batch (N, C, H, W) -> (N, classes).

    torch.export.load unpickles the weights and constants an archive marks as pickled with
    ``weights_only=False`` (torch 2.14), so a .pt2 file can run any code it holds: it is
    loaded only with ``trust_code=True``, for files you wrote or trust.
    """
    if not trust_code:
        raise InputError(f"{path}: torch.export.load unpickles parts of a .pt2 file, which can run code "
                         "the file holds; pass trust_code=True only for files you wrote or trust")
    return torch.export.load(str(path)).module()
