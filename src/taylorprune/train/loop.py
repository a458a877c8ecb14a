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
from ..data import to_image_data
from ..errors import InputError
from ..losses import resolve_loss
from .batches import iterate_batches, to_device
from .device import autocast, prepare_model, resolve_device, use_bf16
from .distill import Distillation, distillation_loss
from .evaluate import check_network_input, evaluate
from .graphs import GraphedStep
from .history import TrainingInfo, TrainingRecord, TrainingStopReason, ValidationRecord
from .options import TrainingOptions
from .schedule import learn_rate_at

_FLUSH_EVERY = 25  # iterations between host syncs for the history and the progress bar
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
    """Train ``net`` in place on ``train`` (ImageData or (X, y)); return it and its history.

    With output_network="best-validation" the returned weights are those of the
    validation with the best objective metric, not the last iteration. ``on_epoch`` gets a
    TrainingState after every epoch (to checkpoint); ``resume`` continues from one.
    ``distillation`` mixes a teacher's soft targets into the loss on every mini-batch.
    ``deadline`` (a ``time.perf_counter()`` value) ends training at the first host sync after
    it (at most 25 iterations late), so a time-budgeted caller is not overrun when load rises.
    """
    opts = options or TrainingOptions()
    data = to_image_data(train)
    val = None if opts.validation_data is None else to_image_data(opts.validation_data)
    if opts.output_network == "best-validation" and val is None:
        raise InputError("output_network='best-validation' needs validation_data; pass it in TrainingOptions")
    device = resolve_device(opts.execution_environment)
    bf16 = use_bf16(device, opts.precision)
    torch.manual_seed(opts.seed)
    net = prepare_model(net, device)
    check_network_input(net, data)
    run = _Run(net, data, val, resolve_loss(loss, opts.label_smoothing), opts, device, bf16, distillation)
    run.deadline = deadline
    return run.net, run.fit(on_epoch, resume)


class _Run:
    """State of one training call; methods are the steps of the loop."""

    def __init__(self, net, data, val, loss_fn, opts, device, bf16, distillation: Distillation | None) -> None:
        self.net, self.data, self.val, self.loss_fn = net, data, val, loss_fn
        self.opts, self.device, self.bf16 = opts, device, bf16
        self.distillation = distillation
        self.teacher = None if distillation is None else prepare_model(distillation.teacher, device).eval()
        self.images, self.labels = to_device(data, device)
        self.batch = min(opts.mini_batch_size, len(data))  # global: all ranks together
        distributed.check_batch(self.batch)
        self.per_epoch = max(len(data) // self.batch, 1)
        self.model = distributed.wrap(net)  # DDP averages the ranks' gradients
        # On CUDA the learning rate lives in a device tensor, so a captured step reads the
        # current value on every replay instead of the one baked in at capture.
        self.lr = torch.tensor(opts.initial_learn_rate, device=device) if device.type == "cuda" else None
        self.optimizer = _optimizer(net, opts, self.lr)
        graphs = device.type == "cuda" and opts.cuda_graphs and not distributed.active()
        self.step = GraphedStep(self._update) if graphs else self._update
        self.verbose = opts.verbose and distributed.is_main()  # under torchrun rank 0 alone reports
        self.generator = torch.Generator().manual_seed(opts.seed)
        self.info = TrainingInfo()
        self.best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        self.iteration = 0
        self.train_seconds = 0.0
        self.deadline: float | None = None  # perf_counter() value at which training stops

    def fit(self, on_epoch: EpochCallback | None, resume: TrainingState | None) -> TrainingInfo:
        start = time.perf_counter()
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
        seen = self.iteration * self.batch
        self.info.images_per_second = seen / self.train_seconds if self.train_seconds else 0.0
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
        batches = iterate_batches(self.images, self.labels, order, self.batch, augment=self.opts.augment,
                                  generator=self.generator, drop_last=True, shard=True)
        for step, (x, y) in enumerate(batches):
            self.iteration += 1
            lr = learn_rate_at(self.opts, epoch + step / self.per_epoch)
            self._set_learn_rate(lr)
            loss, hits = self.step(x, y)
            pending.append((self.iteration, epoch + (step + 1) / self.per_epoch, lr, self.batch, loss, hits))
            bar.update(1)
            validate = self.val is not None and self.iteration % self.opts.validation_frequency == 0
            if validate or len(pending) == _FLUSH_EVERY:
                ok = self._flush(pending, bar)  # waits for the device: the time below is real
                now = time.perf_counter()
                self.train_seconds += now - tick
                tick = now
                if not ok:
                    return False
                pending = []
                if self._past_deadline():
                    return True
            if validate:
                self._validate()
                tick = time.perf_counter()
        ok = self._flush(pending, bar)
        self.train_seconds += time.perf_counter() - tick
        return ok

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def _set_learn_rate(self, lr: float) -> None:
        if self.lr is not None:
            self.lr.fill_(lr)  # a device write, no host sync
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    def _update(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward and optimizer step on one mini-batch: the part a CUDA graph captures."""
        with autocast(self.device, self.bf16):
            logits = self.model(x)
            loss = self.loss_fn(logits.float(), y)
            if self.distillation is not None:
                with torch.no_grad():
                    soft = self.teacher(x).float()
                d = self.distillation
                loss = distillation_loss(logits.float(), soft, loss, d.weight, d.temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    def _flush(self, pending: list[tuple], bar) -> bool:
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
        last = self.info.training_history[-1]
        speed = self.iteration * self.batch / max(self.train_seconds, 1e-9)
        bar.set_postfix(loss=f"{last.loss:.3f}", acc=f"{last.accuracy:.1f}", lr=f"{last.learn_rate:.3g}",
                        img_s=f"{speed:.0f}", refresh=False)
        return all(math.isfinite(v) for v in losses)

    def _validate(self) -> None:
        distributed.average_buffers(self.net)  # every rank validates the same network
        metrics = evaluate(self.net, self.val, device=self.device, bf16=self.bf16)
        record = ValidationRecord(self.iteration, self.iteration / self.per_epoch,
                                  metrics["loss"], metrics["accuracy"])
        score = -record.loss if self.opts.objective_metric_name == "loss" else record.accuracy
        if math.isfinite(record.loss) and (self.best is None or score > self.best[0]):
            record.is_best = True
            state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
            self.best = (score, self.iteration, state)
        self.info.validation_history.append(record)
        if self.verbose:
            tqdm.write(f"  iteration {record.iteration}: validation loss {record.loss:.4f}, "
                       f"accuracy {record.accuracy:.2f}%{' (best)' if record.is_best else ''}")
        self.net.train()

    def _select_output(self) -> None:
        self.info.output_network_iteration = self.iteration
        diverged = self.info.stop_reason == TrainingStopReason.DIVERGED
        if self.best is not None and (self.opts.output_network == "best-validation" or diverged):
            _, iteration, state = self.best
            self.net.load_state_dict(state)
            self.info.output_network_iteration = iteration


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

