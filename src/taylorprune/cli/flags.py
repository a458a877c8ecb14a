"""Command-line flags made from the fields of an options dataclass.

Every field of TrainingOptions and PruningOptions becomes ``--field-name`` with the field's
type, default, allowed names (read from the registry the field names) and documentation;
ALIASES adds the short names people type (``--epochs``, ``--min-accuracy``). An option added
to either dataclass is a flag without touching this package.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

# Short flags beside the generated --field-name ones: MATLAB users' names and earlier releases'.
ALIASES: dict[str, list[str]] = {
    "max_epochs": ["--epochs"],
    "initial_learn_rate": ["--lr"],
    "mini_batch_size": ["--batch-size"],
    "validation_threshold": ["--min-accuracy"],
    "learnables_reduction_goal": ["--goal"],
    "learnables_reduction_increment": ["--increment"],
    "num_importance_score_iterations": ["--score-iterations"],
    "layer_names": ["--layers"],
    "validation_split": ["--validation"],
    "distillation_weight": ["--distill"],
    "distillation_temperature": ["--distill-temperature"],
    "final_fine_tuning_epochs": ["--final-epochs"],
    "fine_tuning_budget_epochs": ["--budget-epochs"],
    "latency_batch_size": ["--latency-batch"],
}


@dataclasses.dataclass(frozen=True)
class Override:
    """A flag whose command-line default or help differs from the field's."""

    default: Any
    help: str


def add_option_flags(parser: argparse.ArgumentParser, cls: type, title: str, *, base: Any = None,
                     skip: frozenset[str] = frozenset(), overrides: Mapping[str, Override] | None = None) -> None:
    """One flag per field of the dataclass ``cls`` (defaults from ``base``, an instance, when given)."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flags = [f"--{f.name.replace('_', '-')}", *ALIASES.get(f.name, [])]
        default = getattr(base, f.name) if base is not None else f.default
        help_text = f.metadata.get("doc", "")
        if overrides and f.name in overrides:
            default, help_text = overrides[f.name].default, overrides[f.name].help
        kind, optional = _unwrap(hints[f.name])
        extra: dict[str, Any] = {"dest": f.name, "default": default, "help": help_text.replace("%", "%%")}
        if kind is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **extra)
            continue
        names = _choices(f, kind)
        if names is not None:
            extra["choices"] = names
        group.add_argument(*flags, type=_parser_for(kind, optional), metavar=_metavar(kind, names), **extra)


def options_from_args(cls: Callable[..., T], args: argparse.Namespace, **changes: Any) -> T:
    """The options dataclass from the parsed flags (fields without a flag keep their defaults)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}  # type: ignore[arg-type]
    return cls(**{**given, **changes})


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed) of ``X | None`` or ``X``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return hint, False


def _choices(f: dataclasses.Field, kind: Any) -> tuple[str, ...] | None:
    """Allowed names: the registry the field names (PruningOptions), else its Literal values."""
    allowed = f.metadata.get("allowed")
    if allowed is not None and hasattr(allowed, "names"):
        return tuple(allowed.names())
    if typing.get_origin(kind) is typing.Literal:
        return tuple(typing.get_args(kind))
    return None


def _parser_for(kind: Any, optional: bool) -> Callable[[str], Any]:
    """The string-to-value function of one field: numbers, names, comma lists; 'none' where None is allowed."""
    if typing.get_origin(kind) is tuple:
        convert: Callable[[str], Any] = lambda text: tuple(v for v in text.split(",") if v)  # noqa: E731
    elif typing.get_origin(kind) is typing.Literal or kind is str:
        convert = str
    else:
        convert = kind

    def parse(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {getattr(kind, '__name__', kind)}{' or none' if optional else ''}") from None

    parse.__name__ = getattr(kind, "__name__", "value")  # argparse names the type in its messages
    return parse


def _metavar(kind: Any, names: tuple[str, ...] | None) -> str | None:
    if names is not None:
        return None  # argparse shows the choices
    if typing.get_origin(kind) is tuple:
        return "A,B,..."
    return {int: "N", float: "X"}.get(kind, "VALUE")
