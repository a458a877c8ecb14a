"""train_network: MATLAB's trainnet for image classifiers held in memory."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import distributed
from ..errors import InputError
from ..losses import LossFn, resolve_loss
from ..outputs import main_output, to_float32
from .allocator import keep_freed_memory
from .device import autocast, prepare_model, resolve_device, use_bf16
from .distill import Distillation, distillation_loss, folded
from .evaluate import check_network_input, evaluate
from .graphs import GraphedStep
from .history import (
    TrainingInfo,
    TrainingRecord,
    TrainingStopReason,
    ValidationRecord,
    images_per_second,
)
from .metrics import direction, unit
from .onednn import onednn_safe_convolutions
from .options import TrainingOptions
from .schedule import learn_rate_at
from .sources import as_source

_FLUSH_EVERY = 25  # iterations between host syncs for the history and the progress bar


@dataclass
class TrainingState:
    """Where a train_network call stood after an epoch: enough to continue it exactly.

    Plain tensors, numbers and dicts only, so it saves with torch.save and loads back with
    ``torch.load(weights_only=True)`` (no pickled code).
    """

    epoch: int  # epochs completed
    iteration: int
    network: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    generator: torch.Tensor  # state of the shuffling/augmentation generator
    torch_rng: torch.Tensor  # global CPU RNG (dropout and the like)
    order: torch.Tensor  # the current epoch order (what shuffle="once" keeps)
    info: dict[str, Any]  # TrainingInfo.to_dict() so far
    best: dict[str, Any] | None  # {"score", "iteration", "network"} of the best validation
    train_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Shallow: ``dataclasses.asdict`` would deep-copy every weight tensor on each epoch."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


EpochCallback = Callable[[TrainingState], None]


def train_network(
    net: nn.Module,
    train: Any,
    loss: str | LossFn = "crossentropy",
    options: TrainingOptions | None = None,
    *,
    on_epoch: EpochCallback | None = None,
    resume: TrainingState | None = None,
    distillation: Distillation | None = None,
    deadline: float | None = None,
) -> tuple[nn.Module, TrainingInfo]:
    """Train ``net`` in place on ``train``; return it and its history.

    ``train`` (and ``options.validation_data``) is an ImageData or (X, y), a map-style
    Dataset of (input, target) pairs, or a DataLoader (train.sources). ``loss`` is a name
    from losses.LOSSES or a callable ``loss(outputs, targets) -> batch mean``.

    With output_network="best-validation" the returned weights are those of the
    validation with the best objective metric, not the last iteration. ``on_epoch`` gets a
    TrainingState after every epoch (to checkpoint); ``resume`` continues from one.
    ``distillation`` mixes a teacher's soft targets into the loss on every mini-batch.
    ``deadline`` (a ``time.perf_counter()`` value) ends training at the first iteration after
    it, so a time-budgeted caller is not overrun when load rises; the learning rate schedule
    then also follows the clock, so it has annealed by the deadline however slow training is.
    """
    opts = options or TrainingOptions()
    if opts.output_network == "best-validation" and opts.validation_data is None:
        raise InputError("output_network='best-validation' needs validation_data; pass it in TrainingOptions")
    device = resolve_device(opts.execution_environment)
    if device.type == "cpu":
        keep_freed_memory()
    bf16 = use_bf16(device, opts.precision)
    loss_fn = resolve_loss(loss, opts.label_smoothing)
    data = as_source(train, device, workers=opts.num_workers)
    val = None if opts.validation_data is None else as_source(opts.validation_data, device,
                                                               workers=opts.num_workers)
    torch.manual_seed(opts.seed)
    net = prepare_model(net, device)
    outputs = check_network_input(net, data, loss_fn)
    with onednn_safe_convolutions(net, device):  # before the optimizer and DDP see the weights
        run = _Run(net, data, val, loss_fn, opts, device, bf16, distillation,
                   partly_used=not isinstance(outputs, torch.Tensor))
        run.deadline = deadline
        return run.net, run.fit(on_epoch, resume)


class _Run:
    """State of one training call; methods are the steps of the loop."""

    def __init__(self, net, data, val, loss_fn, opts, device, bf16, distillation: Distillation | None,
                 partly_used: bool = False) -> None:
        self.net, self.data, self.val, self.loss_fn = net, data, val, loss_fn
        self.opts, self.device, self.bf16 = opts, device, bf16
        self.distillation = distillation
        self.teacher = None if distillation is None else prepare_model(folded(distillation.teacher), device).eval()
        self.batch = min(opts.mini_batch_size, len(data))  # global: all ranks together
        if data.controls_order:
            distributed.check_batch(self.batch)
        elif distributed.is_main() and opts.verbose:
            tqdm.write(f"note: {data.note}")
        self.per_epoch = max(data.num_batches(self.batch, drop_last=True), 1)
        self.model = distributed.wrap(net, partly_used=partly_used)  # DDP averages the ranks' gradients
        # On CUDA the learning rate lives in a device tensor, so a captured step reads the
        # current value on every replay instead of the one baked in at capture.
        self.lr = torch.tensor(opts.initial_learn_rate, device=device) if device.type == "cuda" else None
        self.optimizer = _optimizer(net, opts, self.lr)
        # A graph replays fixed shapes: a user's DataLoader may end an epoch with a partial batch.
        graphs = device.type == "cuda" and opts.cuda_graphs and not distributed.active() and data.controls_order
        self.step = GraphedStep(self._update) if graphs else self._update
        self.verbose = opts.verbose and distributed.is_main()  # under torchrun rank 0 alone reports
        self.generator = torch.Generator().manual_seed(opts.seed)
        self.objective_higher = direction(opts.metrics, opts.objective_metric_name)
        self.info = TrainingInfo()
        self.best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        self.iteration = 0
        self.train_seconds = 0.0
        self.deadline: float | None = None  # perf_counter() value at which training stops
        self.started = 0.0  # perf_counter() value at which fit() began

    def fit(self, on_epoch: EpochCallback | None, resume: TrainingState | None) -> TrainingInfo:
        start = self.started = time.perf_counter()
        total = self.opts.max_epochs * self.per_epoch
        bar = tqdm(total=total, disable=not self.verbose, delay=2.0, unit="it", leave=False)
        order = torch.randperm(len(self.data), generator=self.generator)
        first = 0
        if resume is not None:
            order, first = self._restore(resume), resume.epoch
            bar.update(self.iteration)
        self.info.stop_reason = TrainingStopReason.MAX_EPOCHS
        try:
            for epoch in range(first, self.opts.max_epochs):
                if self.opts.shuffle == "every-epoch" and epoch > 0:
                    order = torch.randperm(len(self.data), generator=self.generator)
                if self.opts.shuffle == "never":
                    order = torch.arange(len(self.data))
                if not self._epoch(epoch, order, bar):
                    self.info.stop_reason = TrainingStopReason.DIVERGED
                    break
                if self._past_deadline():
                    self.info.stop_reason = TrainingStopReason.TIME_LIMIT
                    break
                if on_epoch is not None:
                    on_epoch(self._state(epoch + 1, order))
        finally:
            bar.close()
            # Drop the captured graph and its memory pool now: the step refers back to this
            # run, so otherwise they would wait for the garbage collector.
            self.step = self._update
        distributed.average_buffers(self.net)
        if self.val is not None and (not self.info.validation_history or
                                     self.info.validation_history[-1].iteration != self.iteration):
            self._validate()
        self._select_output()
        self.info.elapsed_s = time.perf_counter() - start
        self.info.training_seconds = self.train_seconds
        # The run's own total, however short: the progress display alone holds back noisy early rates.
        self.info.images_per_second = self.iteration * self.batch / self.train_seconds if self.train_seconds > 0 else 0.0
        return self.info

    def _state(self, epochs_done: int, order: torch.Tensor) -> TrainingState:
        best = None
        if self.best is not None:
            best = {"score": self.best[0], "iteration": self.best[1], "network": self.best[2]}
        optimizer = self.optimizer.state_dict()
        for group in optimizer["param_groups"]:  # a plain number: the state loads on any device
            group["lr"] = float(group["lr"])
        return TrainingState(
            epochs_done, self.iteration, self.net.state_dict(), optimizer,
            self.generator.get_state(), torch.get_rng_state(), order, self.info.to_dict(), best,
            self.train_seconds)

    def _restore(self, state: TrainingState) -> torch.Tensor:
        self.net.load_state_dict(state.network)
        self.optimizer.load_state_dict(state.optimizer)
        if self.lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr
        self.generator.set_state(state.generator)
        torch.set_rng_state(state.torch_rng)
        self.iteration, self.train_seconds = state.iteration, state.train_seconds
        self.info = TrainingInfo.from_dict(state.info)
        if state.best is not None:
            self.best = (state.best["score"], state.best["iteration"], state.best["network"])
        return state.order

    def _epoch(self, epoch: int, order: torch.Tensor, bar) -> bool:
        """One pass; False when the loss became non-finite."""
        self.net.train()
        pending: list[tuple] = []  # (iteration, epoch, lr, batch, loss, hits), copied to the host in bulk
        tick = time.perf_counter()
        batches = self.data.batches(order, self.batch, augment=self.opts.augment,
                                    generator=self.generator, drop_last=True, shard=True)
        for step, (x, y) in enumerate(batches):
            self.iteration += 1
            lr = learn_rate_at(self.opts, max(epoch + step / self.per_epoch, self._clock_epoch()))
            self._set_learn_rate(lr)
            loss, hits = self.step(x, y)
            n = self.batch if self.data.controls_order else len(y) * distributed.world_size()
            pending.append((self.iteration, epoch + (step + 1) / self.per_epoch, lr, n, loss, hits))
            bar.update(1)
            validate = self.val is not None and self.iteration % self.opts.validation_frequency == 0
            late = self._past_deadline()  # a clock read, no device sync: checked on every iteration
            if validate or late or len(pending) == _FLUSH_EVERY:
                ok = self._flush(pending)  # waits for the device: the time below is real
                tick = self._clock(tick, bar)
                if not ok:
                    return False
                pending = []
                if late:
                    return True
            if validate:
                self._validate()
                tick = time.perf_counter()
        ok = self._flush(pending)
        self._clock(tick, bar)
        return ok

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def _clock_epoch(self) -> float:
        """Where the schedule would be if training were to end exactly at the deadline (0 without one).

        The learning rate follows the further of this and the iteration count, so training that
        runs slower than planned has still annealed when the deadline cuts it, instead of
        stopping at a high rate part-way through its schedule.
        """
        if self.deadline is None or self.deadline <= self.started:
            return 0.0
        return self.opts.max_epochs * (time.perf_counter() - self.started) / (self.deadline - self.started)

    def _clock(self, tick: float, bar) -> float:
        """Add the training time since ``tick`` (the device has finished it) and show the rate."""
        now = time.perf_counter()
        self.train_seconds += now - tick
        if self.info.training_history:
            last = self.info.training_history[-1]
            shown = {"loss": f"{last.loss:.3f}", "acc": f"{last.accuracy:.1f}", "lr": f"{last.learn_rate:.3g}"}
            rate = images_per_second(self.iteration * self.batch, self.train_seconds)
            if rate is not None:  # images over the training time of this call and any it resumes
                shown["img_s"] = f"{rate:.0f}"
            bar.set_postfix(shown, refresh=False)
        return now

    def _set_learn_rate(self, lr: float) -> None:
        if self.lr is not None:
            self.lr.fill_(lr)  # a device write, no host sync
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    def _update(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward and optimizer step on one mini-batch: the part a CUDA graph captures."""
        with autocast(self.device, self.bf16):
            out = to_float32(self.model(x))
            loss = self.loss_fn(out, y)
            if self.distillation is not None:
                with torch.no_grad():
                    soft = main_output(self.teacher(x)).float()
                d = self.distillation
                loss = distillation_loss(main_output(out), soft, loss, d.weight, d.temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), _hits(main_output(out).detach(), y)

    def _flush(self, pending: list[tuple]) -> bool:
        """Copy buffered per-iteration figures to the host in one sync; False if a loss is non-finite.

        Under torchrun the ranks' figures are summed first, so all record (and stop on) the same.
        """
        if not pending:
            return True
        figures = torch.stack([torch.stack([p[4] for p in pending]).float(),
                               torch.stack([p[5] for p in pending]).float()])
        figures = distributed.all_reduce_sum(figures).cpu()  # the one host sync
        losses = (figures[0] / distributed.world_size()).tolist()
        hits = figures[1].tolist()
        for (it, epoch, lr, n, _, _), loss, hit in zip(pending, losses, hits, strict=True):
            self.info.training_history.append(TrainingRecord(it, epoch, loss, 100.0 * hit / n, lr))
        return all(math.isfinite(v) for v in losses)

    def _validate(self) -> None:
        distributed.average_buffers(self.net)  # every rank validates the same network
        metrics = evaluate(self.net, self.val, metrics=self.opts.metrics, loss=self.loss_fn,
                           device=self.device, bf16=self.bf16)
        record = ValidationRecord(self.iteration, self.iteration / self.per_epoch, metrics["loss"],
                                  metrics.get("accuracy", math.nan), metrics)
        value = metrics[self.opts.objective_metric_name]
        score = value if self.objective_higher else -value
        if math.isfinite(record.loss) and math.isfinite(score) and (self.best is None or score > self.best[0]):
            record.is_best = True
            state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
            self.best = (score, self.iteration, state)
        self.info.validation_history.append(record)
        if self.verbose:
            figures = ", ".join(f"{name} {v:.4g}{unit(name)}" for name, v in metrics.items())
            tqdm.write(f"  iteration {record.iteration}: validation {figures}{' (best)' if record.is_best else ''}")
        self.net.train()

    def _select_output(self) -> None:
        self.info.output_network_iteration = self.iteration
        diverged = self.info.stop_reason == TrainingStopReason.DIVERGED
        if self.best is not None and (self.opts.output_network == "best-validation" or diverged):
            _, iteration, state = self.best
            self.net.load_state_dict(state)
            self.info.output_network_iteration = iteration


def _hits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Correct examples in the batch (per-pixel share for masks) when the task classifies, else NaN.

    Classifying: class indices ``y`` (N, ...) against scores (N, C, ...). The mini-batch
    accuracy in the training history is 100 * hits / batch size.
    """
    if y.dtype in (torch.int64, torch.int32) and out.ndim == y.ndim + 1:
        return (out.argmax(1) == y).float().reshape(len(y), -1).mean(1).sum()
    return torch.full((), math.nan, device=out.device)


def _optimizer(net: nn.Module, opts: TrainingOptions, lr: torch.Tensor | None) -> torch.optim.Optimizer:
    """The solver; with a device-tensor ``lr`` (CUDA) the fused kernels, which read it on the device."""
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise InputError("the network has no trainable parameters")
    rate: float | torch.Tensor = opts.initial_learn_rate if lr is None else lr
    fused = True if lr is not None else None
    if opts.solver == "adam":
        return torch.optim.AdamW(params, lr=rate, weight_decay=opts.l2_regularization, fused=fused,
                                 capturable=lr is not None)
    return torch.optim.SGD(params, lr=rate, momentum=opts.momentum, weight_decay=opts.l2_regularization,
                           fused=fused)

