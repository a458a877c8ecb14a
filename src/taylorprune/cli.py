"""Command line: each subcommand parses arguments, builds options and calls one library function."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import InputError

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, summary: str, configure: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand: its one-line summary, its arguments, and its handler."""

    def add(handler: Handler) -> Handler:
        _COMMANDS[name] = (summary, configure, handler)
        return handler

    return add


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        with _process_group():
            return _COMMANDS[args.command][2](args)
    except InputError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"taylorprune {args.command}: stopped by the user", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _process_group():
    """Under torchrun (WORLD_SIZE > 1): join the group, and keep every rank but 0 off stdout."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield
        return
    from . import distributed

    distributed.init_from_environment()
    quiet = None if distributed.is_main() else open(os.devnull, "w")  # noqa: SIM115  closed below
    try:
        with contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext():
            yield
        # Leave together: a rank that closes its connections while a peer is still writing
        # can make gloo abort that peer. Skipped on an error, which torchrun handles.
        distributed.barrier()
    finally:
        if quiet:
            quiet.close()
        distributed.finish()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taylorprune",
        description="Shrink a trained network to the smallest size that meets an accuracy floor.",
    )
    parser.add_argument("--version", action="version", version=f"taylorprune {__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (summary, configure, _) in _COMMANDS.items():
        sub = subs.add_parser(name, help=summary, description=summary,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        configure(sub)
        sub.add_argument("--debug", action="store_true", help="show full tracebacks")
    return parser


# ---------------------------------------------------------------- shared arguments


def _model_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument("--model", default=default, required=default is None,
                   help="model spec: a built-in name (cifarnet, resnet20, ...), torchvision:NAME, "
                        "package.module:factory, or a .safetensors file written by taylorprune")
    p.add_argument("--weights", help="checkpoint to load into the model (.th/.pt/.pth/.safetensors)")
    p.add_argument("--pretrained", action="store_true", help="load the bundled pretrained weights")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow --weights files that need full unpickling (runs code from the file: "
                        "only for files you trust)")
    _trust_code_arg(p)


def _trust_code_arg(p: argparse.ArgumentParser) -> None:
    """--trust-code: a .safetensors file whose manifest names a package.module:factory is rebuilt
    by importing and calling it. A spec typed as --model is the user's own choice and needs no flag."""
    p.add_argument("--trust-code", action="store_true",
                   help="rebuild a .safetensors --model (or --baseline) whose manifest names a "
                        "package.module:factory by importing and calling it (runs code the file names: "
                        "only for files you trust; built-in names and torchvision: specs never need it)")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="CIFAR-10 in any supported format, or an image-folder tree with "
                                  "train/ and test/ (default: the cache dir, downloading if needed)")


def _load_data(args: argparse.Namespace):
    from .data import load_cifar10, load_data

    return load_data(args.data) if args.data else load_cifar10()


def _load_model(args: argparse.Namespace, num_classes: int):
    from .artifacts import resolve_network
    from .models import builder_kwargs

    return resolve_network(args.model, weights=args.weights, pretrained=args.pretrained,
                           trust_checkpoint=args.trust_checkpoint, trust_code=args.trust_code,
                           **builder_kwargs(args.model, num_classes))


# Flags for TrainingOptions, made from its fields; a few short aliases MATLAB users expect.
_ALIASES = {"max_epochs": ["--epochs"], "initial_learn_rate": ["--lr"], "mini_batch_size": ["--batch-size"]}
_NOT_FLAGS = {"validation_data", "metrics", "verbose"}


def _training_args(p: argparse.ArgumentParser, **defaults: Any) -> None:
    from .train import TrainingOptions
    from .train.options import CHOICES

    group = p.add_argument_group("training options (TrainingOptions fields)")
    base = TrainingOptions(**defaults)
    for f in dataclasses.fields(TrainingOptions):
        if f.name in _NOT_FLAGS:
            continue
        value = getattr(base, f.name)
        flags = [f"--{f.name.replace('_', '-')}", *_ALIASES.get(f.name, [])]
        if isinstance(value, bool):
            group.add_argument(*flags, dest=f.name, default=value,
                               action=argparse.BooleanOptionalAction)
        elif f.name in CHOICES:
            group.add_argument(*flags, dest=f.name, default=value, choices=CHOICES[f.name])
        elif f.name == "validation_frequency":
            group.add_argument(*flags, dest=f.name, default=None, type=int,
                               help="iterations between validations (default: once per epoch)")
        else:
            group.add_argument(*flags, dest=f.name, default=value, type=type(value))
    p.add_argument("--quiet", action="store_true", help="no progress bar or validation lines")


def _training_options(args: argparse.Namespace, **extra: Any):
    from .train import TrainingOptions

    names = {f.name for f in dataclasses.fields(TrainingOptions)} - _NOT_FLAGS
    values = {n: getattr(args, n) for n in names}
    values["validation_frequency"] = values["validation_frequency"] or 1  # set from the data later
    return TrainingOptions(**values, verbose=not args.quiet, **extra)


def _architecture(model: str, num_classes: int) -> tuple[str, dict, list]:
    """Base spec, builder kwargs and earlier channel plans of --model, for the files a run writes.

    A taylorprune file already records them (so a trained or pruned network can be trained
    or pruned further); a spec is its own base.
    """
    from .artifacts import is_network_file, read_manifest
    from .models import builder_kwargs

    if is_network_file(model):
        manifest = read_manifest(model)
        return manifest["spec"], manifest["kwargs"], manifest["plans"]
    return model, builder_kwargs(model, num_classes), []


def _validation_frequency(args: argparse.Namespace, train) -> int:
    """The flag's value, else once per epoch (MATLAB's example: floor(numTrain / miniBatchSize))."""
    return args.validation_frequency or max(len(train) // args.mini_batch_size, 1)


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _out_dir(path: str, force: bool, resume: bool = False) -> Path:
    """A run folder: an existing non-empty one is never overwritten without --force or --resume."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; name a folder")
    if out.exists() and any(out.iterdir()) and not (force or resume):
        raise InputError(f"{out} already exists and is not empty; choose another --out, "
                         "pass --resume to continue its run, or --force to overwrite it")
    from . import distributed

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


# ---------------------------------------------------------------- commands


def _configure_train(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    _data_args(p)
    p.add_argument("--validation", type=float, default=5000,
                   help="validation split carved from the training data: a count, or a fraction < 1")
    p.add_argument("--out", required=True, help="run folder for the model, options, history and plot")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty --out")
    _training_args(p)


@command("train", "train a network on CIFAR-10 or an image folder (MATLAB trainnet)", _configure_train)
def _train(args: argparse.Namespace) -> int:
    from . import distributed
    from .artifacts import save_network
    from .data import split_validation
    from .report import plot_training
    from .train import test_net, train_network

    options = _training_options(args)  # bad options fail before any data is read
    out = _out_dir(args.out, args.force)
    train, test = _load_data(args)
    size = int(args.validation) if args.validation >= 1 else args.validation
    train, val = split_validation(train, size, seed=args.seed) if size else (train, None)
    net = _load_model(args, len(train.classes))
    options = options.replace(validation_data=val, validation_frequency=_validation_frequency(args, train))
    main = distributed.is_main()  # under torchrun only rank 0 writes
    if main:
        _write_json(out / "options.json", {"model": args.model, "data": args.data, **options.to_dict()})
    net, info = train_network(net, train, "crossentropy", options)
    accuracy = test_net(net, test, execution_environment=args.execution_environment)
    if main:
        spec, kwargs, plans = _architecture(args.model, len(train.classes))
        save_network(net, out / "model.safetensors", spec, kwargs=kwargs, plans=plans,
                     input_shape=tuple(train.images.shape[1:]), extra={"classes": list(train.classes)})
        _write_json(out / "history.json", {**info.to_dict(), "test_accuracy": accuracy})
        if options.plots == "training-progress":
            plot_training(info, out / "training-progress.png")
    best = max((r.accuracy for r in info.validation_history), default=float("nan"))
    print(f"trained {len(info.training_history)} iterations in {info.elapsed_s:.1f} s "
          f"({info.images_per_second:.0f} images/s); best validation accuracy: {best:.2f}, "
          f"kept the network of iteration {info.output_network_iteration}")
    print(f"accuracy: {accuracy:.2f}")
    print(f"saved {out / 'model.safetensors'}")
    return 0


def _configure_test(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    _data_args(p)
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split to score")
    p.add_argument("--execution-environment", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch-size", type=int, default=1000, help="images per inference batch")


@command("test", "print the accuracy of a network on a data set (MATLAB testnet)", _configure_test)
def _test(args: argparse.Namespace) -> int:
    from .train import test_net

    train, test = _load_data(args)
    data = test if args.split == "test" else train
    net = _load_model(args, len(data.classes))
    accuracy = test_net(net, data, mini_batch_size=args.batch_size,
                        execution_environment=args.execution_environment)
    print(f"accuracy: {accuracy:.2f}")
    return 0


def _configure_prune(p: argparse.ArgumentParser) -> None:
    from .prune import FINE_TUNING

    _model_args(p, default="cifarnet")
    _data_args(p)
    p.add_argument("--min-accuracy", type=float, default=85.0,
                   help="validation accuracy floor in percent (MATLAB's validation threshold)")
    p.add_argument("--increment", type=float, default=0.05,
                   help="learnables removed per iteration, as a fraction of the original")
    p.add_argument("--goal", type=float, default=1.0, help="stop once this fraction of learnables is gone")
    p.add_argument("--cost", choices=("learnables", "macs", "latency"), default="learnables",
                   help="what --increment and --goal count and the ranking saves: learnables (MATLAB's), "
                        "MACs per example, or latency measured on this device")
    p.add_argument("--latency-batch", type=int, default=128, metavar="N",
                   help="images per timed call for --cost latency (default 128)")
    p.add_argument("--importance", choices=("taylor", "bn-gate"), default="taylor",
                   help="channel score: activation x gradient (MATLAB's, Molchanov 2017) or BN gate "
                        "(gamma x dL/dgamma)^2 (Molchanov 2019)")
    p.add_argument("--normalization", choices=("none", "l2", "max"), default="none",
                   help="rescale each group's scores before the global ranking")
    p.add_argument("--channel-multiple", type=int, default=1, metavar="N",
                   help="groups a step touches keep a multiple of N channels (8 suits GPU kernels; 1: off)")
    p.add_argument("--final-epochs", type=int, default=0, metavar="N",
                   help="fine-tune the result N more epochs at the end, kept if validation does not drop")
    p.add_argument("--budget-epochs", type=int, metavar="N",
                   help="fine-tuning epochs all pruning iterations may spend together (default: no limit)")
    p.add_argument("--distill", type=float, default=0.5, metavar="WEIGHT",
                   help="share of the fine-tuning loss on the unpruned network's soft targets (default 0.5; "
                        "0: off, as MATLAB)")
    p.add_argument("--distill-temperature", type=float, default=4.0, help="softmax temperature of distillation")
    p.add_argument("--min-increment", type=_fraction_or_none, default=0.005,
                   help="after a failed step retry with half the step down to this fraction of the "
                        "original learnables; 'none' stops at the first failure (MATLAB's rule)")
    p.add_argument("--score-iterations", type=int, default=20,
                   help="mini-batches whose Taylor scores are accumulated before each prune")
    p.add_argument("--layers", help="comma-separated module names: prune only their channel groups")
    p.add_argument("--validation", type=float, default=5000,
                   help="validation split carved from the training data: a count, or a fraction < 1")
    p.add_argument("--out", default="runs/prune", help="run folder: network, histories, plot, report")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty --out")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (same flags as the first run)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0,
                   help="within a fine-tuning, save its state after an epoch once this long has passed")
    _training_args(p, **FINE_TUNING)


@command("prune", "Taylor-prune a network to an accuracy floor (compressNetworkUsingTaylorPruning)",
         _configure_prune)
def _prune(args: argparse.Namespace) -> int:
    from .data import split_validation
    from .prune import check_pruning_request
    from .report import summary_lines
    from .runs import RunSpec, prune_into_folder

    options = _training_options(args)  # bad options fail before any data is read
    pruning = dict(validation_threshold=args.min_accuracy, learnables_reduction_goal=args.goal,
                   learnables_reduction_increment=args.increment, min_increment=args.min_increment,
                   distillation_weight=args.distill, distillation_temperature=args.distill_temperature,
                   channel_multiple=args.channel_multiple, cost=args.cost, importance=args.importance,
                   latency_batch_size=args.latency_batch,
                   final_fine_tuning_epochs=args.final_epochs, fine_tuning_budget_epochs=args.budget_epochs,
                   normalization=args.normalization,
                   num_importance_score_iterations=args.score_iterations,
                   layer_names=tuple(args.layers.split(",")) if args.layers else None)
    check_pruning_request(options.objective_metric_name, **pruning)
    out = _out_dir(args.out, args.force, args.resume)
    train, test = _load_data(args)
    size = int(args.validation) if args.validation >= 1 else args.validation
    train, val = split_validation(train, size, seed=args.seed)
    net = _load_model(args, len(train.classes))
    options = options.replace(validation_data=val, validation_frequency=_validation_frequency(args, train))
    base, kwargs, plans = _architecture(args.model, len(train.classes))
    spec = RunSpec(base, kwargs, tuple(train.images.shape[1:]), train.classes, tuple(plans))
    _, info = prune_into_folder(net, spec, train, out, options, test=test, resume=args.resume,
                                checkpoint_minutes=args.checkpoint_minutes, **pruning)
    print("\n".join(summary_lines(info)))
    print(f"saved {out / 'model.safetensors'}, report {out / 'report.md'}")
    return 0


def _fraction_or_none(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'none'") from None


def _input_size(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if not size or min(size) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 3,32,32 (C,H,W of one image)")
    return size


def _configure_analyze(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("--input-size", type=_input_size, default="3,32,32", metavar="C,H,W",
                   help="shape of one example input (only shapes matter; weights are not used)")
    p.add_argument("--num-classes", type=int, default=10, help="classes of a built-in model's head")
    p.add_argument("--json", help="also write the report as JSON to this file")
    p.add_argument("--markdown", help="also write a Markdown report here, with a PNG chart beside it")


@command("analyze", "report how far each layer can be pruned, memory and MACs "
         "(analyzeNetworkForCompression)", _configure_analyze)
def _analyze(args: argparse.Namespace) -> int:
    import torch

    from .analysis import analyze_network_for_compression
    from .report.analysis import render_text, write_json, write_markdown

    net = _load_model(args, args.num_classes)
    report = analyze_network_for_compression(net, torch.zeros(1, *args.input_size))
    print(render_text(report), end="")
    for path, write in ((args.json, write_json), (args.markdown, write_markdown)):
        if path:
            print(f"saved {write(report, path)}")
    return 0


def _example_shape(model: str, given: tuple[int, ...] | None) -> tuple[int, ...]:
    """--input-size, else the shape a taylorprune file records, else CIFAR's 3,32,32."""
    from .artifacts import read_manifest

    if given:
        return given
    return tuple(read_manifest(model)["input_shape"]) if model.endswith(".safetensors") else (3, 32, 32)


def _configure_export(p: argparse.ArgumentParser) -> None:
    _model_args(p)
    p.add_argument("--onnx", help="ONNX file to write (opset 18, dynamic batch axis)")
    p.add_argument("--pt2", help="torch.export program to write (.pt2, dynamic batch axis; "
                                 "runs with torch.export.load)")
    p.add_argument("--verify-data", help="data set (any format --data takes) whose first 100 test "
                                         "images are checked too; random inputs always are")
    p.add_argument("--input-size", type=_input_size, metavar="C,H,W",
                   help="shape of one image (default: the artifact's, else 3,32,32)")
    p.add_argument("--num-classes", type=int, default=10, help="classes of a built-in model's head")


@command("export", "export a network to ONNX and/or a torch.export .pt2 and check each file "
         "against PyTorch", _configure_export)
def _export(args: argparse.Namespace) -> int:
    from .data import load_data
    from .export import export_network

    targets = {fmt: path for fmt, path in (("onnx", args.onnx), ("pt2", args.pt2)) if path}
    if not targets:
        raise InputError("nothing to export: give --onnx FILE, --pt2 FILE, or both")
    net = _load_model(args, args.num_classes)
    data = load_data(args.verify_data)[1] if args.verify_data else None
    shape = _example_shape(args.model, args.input_size)
    passed = True
    for fmt, path in targets.items():
        report = export_network(net, path, shape, fmt=fmt, data=data)
        print("\n".join(report.lines()))
        if not report.passed:
            print(f"error: {report.path} does not reproduce PyTorch within the limits above", file=sys.stderr)
        passed = passed and report.passed
    return 0 if passed else 1


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        return _input_size(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of batch sizes like 1,128") from None


def _configure_benchmark(p: argparse.ArgumentParser) -> None:
    from .benchmark import RUNNERS, BenchmarkOptions

    defaults = BenchmarkOptions()
    _model_args(p)
    p.add_argument("--baseline", help="network to compare with (model spec or taylorprune file), "
                                      "e.g. the unpruned original")
    p.add_argument("--json", help="also write results, options, machine and load to this JSON file")
    p.add_argument("--batch-sizes", type=_batch_sizes, metavar="N,N",
                   default=",".join(map(str, defaults.batch_sizes)),
                   help="images per call, comma-separated")
    p.add_argument("--runtimes", type=lambda s: tuple(s.split(",")), default=",".join(defaults.runtimes),
                   help=f"comma-separated, from: {', '.join(RUNNERS)}")
    p.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed calls first")
    p.add_argument("--repeats", type=int, default=defaults.repeats, help="timed calls; median reported")
    p.add_argument("--threads", type=int, default=defaults.threads,
                   help="CPU threads for both runtimes (0: torch's default, the cores it sees)")
    p.add_argument("--input-size", type=_input_size, metavar="C,H,W",
                   help="shape of one image (default: the artifact's, else 3,32,32)")
    p.add_argument("--num-classes", type=int, default=10, help="classes of a built-in model's head")


def _load_baseline(spec: str, num_classes: int, trust_code: bool):
    """The network to compare with: untrained weights do, only its shape and cost matter."""
    from .artifacts import resolve_network
    from .models import builder_kwargs

    return resolve_network(spec, trust_code=trust_code, **builder_kwargs(spec, num_classes))


@command("benchmark", "measure latency and throughput (PyTorch, onnxruntime) against a baseline, "
         "with MACs", _configure_benchmark)
def _benchmark(args: argparse.Namespace) -> int:
    from .benchmark import BenchmarkOptions, compare_networks
    from .report.benchmark import benchmark_lines

    options = BenchmarkOptions(batch_sizes=args.batch_sizes, runtimes=args.runtimes, warmup=args.warmup,
                               repeats=args.repeats, threads=args.threads)
    net = _load_model(args, args.num_classes)
    baseline = _load_baseline(args.baseline, args.num_classes, args.trust_code) if args.baseline else None
    comparison = compare_networks(
        net, _example_shape(args.model, args.input_size), options, baseline=baseline,
        names=(args.model, args.baseline or ""),
        baseline_shape=_example_shape(args.baseline, args.input_size) if args.baseline else None)
    print("\n".join(benchmark_lines(comparison)))
    if args.json:
        _write_json(Path(args.json), {"arguments": vars(args), **comparison.to_dict()})
        print(f"saved {args.json}")
    return 0
