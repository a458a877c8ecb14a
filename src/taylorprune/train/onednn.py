"""Keep training clear of a oneDNN bug: weight gradients of strided 1x1 convolutions in channels_last.

oneDNN 3.12 (in torch 2.14) computes the weight gradient of a 1x1 convolution with stride > 1
on a channels_last input with its ``jit_1x1`` x64 kernels, which first copy the strided input
into a per-thread workspace. For channels_last the workspace holds rows of IC channels, but
the kernels index it in rows of a whole vector block: 8 channels with AVX2, 16 with AVX-512.
With fewer input channels than that (a projection shortcut after pruning) the copies run past
the workspace: wrong weight gradients, a reducer that spins forever, or a corrupted heap
(SIGSEGV, "corrupted size vs. prev_size"). docs/onednn-avx2-crash.md has the reproduction.

Only those convolutions run in NCHW while training, where oneDNN's blocked kernels are
correct; the rest of the network stays channels_last. The weight tensors get back their
strides on exit, so the caller's network is left as it was given (values aside).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
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
def nchw_where_onednn_fails(net: nn.Module, device: torch.device) -> Iterator[list[str]]:
    """Within the block, the affected convolutions of ``net`` compute in NCHW; yields their names."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        yield []
        return
    block = channel_block()
    chosen = [(name, m) for name, m in net.named_modules() if affected(m, block)]
    handles, strides = [], []
    for _, conv in chosen:
        strides.append(conv.weight.stride())
        # A 1x1 weight is channels_last and contiguous at once; only its strides tell which
        # layout the convolution takes, and channels_last ones would win over the input's.
        conv.weight.data = conv.weight.data.clone(memory_format=torch.contiguous_format)
        handles.append(conv.register_forward_pre_hook(_input_to_nchw))
        handles.append(conv.register_forward_hook(_output_to_channels_last))
    try:
        yield [name for name, _ in chosen]
    finally:
        for handle in handles:
            handle.remove()
        for (_, conv), stride in zip(chosen, strides, strict=True):
            w = conv.weight.data
            conv.weight.data = torch.empty_strided(w.shape, stride, dtype=w.dtype, device=w.device).copy_(w)


def _input_to_nchw(module: nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(), *args[1:])


def _output_to_channels_last(module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor:
    return out.contiguous(memory_format=torch.channels_last) if out.dim() == 4 else out
