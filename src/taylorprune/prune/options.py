"""PruningOptions: every setting of the pruning loop, in one frozen dataclass.

Each field says what it means and which values it allows (``option``), and everything else
reads them from here: the checks below, the CLI's flags and help (``taylorprune.cli.flags``),
the run folder's options.json and --resume's comparison. Adding an option is adding a field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..data import VALIDATION_SEED
from ..errors import InputError
from ..importance import IMPORTANCE, NORMALIZATIONS
from ..losses import check_loss
from ..train import TrainingOptions
from ..train.metrics import direction, threshold_word
from .budget import parse_duration
from .costs import COSTS


@dataclass(frozen=True)
class Range:
    """Allowed numbers: from ``low`` to ``high``, each end closed unless marked open."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open or self.high == math.inf else value <= self.high
        return above and below

    def __str__(self) -> str:
        high = "inf)" if self.high == math.inf else f"{self.high:g}{')' if self.high_open else ']'}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {high}"


@dataclass(frozen=True)
class OneOf:
    """Allowed names: the keys of a registry, read when checked (so later entries count too)."""

    names: Callable[[], Collection[str]]

    def __contains__(self, value: object) -> bool:
        return value in self.names()

    def __str__(self) -> str:
        return "one of " + ", ".join(self.names())


def option(default: Any = dataclasses.MISSING, *, doc: str, allowed: Range | OneOf | None = None,
           parse: Callable[[str], Any] | None = None) -> Any:
    """A PruningOptions field: its default, one line of documentation (units, meaning), what
    values it allows (and None, where the annotation says ``| None``), and how the command
    line reads it when not as the field's type (``parse``, e.g. a duration like ``15m``)."""
    return dataclasses.field(default=default, metadata={"doc": doc, "allowed": allowed, "parse": parse})


FRACTION = Range(0, 1, low_open=True)  # (0, 1]


@dataclass(frozen=True)
class PruningOptions:
    """How far to prune and how each step is taken: MATLAB's name-value arguments and ours.

    Fractions of "the original amount" count in the unit of ``cost`` (learnables by default).
    """

    validation_threshold: float = option(
        doc="validation floor the result must meet: accuracy in percent (0..100), or a ceiling for loss")
    learnables_reduction_goal: float = option(
        1.0, allowed=FRACTION, doc="stop once this fraction of the original amount is gone")
    learnables_reduction_increment: float = option(
        0.05, allowed=FRACTION, doc="removed per iteration, as a fraction of the ORIGINAL amount")
    num_importance_score_iterations: int = option(
        20, allowed=Range(1), doc="mini-batches whose importance scores are accumulated before each step")
    layer_names: tuple[str, ...] | None = option(
        None, doc="prune only the channel groups of these modules (None: every prunable group)")
    validation_split: float | None = option(
        None, allowed=Range(0, low_open=True),
        doc="validation carved from the training data when the training options have none: a fraction "
            "< 1 or a count (None: 10% capped at 5,000, at least 200 or a quarter of the data)")
    min_increment: float | None = option(
        0.005, allowed=FRACTION,
        doc="after a failed step, retry from the last good network with half the step down to this "
            "fraction of the original amount (None: stop at the first failure, MATLAB's rule)")
    distillation_weight: float = option(
        0.5, allowed=Range(0, 1),
        doc="share of the fine-tuning loss on the unpruned network's soft targets (0: off, MATLAB's)")
    distillation_temperature: float = option(
        4.0, allowed=Range(0, low_open=True), doc="softmax temperature of distillation")
    channel_multiple: int | None = option(
        None, allowed=Range(1),
        doc="every group keeps a multiple of this many channels, chosen in blocks that size (1: channel by "
            "channel; None: 8 under a time budget, whose CPU fine-tuning runs such widths 1.5-2x faster, else 1)")
    final_fine_tuning_epochs: int = option(
        0, allowed=Range(0), doc="fine-tune the result this many more epochs at the end, kept only if "
                                 "validation does not get worse (0: none)")
    fine_tuning_budget_epochs: int | None = option(
        None, allowed=Range(1),
        doc="fine-tuning epochs all pruning iterations may spend together, rejected steps included "
            "(None: no limit)")
    cost: str = option(
        "learnables", allowed=OneOf(lambda: COSTS),
        doc="what a step removes and the goal counts: learnables (MATLAB's), macs per example, or "
            "latency measured on the run's device")
    latency_batch_size: int = option(128, allowed=Range(1), doc="images per timed call when the cost is latency")
    importance: str = option(
        "taylor", allowed=OneOf(lambda: IMPORTANCE),
        doc="channel score: taylor (activation x gradient, MATLAB's) or bn-gate ((gamma x dL/dgamma)^2)")
    normalization: str = option(
        "none", allowed=OneOf(lambda: NORMALIZATIONS),
        doc="rescale each group's scores before the global ranking")
    time_budget_s: float | None = option(
        None, allowed=Range(0, low_open=True), parse=parse_duration,
        doc="wall-clock time for the whole run, start-up to report, in seconds (on the command line also "
            "15m, 1h30m): fine-tunings and a final fine-tuning are planned to fit from measured times, so two "
            "runs of one seed can go differently far (None: no limit)")
    confidence: float = option(
        0.95, allowed=Range(0, 1, high_open=True),
        doc="keep a step only when the one-sided lower bound of its accuracy on a split used for nothing "
            "else, at this confidence, meets the floor (0: MATLAB's rule, the plain validation figure)")
    max_failed_steps: int = option(
        4, allowed=Range(1),
        doc="with confidence > 0, the search stops at this many failed steps (a step fine-tuned again or "
            "retried smaller after one counts again), and each decision is made at 1 - (1 - confidence) / "
            "(max_failed_steps + 1), so that the floor holds at the confidence for the search as a whole")
    acceptance_share: float = option(
        0.8, allowed=Range(0, 1, low_open=True, high_open=True),
        doc="share of the validation data used only to accept or reject steps when confidence > 0")
    validation_seed: int = option(
        VALIDATION_SEED, allowed=Range(0),
        doc="seed of the validation split carved from the training data; fixed whatever the training seed, "
            "so a network trained here (the bundled cifarnet too) never meets its own training images in "
            "validation")

    def __post_init__(self) -> None:
        if self.layer_names is not None and not isinstance(self.layer_names, tuple):
            object.__setattr__(self, "layer_names", tuple(self.layer_names) or None)
        for f in dataclasses.fields(self):
            value, allowed = getattr(self, f.name), f.metadata["allowed"]
            if value is None and optional(f):
                continue
            if str(f.type).startswith("int") and (isinstance(value, bool) or not isinstance(value, int)):
                raise InputError(f"{f.name}={value!r} must be a whole number ({f.metadata['doc']})")
            if allowed is not None and value not in allowed:
                raise InputError(f"{f.name}={value!r} is not allowed: it must be {allowed} ({f.metadata['doc']})")
        if self.min_increment is not None and self.min_increment > self.learnables_reduction_increment:
            raise InputError(f"min_increment={self.min_increment} must not exceed the increment "
                             f"{self.learnables_reduction_increment}; or None to stop at the first failed step")

    def kept_multiple(self) -> int:
        """The channel multiple steps keep: channel_multiple, or its default for this run."""
        if self.channel_multiple is not None:
            return self.channel_multiple
        return 8 if self.time_budget_s is not None else 1

    def decision_confidence(self) -> float:
        """The level of each acceptance decision (0: MATLAB's plain rule).

        A search tests networks in order, each more pruned than the last, and the first one it
        keeps that is truly under the floor is the only false acceptance that matters: a search
        that stopped at its first failed step would hold at ``confidence`` testing every step at
        that level (fixed-sequence testing). Each failed step after which it tests again (the
        same network fine-tuned further, a smaller retry, or the final fine-tuning) starts a new
        such sequence on the same acceptance data, so the risk ``1 - confidence`` is shared out
        (Bonferroni) over the ``max_failed_steps + 1`` sequences a search may start.
        """
        return 0.0 if self.confidence == 0 else 1 - (1 - self.confidence) / (self.max_failed_steps + 1)

    def replace(self, **changes: Any) -> PruningOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as options.json records it."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["layer_names"] = list(self.layer_names) if self.layer_names else None
        return out


def optional(f: dataclasses.Field) -> bool:
    """Whether the field takes None (its annotation says ``| None``)."""
    return "None" in str(f.type)


def pruning_options(base: PruningOptions | None, fields: Mapping[str, Any]) -> PruningOptions:
    """``base`` with ``fields`` (PruningOptions fields as keywords, MATLAB's name-value style) applied."""
    names = [f.name for f in dataclasses.fields(PruningOptions)]
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise InputError(f"unknown pruning option(s) {', '.join(unknown)}; PruningOptions has {', '.join(names)}")
    if base is not None:
        return base.replace(**fields)
    if "validation_threshold" not in fields:
        raise InputError("validation_threshold is required: the validation floor the pruned network must meet")
    return PruningOptions(**fields)


# Built-in metrics whose values lie in a known range: a threshold outside it is a mistake.
THRESHOLD_RANGES = {"accuracy": (0.0, 100.0, "a percentage"), "top5": (0.0, 100.0, "a percentage"),
                    "miou": (0.0, 1.0, "a fraction"), "loss": (0.0, math.inf, "a loss"),
                    "rmse": (0.0, math.inf, "an error")}


def check_pruning_request(pruning: PruningOptions, training: TrainingOptions, loss: Any) -> None:
    """What one options object cannot check alone: the threshold's range follows the objective
    metric (a floor when higher is better, a ceiling when lower is), and the loss must be known
    before any data is read or anything is trained."""
    check_loss(loss)
    metric, threshold = training.objective_metric_name, pruning.validation_threshold
    low, high, what = THRESHOLD_RANGES.get(metric, (-math.inf, math.inf, ""))
    if not low <= threshold <= high:
        span = f"in {low:g}..{high:g}" if high < math.inf else f">= {low:g}"
        bound = threshold_word(direction(training.metrics, metric))
        raise InputError(f"validation threshold {threshold:g} is a {bound} on {metric}, {what}; give a value {span}")


# Fine-tuning after each prune: MATLAB's example (sgdm, batch 128, 5 epochs, best-validation on
# accuracy) with a learning rate for recovering a trained network, not for training from scratch.
FINE_TUNING = TrainingOptions(
    solver="sgdm", initial_learn_rate=0.01, momentum=0.9, l2_regularization=5e-4, max_epochs=5,
    mini_batch_size=128, learn_rate_schedule="cosine", objective_metric_name="accuracy",
    output_network="best-validation",
)


def default_fine_tuning_options(**changes: Any) -> TrainingOptions:
    """FINE_TUNING with ``changes`` (TrainingOptions fields) applied."""
    return FINE_TUNING.replace(**changes)
