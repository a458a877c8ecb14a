"""Where and in which precision to run: one place that reads execution_environment."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..errors import InputError


def resolve_device(environment: str = "auto") -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without one is a user error."""
    if environment == "cuda" and not torch.cuda.is_available():
        raise InputError("execution_environment='cuda' but no CUDA GPU is visible; use 'cpu' or 'auto'")
    if environment == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def use_bf16(device: torch.device, precision: str = "auto") -> bool:
    """bf16 autocast by default only on CUDA: its effect on CPU accuracy is unmeasured."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def inference_batch(device: torch.device) -> int:
    """Images per evaluation batch when the caller names none.

    1000 keeps a GPU busy. A CPU is faster in batches of 128 (the default training batch): on a
    2-core AVX2 EPYC cifarnet evaluates 1.6-2.0x faster per image than in batches of 1000
    (benchmarks/results/cpu_levers-epyc.json). Why was not measured; one activation of 1,000
    images in the first stage is 65 MB, twice that CPU's 32 MB L3 cache.
    """
    return 1000 if device.type == "cuda" else 128


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX) and oneDNN may use it.

    Without it bf16 is emulated and slower than fp32; ``ONEDNN_MAX_CPU_ISA=AVX2`` (or an older
    CPU) turns it off even where the hardware has it.
    """
    hardware = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return bool(hardware and torch.ops.mkldnn._is_mkldnn_bf16_supported()
                and torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "AVX2"))


@contextlib.contextmanager
def autocast(device: torch.device, bf16: bool) -> Iterator[None]:
    if bf16:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def prepare_model(net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move to the device in channels_last, the fast conv layout on both CPU and GPU."""
    return net.to(device=device, memory_format=torch.channels_last)
