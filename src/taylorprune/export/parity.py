"""Does the exported file compute what the PyTorch network computes?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .formats import export_format

TOLERANCE = 1e-4  # largest accepted |exported - pytorch| of any output value


@dataclass(frozen=True)
class Parity:
    """PyTorch against the exported file's runtime on one set of inputs."""

    runtime: str  # what ran the file: "onnxruntime" or "torch.export"
    inputs: str  # what was fed: "random" or "N test images"
    count: int  # number of examples
    max_abs_diff: float  # largest absolute difference over all outputs (logit units)
    top1_agree: int  # examples whose arg-max class is the same in both
    tolerance: float  # max_abs_diff must stay below this

    @property
    def passed(self) -> bool:
        return self.max_abs_diff < self.tolerance and self.top1_agree == self.count

    def line(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (f"{self.inputs}: max |{self.runtime} - pytorch| = {self.max_abs_diff:.2e} "
                f"(limit {self.tolerance:.0e}), top-1 identical on {self.top1_agree}/{self.count}: "
                f"{verdict}")


def check_parity(net: nn.Module, path: str | Path, inputs: torch.Tensor, label: str, *,
                 fmt: str = "onnx", tolerance: float = TOLERANCE, trust_code: bool = False) -> Parity:
    """Run ``inputs`` (N, C, H, W) through both; ``net`` is evaluated in eval mode, unchanged.

    ``fmt`` names the file's format in FORMATS: "onnx" (run by onnxruntime) or "pt2" (loaded
    only with ``trust_code``: see load_pt2).
    """
    was_training = net.training
    try:
        with torch.no_grad():
            expected = net.eval()(inputs).float()  # (N, classes)
    finally:
        net.train(was_training)
    file_format = export_format(fmt)
    with torch.no_grad():
        got = file_format.load(Path(path), trust_code=trust_code)(inputs.float()).float()  # (N, classes)
    return Parity(
        runtime=file_format.runtime,
        inputs=label,
        count=len(inputs),
        max_abs_diff=float((got - expected).abs().max()),
        top1_agree=int((got.argmax(1) == expected.argmax(1)).sum()),
        tolerance=tolerance,
    )
