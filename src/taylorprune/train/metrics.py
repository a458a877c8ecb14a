"""Metrics (MATLAB's Metrics and ObjectiveMetricName): what validation reports and optimises.

A metric is one of three things, each resolved here to a ``torchmetrics.Metric`` so that
every kind accumulates on the device and is summed across torchrun ranks the same way
(torchmetrics gathers its states in ``compute()`` whenever a process group is initialised):

- a built-in name from BUILTIN ("accuracy", "top5", "loss", "rmse", "miou");
- a ``torchmetrics.Metric`` instance: named by its class, its direction is its
  ``higher_is_better``; it is reset at the start of every evaluation and updated with the
  network's main output (train.outputs) and the targets;
- a ``MetricFunction``: a plain callable ``fn(outputs, targets)`` on the outputs exactly as
  the network returns them, averaged over examples, in the direction the user gives.

The direction decides what "best" means and whether a validation threshold is a floor
(higher is better) or a ceiling (lower is better).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torchmetrics
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from ..errors import InputError
from ..losses import LossFn
from ..outputs import main_output

Feed = Callable[[torchmetrics.Metric, Any, torch.Tensor], None]  # (metric, outputs, targets)


@dataclass(frozen=True)
class MetricFunction:
    """A plain callable as a metric: its mean over examples, in the direction the user says."""

    fn: Callable[[Any, torch.Tensor], torch.Tensor]  # (outputs, targets) -> (N,) per example, or the batch mean
    higher_is_better: bool  # True: accuracy-like (a threshold is a floor); False: error-like (a ceiling)
    name: str = ""  # how reports call it; default: the function's __name__


@dataclass(frozen=True)
class Context:
    """What built-in metrics need to know about the task before the first mini-batch."""

    loss: LossFn  # the run's loss, for the "loss" metric
    num_outputs: int  # size of the main output along dim 1 (classes); 0 when it has no dim 1


@dataclass
class BoundMetric:
    """One metric ready for one evaluation: a torchmetrics state on the device and how to feed it."""

    name: str
    higher_is_better: bool
    metric: torchmetrics.Metric
    feed: Feed
    scale: float = 1.0  # reported value = scale * computed value (100 for percentages)

    def compute(self) -> float:
        value = self.metric.compute()  # gathers the ranks' states under torchrun
        if value.numel() != 1:
            raise InputError(f"metric {self.name} returned shape {tuple(value.shape)}; a metric must "
                             "give one number (e.g. average='macro' for per-class metrics)")
        return self.scale * float(value)


@dataclass(frozen=True)
class Builtin:
    higher_is_better: bool
    unit: str  # printed after the value in reports
    build: Callable[[Context], tuple[torchmetrics.Metric, Feed, float]]


def _main(metric: torchmetrics.Metric, outputs: Any, targets: torch.Tensor) -> None:
    metric.update(main_output(outputs).float(), targets)


def _classes(ctx: Context, least: int, name: str) -> int:
    if ctx.num_outputs < least:
        raise InputError(f"metric {name!r} needs a network output of (N, classes, ...) with at least "
                         f"{least} classes, this one has {ctx.num_outputs}; choose another metric")
    return ctx.num_outputs


def _accuracy(top_k: int) -> Callable[[Context], tuple[torchmetrics.Metric, Feed, float]]:
    def build(ctx: Context) -> tuple[torchmetrics.Metric, Feed, float]:
        classes = _classes(ctx, max(top_k, 2), "accuracy" if top_k == 1 else f"top{top_k}")
        metric = MulticlassAccuracy(classes, top_k=top_k, average="micro", validate_args=False)
        return metric, _main, 100.0
    return build


def _loss(ctx: Context) -> tuple[torchmetrics.Metric, Feed, float]:
    def feed(metric: torchmetrics.Metric, outputs: Any, targets: torch.Tensor) -> None:
        metric.update(ctx.loss(outputs, targets).detach().float(), weight=len(targets))
    return WeightedMean(), feed, 1.0


class WeightedMean(torchmetrics.Metric):
    """Sum of value * weight over sum of weight, summed across ranks; NaN stays NaN.

    Not torchmetrics.MeanMetric: its NaN check costs a host sync per update, and with
    ``nan_strategy="disable"`` it drops the weights (torchmetrics 1.9).
    """

    full_state_update = False

    total: torch.Tensor  # states registered by add_state
    weight: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("weight", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, weight: float | None = None) -> None:
        value = value.double()
        if weight is None:  # one value per example
            self.total += value.sum()
            self.weight += value.numel()
        else:
            self.total += value.sum() * weight
            self.weight += weight

    def compute(self) -> torch.Tensor:
        return self.total / self.weight


def _rmse(ctx: Context) -> tuple[torchmetrics.Metric, Feed, float]:
    def feed(metric: torchmetrics.Metric, outputs: Any, targets: torch.Tensor) -> None:
        pred = main_output(outputs).float()
        metric.update(pred.reshape(targets.shape) if pred.numel() == targets.numel() else pred,
                      targets.float())
    return torchmetrics.MeanSquaredError(squared=False), feed, 1.0


def _miou(ctx: Context) -> tuple[torchmetrics.Metric, Feed, float]:
    classes = _classes(ctx, 2, "miou")
    return MulticlassJaccardIndex(classes, average="macro", validate_args=False), _main, 1.0


BUILTIN: dict[str, Builtin] = {
    "accuracy": Builtin(True, "%", _accuracy(1)),  # top-1, percent of examples (of pixels for masks)
    "top5": Builtin(True, "%", _accuracy(5)),  # true class among the 5 highest outputs, percent
    "loss": Builtin(False, "", _loss),  # the run's loss, mean over examples
    "rmse": Builtin(False, "", _rmse),  # root mean squared error, in the targets' units
    "miou": Builtin(True, "", _miou),  # mean intersection over union over classes, 0..1
}

MetricLike = str | torchmetrics.Metric | MetricFunction


def metric_name(metric: MetricLike) -> str:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, torchmetrics.Metric):
        return type(metric).__name__
    if isinstance(metric, MetricFunction):
        return metric.name or getattr(metric.fn, "__name__", "")
    raise InputError(f"a metric must be a name ({', '.join(BUILTIN)}), a torchmetrics.Metric or "
                     f"a MetricFunction(fn, higher_is_better=...), got {type(metric).__name__}")


def higher_is_better(metric: MetricLike) -> bool:
    if isinstance(metric, str):
        return BUILTIN[metric].higher_is_better
    if isinstance(metric, torchmetrics.Metric):
        return bool(metric.higher_is_better)
    return metric.higher_is_better


def unit(name: str) -> str:
    return BUILTIN[name].unit if name in BUILTIN else ""


def check_metrics(metrics: Sequence[Any], objective: str) -> None:
    """Fail up front, in one line, on an unknown name, a missing direction, a duplicate or a bad objective."""
    names = []
    for m in metrics:
        if callable(m) and not isinstance(m, (torchmetrics.Metric, MetricFunction)):
            raise InputError(f"metric {getattr(m, '__name__', m)!r} is a plain function; wrap it as "
                             "MetricFunction(fn, higher_is_better=...) to say its direction")
        name = metric_name(m)
        if isinstance(m, str) and name not in BUILTIN:
            raise InputError(f"unknown metric {name!r}; use one of {', '.join(BUILTIN)}, a "
                             "torchmetrics.Metric or a MetricFunction")
        if isinstance(m, torchmetrics.Metric) and m.higher_is_better is None:
            raise InputError(f"{name} does not say whether higher is better; set its "
                             "higher_is_better attribute")
        if not name or name == "<lambda>":
            raise InputError("a MetricFunction of a lambda needs a name: MetricFunction(fn, ..., name='...')")
        names.append(name)
    if len(set(names)) < len(names):
        raise InputError(f"metric names repeat in {names}; each metric needs its own name")
    if objective not in {*names, "loss"}:
        raise InputError(f"objective_metric_name={objective!r} is not among the metrics {names} "
                         "(or 'loss'); add it to metrics or choose one of them")


def with_loss(metrics: Sequence[MetricLike]) -> list[MetricLike]:
    """The metrics with "loss" first: validation always records the loss."""
    return ["loss", *[m for m in metrics if m != "loss"]]


def direction(metrics: Sequence[MetricLike], name: str) -> bool:
    """higher_is_better of the metric called ``name`` among ``metrics`` (plus "loss")."""
    for m in with_loss(metrics):
        if metric_name(m) == name:
            return higher_is_better(m)
    raise InputError(f"no metric is called {name!r}; metrics are {[metric_name(m) for m in metrics]}")


def bind(metrics: Sequence[MetricLike], ctx: Context, device: torch.device) -> list[BoundMetric]:
    """Fresh (reset) accumulators on ``device`` for one evaluation."""
    bound = []
    for m in metrics:
        if isinstance(m, str):
            metric, feed, scale = BUILTIN[m].build(ctx)
        elif isinstance(m, torchmetrics.Metric):
            metric, feed, scale = m, _main, 1.0
            metric.reset()
        else:
            metric, feed, scale = WeightedMean(), _function_feed(m), 1.0
        bound.append(BoundMetric(metric_name(m), higher_is_better(m), metric.to(device), feed, scale))
    return bound


def _function_feed(m: MetricFunction) -> Feed:
    def feed(metric: torchmetrics.Metric, outputs: Any, targets: torch.Tensor) -> None:
        value = torch.as_tensor(m.fn(outputs, targets)).detach().float()
        if value.ndim == 0:  # the batch mean: weigh it by the batch size
            metric.update(value, weight=len(targets))
        else:  # one value per example
            metric.update(value.flatten())
    return feed


def meets(value: float, threshold: float, higher_better: bool) -> bool:
    """A threshold is a floor for higher-is-better metrics and a ceiling for lower-is-better ones."""
    return value >= threshold if higher_better else value <= threshold


def threshold_word(higher_better: bool) -> str:
    return "floor" if higher_better else "ceiling"
