"""One callable per runtime that runs a network on a fixed batch: the table benchmarks use.

Adding a runtime is one function and one entry in ``RUNNERS``.
"""

from __future__ import annotations

import copy
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


def pytorch_cuda(net: nn.Module, x: torch.Tensor, scratch: Path, threads: int) -> Callable[[], object]:
    """PyTorch eager on the GPU, fp32, channels_last; each call waits for the device to finish."""
    return _on_cuda(net, x, bf16=False)


def pytorch_cuda_bf16(net: nn.Module, x: torch.Tensor, scratch: Path, threads: int) -> Callable[[], object]:
    """As pytorch-cuda under bf16 autocast, the precision taylorprune trains in on CUDA."""
    return _on_cuda(net, x, bf16=True)


def _on_cuda(net: nn.Module, x: torch.Tensor, *, bf16: bool) -> Callable[[], object]:
    gpu = copy.deepcopy(net).cuda().to(memory_format=torch.channels_last)
    batch = x.cuda().contiguous(memory_format=torch.channels_last)

    def call() -> object:
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=bf16):
            out = gpu(batch)
        torch.cuda.synchronize()
        return out

    return call


RUNNERS: dict[str, Runner] = {"pytorch": pytorch_eager, "onnxruntime": onnxruntime_cpu,
                              "pytorch-cuda": pytorch_cuda, "pytorch-cuda-bf16": pytorch_cuda_bf16}
CUDA_RUNTIMES = ("pytorch-cuda", "pytorch-cuda-bf16")
