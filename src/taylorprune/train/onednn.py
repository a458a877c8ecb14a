"""Keep training clear of a oneDNN bug: weight gradients of strided 1x1 convolutions in channels_last.

oneDNN 3.12 (in torch 2.14) computes the weight gradient of a 1x1 convolution with stride > 1
on a channels_last input with its ``jit_1x1`` x64 kernels, which first copy the strided input
into a per-thread workspace. For channels_last the workspace holds rows of IC channels, but
the kernels index it in rows of a whole vector block: 8 channels with AVX2, 16 with AVX-512.
With fewer input channels than that (a projection shortcut after pruning) the copies run past
the workspace: wrong weight gradients, a reducer that spins forever, or a corrupted heap
(SIGSEGV, "corrupted size vs. prev_size"). docs/onednn-avx2-crash.md has the reproduction.

A 1x1 convolution with stride s is the same as one with stride 1 on every s-th row and
column. While training, those convolutions take their input subsampled that way and run with
stride 1: no workspace copy, the same fast channels_last kernels, the same numbers. Their
stride and padding are put back on exit.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) below AVX-512: their kernels block channels by 8.
_BELOW_AVX512 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2"})


def channel_block() -> int:
    """Channels per vector block in oneDNN's x64 kernels on this machine: 8 below AVX-512, else 16.

    16 whenever in doubt (an unknown CPU or torch without the query): it covers both.
    """
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    if cap in _BELOW_AVX512:
        return 8
    has_avx2 = getattr(torch.cpu, "_is_avx2_supported", lambda: False)()  # False off x86
    has_avx512 = getattr(torch.cpu, "_is_avx512_supported", lambda: True)()
    return 8 if has_avx2 and not has_avx512 else 16


def affected(module: nn.Module, block: int) -> bool:
    """A convolution whose weight gradient would take the faulty kernel."""
    return (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and max(module.stride) > 1
            and module.in_channels // module.groups < block and module.weight.requires_grad)


@contextlib.contextmanager
def onednn_safe_convolutions(net: nn.Module, device: torch.device) -> Iterator[list[str]]:
    """Within the block, the affected convolutions of ``net`` run with stride 1; yields their names."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        yield []
        return
    block = channel_block()
    chosen = [(name, m) for name, m in net.named_modules() if affected(m, block)]
    saved = [(conv.stride, conv.padding, conv.padding_mode) for _, conv in chosen]
    handles = []
    for (_, conv), (stride, _, mode) in zip(chosen, saved, strict=True):
        padding = tuple(conv._reversed_padding_repeated_twice)  # (left, right, top, bottom)
        hook = functools.partial(_subsample, stride=stride, padding=padding,
                                 mode="constant" if mode == "zeros" else mode)
        handles.append(conv.register_forward_pre_hook(hook))
        conv.stride, conv.padding, conv.padding_mode = (1, 1), (0, 0), "zeros"
    try:
        yield [name for name, _ in chosen]
    finally:
        for handle in handles:
            handle.remove()
        for (_, conv), (stride, padding, mode) in zip(chosen, saved, strict=True):
            conv.stride, conv.padding, conv.padding_mode = stride, padding, mode


def _subsample(module: nn.Module, args: tuple, *, stride: tuple[int, int], padding: tuple[int, ...],
               mode: str) -> tuple:
    """The input rows and columns a 1x1 kernel with ``stride`` reads, after the layer's padding.

    A 1x1 average pool picks them exactly, in one channels_last pass each way; slicing
    (``x[..., ::s, ::s]``) costs two full-size scatters in the backward pass, 3x the layer's time.
    """
    x = args[0]
    if any(padding):
        x = F.pad(x, padding, mode=mode)
    return (F.avg_pool2d(x, kernel_size=1, stride=stride), *args[1:])
