"""What several subcommands share: the model and data arguments, run folders, small parsers.

Heavy imports (torch, torchvision) wait inside the functions, so `taylorprune --help` and
a subcommand's own --help stay quick.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError


def model_args(p: argparse.ArgumentParser, default: str | None = None, *, task: bool = False) -> None:
    """--model and its weights flags; with ``task``, --task too (a task file in place of --model
    and --data), and --model's default is filled in by the command when no task is given."""
    from .task import task_arg

    p.add_argument("--model", default=None if task else default, required=default is None and not task,
                   help="model spec: a built-in name (cifarnet, resnet20, ...), torchvision:NAME, "
                        "package.module:factory, or a .safetensors file written by taylorprune"
                        + (f" (default: {default})" if task and default else " (or --task)" if task else ""))
    if task:
        task_arg(p)
    p.add_argument("--weights", help="checkpoint to load into the model (.th/.pt/.pth/.safetensors)")
    p.add_argument("--pretrained", action="store_true", help="load the bundled pretrained weights")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow --weights files that need full unpickling (runs code from the file: "
                        "only for files you trust)")
    trust_code_arg(p)


def trust_code_arg(p: argparse.ArgumentParser) -> None:
    """--trust-code: a .safetensors file whose manifest names a package.module:factory is rebuilt
    by importing and calling it. A spec typed as --model is the user's own choice and needs no flag."""
    p.add_argument("--trust-code", action="store_true",
                   help="rebuild a .safetensors --model (or --baseline) whose manifest names a "
                        "package.module:factory by importing and calling it (runs code the file names: "
                        "only for files you trust; built-in names and torchvision: specs never need it)")


def data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="CIFAR-10 in any supported format, or an image-folder tree with "
                                  "train/ and test/ (default: the cache dir, downloading if needed)")


def run_folder_args(p: argparse.ArgumentParser, default: str | None, what: str) -> None:
    p.add_argument("--out", default=default, required=default is None, help=f"run folder: {what}")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty --out")


def load_data(args: argparse.Namespace) -> Any:
    from ..data import load_cifar10, load_data

    return load_data(args.data) if args.data else load_cifar10()


def load_model(args: argparse.Namespace, num_classes: int) -> Any:
    from ..artifacts import resolve_network
    from ..models import builder_kwargs

    return resolve_network(args.model, weights=args.weights, pretrained=args.pretrained,
                           trust_checkpoint=args.trust_checkpoint, trust_code=args.trust_code,
                           **builder_kwargs(args.model, num_classes))


def process_age_s() -> float:
    """Seconds since this process started (Linux /proc; 0 elsewhere): what a time budget also counts."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        return max(float(Path("/proc/uptime").read_text().split()[0]) - ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return 0.0


def carve_validation(train: Any, size: float | None, seed: int, args: argparse.Namespace) -> tuple[Any, Any]:
    """(train, validation) split from the training data, and one line saying what was chosen.

    ``size``: a fraction < 1, a count, 0 for none, or None for the default rule. With the bundled
    weights (``args.pretrained``) on the training set they came from, a split reaching beyond the
    images they were trained without is refused: every decision on it would be flattered.
    """
    from ..data import DEFAULT_RULE, default_validation_size, split_validation

    if size == 0:
        print("validation: none (--validation 0)")
        return train, None
    count = default_validation_size(len(train)) if size is None else (int(size) if size >= 1 else size)
    _check_held_out(train, count, seed, args)
    rest, val = split_validation(train, count, seed=seed)
    rule = f"{DEFAULT_RULE}; --validation to choose" if size is None else "--validation"
    print(f"validation: {len(val):,} of {len(train):,} training images ({rule})")
    return rest, val


def _check_held_out(train: Any, count: float | int, seed: int, args: argparse.Namespace) -> None:
    """Refuse a validation split holding images the bundled --pretrained weights were trained on."""
    from ..data import validation_mask
    from ..models import HELD_OUT

    held = HELD_OUT.get(args.model) if args.pretrained else None
    if held is None or len(train) != held.of:
        return
    leaked = int((validation_mask(train, count, seed) & ~validation_mask(train, held.size, held.seed)).sum())
    if leaked:
        raise InputError(f"{leaked:,} validation images are ones the bundled {args.model} weights were trained on "
                         f"(they were trained without the {held.size:,} images of validation seed {held.seed}); use "
                         f"--validation-seed {held.seed} and --validation {held.size:,} or fewer, or your own --weights")


def architecture(model: str, num_classes: int) -> tuple[str, dict, list]:
    """Base spec, builder kwargs and earlier channel plans of --model, for the files a run writes.

    A taylorprune file already records them (so a trained or pruned network can be trained
    or pruned further); a spec is its own base.
    """
    from ..artifacts import is_network_file, read_manifest
    from ..models import builder_kwargs

    if is_network_file(model):
        manifest = read_manifest(model)
        return manifest["spec"], manifest["kwargs"], manifest["plans"]
    return model, builder_kwargs(model, num_classes), []


def validation_frequency(args: argparse.Namespace, train: Any) -> int:
    """The flag's value, else once per epoch (MATLAB's example: floor(numTrain / miniBatchSize))."""
    return args.validation_frequency or max(len(train) // args.mini_batch_size, 1)


def write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def out_dir(path: str, force: bool, resume: bool = False) -> Path:
    """A run folder: an existing non-empty one is never overwritten without --force or --resume."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; name a folder")
    if out.exists() and any(out.iterdir()) and not (force or resume):
        raise InputError(f"{out} already exists and is not empty; choose another --out, "
                         "pass --resume to continue its run, or --force to overwrite it")
    from .. import distributed

    distributed.barrier()  # under torchrun: every rank has looked before rank 0 writes
    if not distributed.is_main():
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write to --out {out} ({err.strerror or err}); choose a writable folder") from None
    return out


def example_shape(model: str, given: tuple[int, ...] | None) -> tuple[int, ...]:
    """--input-size, else the shape a taylorprune file records, else CIFAR's 3,32,32."""
    from ..artifacts import read_manifest

    if given:
        return given
    return tuple(read_manifest(model)["input_shape"]) if model.endswith(".safetensors") else (3, 32, 32)


def input_size(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if not size or min(size) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 3,32,32 (C,H,W of one image)")
    return size


def batch_sizes(text: str) -> tuple[int, ...]:
    try:
        return input_size(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of batch sizes like 1,128") from None
