"""Keep the memory training frees for its next mini-batch instead of handing it back to the OS.

Every forward and backward pass on a CPU allocates its activations afresh (PyTorch's CPU
allocator is the C library's malloc) and frees them at the end of the mini-batch. glibc hands
freed memory back to the OS (trimming the top of its heap, or unmapping a block big enough to
have had its own mapping), and for a training loop's mix of 1-8 MB blocks it keeps doing so.
The next mini-batch faults the same memory back in page by page: about 100 minor page faults
and 0.24 ms of system time per fine-tuning image (cifarnet at 60% fewer learnables, bf16, with
distillation, 2-core AMD EPYC Zen 4). Fixing the two thresholds, blocks up to 32 MiB (glibc's
64-bit maximum) from the heap and no trimming below 1 GiB, keeps the freed pages mapped: 1.4
faults and 0.01 ms of system time per image, and 10% less wall time per image (median of 8
paired rounds, 6 of them faster; benchmarks/cpu_allocator.py, results/cpu_allocator-zen4.json).

The cost: the process keeps up to its own peak of freed memory (at most 1 GiB at the top of
the heap) instead of returning it. A pruning or training process is about to allocate it again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit (HEAP_MAX_SIZE / 2); blocks above it still get a mapping
TRIM_THRESHOLD = 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """Fix glibc's trim and mapping thresholds for this process (once); False where the C library
    is not glibc (macOS, Windows, musl), which is left as it is."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    # Both together: fixing either one alone turns off glibc's adjustment of the other, which
    # then stays at its small default (128 KiB) and faults more than before.
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
