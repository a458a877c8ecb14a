"""Running under torchrun: one process per GPU (or per CPU worker), DDP for the gradients.

The contract (docs/distributed.md): ``mini_batch_size`` is the global mini-batch. Every rank
walks the same global order with the same augmentation draws and takes its contiguous
1/W of each mini-batch, so the ranks together do exactly the single-process step. Metrics,
validation and Taylor scores are summed across ranks, so every rank sees the same numbers
and makes the same decisions; only rank 0 writes files and prints. Outside torchrun every
function here is a no-op for one process.
"""

from __future__ import annotations

import datetime
import gc
import os

import torch
import torch.distributed as dist
from torch import nn

from .errors import InputError

# Collectives fail after this long instead of hanging when a rank has died (torchrun also
# ends the job as soon as one rank exits with an error).
TIMEOUT = datetime.timedelta(seconds=float(os.environ.get("TAYLORPRUNE_COLLECTIVE_TIMEOUT", 300)))


def init_from_environment() -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1): nccl on CUDA, gloo on CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return False
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # Before the group exists: torch.distributed.nn's functions take ``group=group.WORLD`` as a
    # default argument, evaluated on import. Imported later (DDP imports it), they would hold the
    # group for good: destroy_process_group could not free it, and gloo's threads would be torn
    # down during interpreter exit, where they can abort the process.
    from torch.distributed import nn as _distributed_nn  # noqa: F401

    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    return True


def finish() -> None:
    """Leave the group and free it now, while the interpreter is whole: a DDP wrapper that
    outlived its training (in a reference cycle) still holds the group until collected."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        gc.collect()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` in place across ranks (every rank gets the same bits) and return it."""
    if active():
        dist.all_reduce(tensor)
    return tensor


def check_batch(batch: int) -> None:
    """The global mini-batch must split evenly, or the ranks would not add up to one step."""
    if batch % world_size():
        raise InputError(f"mini_batch_size {batch} does not split evenly over {world_size()} processes; "
                         "use a multiple of the process count")


def local_part(start: int, size: int) -> slice:
    """This rank's contiguous share of the global positions [start, start + size)."""
    part = size // world_size()
    return slice(start + rank() * part, start + (rank() + 1) * part)


def average_buffers(net: nn.Module) -> None:
    """Make the BN running statistics equal on every rank (each saw only its own shard)."""
    if not active():
        return
    for buffer in net.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer.div_(world_size())


def wrap(net: nn.Module, *, partly_used: bool = False) -> nn.Module:
    """The network under DDP when several ranks train it, else itself.

    ``partly_used``: the loss may leave some outputs (and the parameters behind them) unused,
    e.g. a segmentation network's "aux" head; DDP then looks for them every step, which
    costs a graph walk, so only networks returning a dict or tuple pay it.
    """
    if not active():
        return net
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.cuda.current_device()] if next(net.parameters()).is_cuda else None
    return DistributedDataParallel(net, device_ids=ids, find_unused_parameters=partly_used)
