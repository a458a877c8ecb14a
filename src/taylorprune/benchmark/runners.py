"""One callable per runtime that runs a network on a fixed batch: the table benchmarks use.

Adding a runtime is one function and one entry in ``RUNNERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..export import export_onnx, onnx_session

# (net in eval mode, batch (N, C, H, W), scratch folder, threads) -> a call to time
Runner = Callable[[nn.Module, torch.Tensor, Path, int], Callable[[], object]]


def pytorch_eager(net: nn.Module, x: torch.Tensor, scratch: Path, threads: int) -> Callable[[], object]:
    """PyTorch eager on CPU, no autograd bookkeeping."""

    def call() -> object:
        with torch.inference_mode():
            return net(x)

    return call


def onnxruntime_cpu(net: nn.Module, x: torch.Tensor, scratch: Path, threads: int) -> Callable[[], object]:
    """onnxruntime's CPU provider on the network exported once per benchmark (dynamic batch).

    Worker threads do not spin between runs, so networks timed in alternation do not
    steal each other's cores.
    """
    path = scratch / "net.onnx"
    if not path.exists():
        export_onnx(net, path, tuple(x.shape[1:]))
    session = onnx_session(path, threads, spin=False)
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


RUNNERS: dict[str, Runner] = {"pytorch": pytorch_eager, "onnxruntime": onnxruntime_cpu}
