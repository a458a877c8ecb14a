"""Task files: one Python file that says what to prune and on what (``taylorprune ... --task FILE.py``).

Loading a task file RUNS it: it is the user's own code, like a training script. Passing
``--task`` is the explicit opt-in, the same as running ``python FILE.py``; taylorprune never
imports a task file on its own, in particular not because a run folder names one (a resumed
run needs ``--task`` again, and the file must hash the same as when the run started).

A task file defines these names (docs/custom-tasks.md has full examples):

    def network() -> nn.Module          required: the network to train, prune, test or analyze
    def train_data()                    train and prune: ImageData, a map-style Dataset of
                                        (input, target) pairs, or a DataLoader
    def validation_data()               optional: what validation and the threshold use
                                        (prune without it carves a split from train_data)
    def test_data()                     optional: what ``test`` scores and prune reports
    LOSS = "crossentropy"               optional: a name from train.losses.LOSSES, or a
                                        callable loss(outputs, targets) -> batch mean
    METRICS = ["accuracy"]              optional: names, torchmetrics.Metric instances,
                                        MetricFunction(fn, higher_is_better=...)
    OBJECTIVE = "accuracy"              optional: the metric that decides; default METRICS[0]
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from .errors import InputError
from .losses import LossFn, resolve_loss
from .train.metrics import MetricLike, check_metrics, direction, metric_name

FUNCTIONS = ("network", "train_data", "validation_data", "test_data")
DOCS = "see docs/custom-tasks.md"


@dataclass(frozen=True)
class Task:
    """What a task file defines, checked; the data functions are called only when needed."""

    path: Path  # the file, resolved
    sha256: str  # of its bytes: a resumed run must be given the same file
    network: Callable[[], nn.Module]
    train_data: Callable[[], Any] | None
    validation_data: Callable[[], Any] | None
    test_data: Callable[[], Any] | None
    loss: str | LossFn
    metrics: tuple[MetricLike, ...]
    objective: str  # the objective metric's name

    @property
    def higher_is_better(self) -> bool:
        return direction(self.metrics, self.objective)

    def describe(self) -> dict[str, Any]:
        """JSON-ready, for the run folder: the file and what it chose (its code is not copied)."""
        return {"task_file": str(self.path), "task_sha256": self.sha256,
                "loss": self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", "callable"),
                "metrics": [metric_name(m) for m in self.metrics], "objective_metric_name": self.objective,
                "higher_is_better": self.higher_is_better}

    def data(self, name: str, command: str) -> Any:
        """Call ``name()`` (train_data, ...); absent: one line saying what ``command`` needs."""
        fn = getattr(self, name)
        if fn is None:
            raise InputError(f"task file {self.path.name} defines no {name}(); `{command}` needs it "
                             f"({DOCS})")
        return _call(self.path, name, fn)

    def build_network(self) -> nn.Module:
        net = _call(self.path, "network", self.network)
        if not isinstance(net, nn.Module):
            raise InputError(f"task file {self.path.name}: network() returned {type(net).__name__}; "
                             "return a torch.nn.Module")
        return net


def load_task(path: str | Path) -> Task:
    """Run the task file and check what it defines; every problem is one line naming the fix."""
    path = Path(path).expanduser().resolve()
    if not path.is_file() or path.suffix != ".py":
        raise InputError(f"task file {path} is not a .py file; pass --task FILE.py ({DOCS})")
    source = path.read_bytes()
    module = _run(path)
    functions: dict[str, Any] = {}
    for name in FUNCTIONS:
        value = getattr(module, name, None)
        if value is not None and not callable(value):
            raise InputError(f"task file {path.name}: {name} must be a function taking no arguments")
        functions[name] = value
    if functions["network"] is None:
        raise InputError(f"task file {path.name} defines no network(); define network() returning "
                         f"the nn.Module to prune ({DOCS})")
    loss = getattr(module, "LOSS", "crossentropy")
    metrics = _metrics(path, getattr(module, "METRICS", ("accuracy",)))
    try:  # unknown names fail here, before any data is read
        resolve_loss(loss)
        objective = getattr(module, "OBJECTIVE", metric_name(metrics[0]) if metrics else "loss")
        check_metrics(metrics, objective)
    except InputError as err:
        raise InputError(f"task file {path.name}: {err}") from None
    return Task(path, hashlib.sha256(source).hexdigest(), loss=loss, metrics=metrics,
                objective=objective, **functions)


def _metrics(path: Path, value: Any) -> tuple[MetricLike, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InputError(f"task file {path.name}: METRICS must be a list, e.g. METRICS = ['accuracy']")
    return tuple(value)


def _run(path: Path) -> Any:
    """Import the file as a module of its own name (DataLoader workers can then find its classes)."""
    name = f"taylorprune_task_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as err:  # the user's code: any error becomes one line naming file and line
        del sys.modules[name]
        raise InputError(f"task file {path.name} failed to load: {_where(err, path)}") from None
    return module


def _call(path: Path, name: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except InputError:
        raise
    except Exception as err:  # the user's code: report where, in one line
        raise InputError(f"task file {path.name}: {name}() failed: {_where(err, path)}") from None


def _where(err: BaseException, path: Path) -> str:
    """``ErrorType: message (line N)``, N being the deepest line of the task file in the traceback."""
    line = getattr(err, "lineno", None) if isinstance(err, SyntaxError) else None
    for frame in traceback.extract_tb(err.__traceback__):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    message = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {message}" + (f" (line {line})" if line else "")
