"""One pruning run's working set: what it prunes with (fixed at the start) and where it stands.

The loop (prune/loop.py) and its steps (prune/steps.py) share one Session. Everything a run
decides follows from its fields, so a run resumed from a PruningCheckpoint rebuilds the
same Session and makes the same choices as one that never stopped.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import distributed, graph
from ..analysis import count_macs
from ..losses import LossFn
from ..train import Distillation, TrainingOptions, TrainingState
from ..train.device import prepare_model, resolve_device, use_bf16
from ..train.evaluate import check_network_input
from ..train.metrics import direction
from ..train.sources import DataSource
from .acceptance import Evidence, meets_floor
from .budget import Budget, Costs
from .costs import COSTS, Cost, CostContext
from .history import PruningInfo, PruningRecord
from .options import PruningOptions

Plan = dict[int, list[int]]  # graph.prune plan: {group id: channel indices to remove}


@dataclass
class FineTuneCheckpoint:
    """Where the fine-tuning of one pruning iteration stood after an epoch."""

    iteration: int  # the pruning iteration being fine-tuned
    plan: Plan  # its plan, applied to the checkpoint's network
    state: TrainingState


@dataclass
class PruningCheckpoint:
    """Where a run stood after an accepted iteration: enough to continue it exactly."""

    network: nn.Module  # the best network so far (the result of info.plans)
    info: PruningInfo
    fine_tune: FineTuneCheckpoint | None = None  # the next iteration's fine-tuning, part done


IterationCallback = Callable[[int, nn.Module, PruningInfo], None]
FineTuneCallback = Callable[[FineTuneCheckpoint], None]


@dataclass
class Session:
    """A pruning run: the first block is fixed once it starts, the second changes as it goes."""

    original: nn.Module  # the caller's network, never modified
    data: DataSource  # training data: in memory on the device, a Dataset, or a DataLoader
    loss: LossFn  # what fine-tuning minimises and the scores differentiate
    train_opts: TrainingOptions  # fine-tuning options; their validation data is a DataSource
    opts: PruningOptions
    device: torch.device
    example: torch.Tensor  # (1, C, H, W) float on the device: what tracing and surgery run
    cost: Cost
    distillation: Distillation | None  # the unpruned network as teacher, when distilling
    on_iteration: IterationCallback | None
    on_fine_tune_epoch: FineTuneCallback | None

    best: nn.Module  # the most pruned network that met the threshold so far
    best_trace: graph.ChannelGraph | None  # its channel graph, when at hand (saves a trace)
    info: PruningInfo  # the history, which the result and any checkpoint carry
    pending: FineTuneCheckpoint | None = None  # a part-done fine-tuning to resume
    # Decides steps when confidence > 0 (prune.acceptance): never trained on, never picks an epoch.
    acceptance: DataSource | None = None
    clock_start: float = 0.0  # perf_counter() when the time budget's clock started
    report_images: int = 0  # images the caller evaluates after the run, which a time budget keeps time for
    report_s: float = 0.0  # seconds the caller spends after the run besides those images (its latency table)
    budget: Budget | None = None  # the time budget's fixed shares, once the baseline has been timed
    costs: Costs = dataclasses.field(default_factory=lambda: Costs(eval_image_s=0.0))  # measured so far

    @property
    def val(self) -> DataSource:
        return self.train_opts.validation_data

    @property
    def metric(self) -> str:
        return self.train_opts.objective_metric_name

    @property
    def higher_is_better(self) -> bool:
        return direction(self.train_opts.metrics, self.metric)

    @property
    def last_accepted(self) -> PruningRecord:
        return [r for r in self.info.pruning_history if r.meets_threshold][-1]

    def meets(self, proof: Evidence) -> bool:
        """Whether the evidence meets the threshold: a floor when higher is better (accuracy, mIoU;
        accuracy by its lower bound), a ceiling when lower is (loss, RMSE)."""
        return meets_floor(proof, self.opts.validation_threshold, higher_is_better=self.higher_is_better)

    def not_worse(self, value: float, than: float) -> bool:
        return value >= than if self.higher_is_better else value <= than

    @property
    def bound(self) -> str:
        """How the threshold reads in the log: "floor 85" or "ceiling 8"."""
        return f"{'floor' if self.higher_is_better else 'ceiling'} {self.opts.validation_threshold:g}"

    def missed(self, record: PruningRecord) -> str:
        """Why a recorded network fails the threshold, in the figure that decided: e.g. "validation
        rmse 12.3 above the ceiling 8", or with a confidence bound "validation accuracy 86.2
        (lower bound 84.88) below the floor 85"."""
        side = "below the" if self.higher_is_better else "above the"
        low = record.validation_low
        bound = "" if low is None else f" (lower bound {low:.4g})"
        return f"validation {self.metric} {record.validation_metric:.4g}{bound} {side} {self.bound}"

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to info.time_split[phase] (device work included)."""
        start = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        split = self.info.time_split
        split[phase] = split.get(phase, 0.0) + time.perf_counter() - start

    def log(self, line: str) -> None:
        log(self.train_opts, line)


def log(options: TrainingOptions, line: str) -> None:
    """A progress line on the terminal, when the options are verbose (rank 0 only under torchrun)."""
    if options.verbose and distributed.is_main():
        tqdm.write(line)


def start_session(net: nn.Module, data: DataSource, loss: LossFn, train_opts: TrainingOptions,
                  opts: PruningOptions, resume_from: PruningCheckpoint | None,
                  on_iteration: IterationCallback | None, on_fine_tune_epoch: FineTuneCallback | None,
                  acceptance: DataSource | None = None) -> Session:
    """Check the network takes the data (sources: in-memory sets are on the device already),
    trace it (an untraceable network fails here, before any work), and set up the cost and
    distillation."""
    device = resolve_device(train_opts.execution_environment)
    check_network_input(net, data, loss)
    if data.controls_order:
        distributed.check_batch(min(train_opts.mini_batch_size, len(data)))
    example = data.example(1)[0]  # (1, ...) on the device
    traced = graph.trace_channels(net, (example.to(next(net.parameters()).device),))
    cost_kind = COSTS[opts.cost]
    # The unpruned network, on the device and never trained: distillation's teacher and the
    # reference a measured cost is timed against. Copied only when one of them needs it.
    unpruned = prepare_model(copy.deepcopy(net), device).eval() \
        if cost_kind.needs_reference or opts.distillation_weight > 0 else None
    cost = cost_kind(CostContext(example, unpruned, opts.latency_batch_size, opts.kept_multiple(),
                                 use_bf16(device, train_opts.precision)))
    distillation = None if unpruned is None or opts.distillation_weight == 0 else \
        Distillation(unpruned, opts.distillation_weight, opts.distillation_temperature)
    if resume_from is None:
        best, best_trace, pending = prepare_model(copy.deepcopy(net), device), traced, None
        info = PruningInfo(original_learnables=count_learnables(net), original_macs=count_macs(traced.gm).total,
                           objective_metric=train_opts.objective_metric_name,
                           higher_is_better=direction(train_opts.metrics, train_opts.objective_metric_name))
    else:
        best, best_trace, pending = prepare_model(resume_from.network, device), None, resume_from.fine_tune
        info = resume_from.info
    info.time_budget_s = opts.time_budget_s
    if acceptance is not None:
        info.acceptance = {"images": len(acceptance), "confidence": opts.confidence,
                           "decision_confidence": opts.decision_confidence(), "max_failed_steps": opts.max_failed_steps,
                           "selection_images": len(train_opts.validation_data)}
    return Session(net, data, loss, train_opts, opts, device, example, cost, distillation, on_iteration,
                   on_fine_tune_epoch, best, best_trace, info, pending, acceptance)

def count_learnables(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)

