"""Does the exported file compute what the PyTorch network computes?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .runtime import onnx_session

TOLERANCE = 1e-4  # largest accepted |onnxruntime - pytorch| of any output value


@dataclass(frozen=True)
class Parity:
    """PyTorch against onnxruntime on one set of inputs."""

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
        return (f"{self.inputs}: max |onnxruntime - pytorch| = {self.max_abs_diff:.2e} "
                f"(limit {self.tolerance:.0e}), top-1 identical on {self.top1_agree}/{self.count}: "
                f"{verdict}")


def check_parity(net: nn.Module, onnx_path: str | Path, inputs: torch.Tensor, label: str, *,
                 tolerance: float = TOLERANCE) -> Parity:
    """Run ``inputs`` (N, C, H, W) through both; ``net`` is evaluated in eval mode, unchanged."""
    was_training = net.training
    try:
        with torch.no_grad():
            expected = net.eval()(inputs).float()  # (N, classes)
    finally:
        net.train(was_training)
    session = onnx_session(onnx_path)
    name = session.get_inputs()[0].name
    got = torch.from_numpy(session.run(None, {name: inputs.float().numpy()})[0])  # (N, classes)
    return Parity(
        inputs=label,
        count=len(inputs),
        max_abs_diff=float((got - expected).abs().max()),
        top1_agree=int((got.argmax(1) == expected.argmax(1)).sum()),
        tolerance=tolerance,
    )
