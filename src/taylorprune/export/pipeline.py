"""Export a network and prove the file faithful: what ``taylorprune export`` runs per format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data import ImageData
from .formats import export_format
from .parity import TOLERANCE, Parity, check_parity


@dataclass(frozen=True)
class ExportReport:
    """The written file and its parity checks against PyTorch."""

    path: Path  # the written file (.onnx or .pt2)
    checks: tuple[Parity, ...]  # random inputs first, then test images when given

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def lines(self) -> list[str]:
        size_kib = self.path.stat().st_size / 1024
        return [f"wrote {self.path} ({size_kib:.0f} KiB, dynamic batch axis)",
                *(c.line() for c in self.checks)]


def export_network(
    net: nn.Module,
    path: str | Path,
    input_shape: Sequence[int],
    *,
    fmt: str = "onnx",
    data: ImageData | None = None,
    images: int = 100,
    random_inputs: int = 8,
    seed: int = 0,
    tolerance: float = TOLERANCE,
) -> ExportReport:
    """Write ``fmt`` ("onnx" or "pt2"), then compare the file's runtime with PyTorch on random
    inputs and on ``images`` of ``data``.

    Random inputs are uniform in [0, 1) like the images the networks take; the images are
    the first ``images`` of ``data`` (uint8 scaled to [0, 1]).
    """
    path = export_format(fmt).write(net, Path(path), input_shape)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(random_inputs, *input_shape, generator=generator)  # (N, C, H, W)
    # trust_code: the file is the one written just above
    checks = [check_parity(net, path, noise, f"{random_inputs} random inputs", fmt=fmt,
                           tolerance=tolerance, trust_code=True)]
    if data is not None:
        x = data.images[:images]
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()  # (N, C, H, W) in [0, 1]
        checks.append(check_parity(net, path, x, f"{len(x)} test images", fmt=fmt, tolerance=tolerance,
                                   trust_code=True))
    return ExportReport(path, tuple(checks))
