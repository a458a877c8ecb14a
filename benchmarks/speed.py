"""Training and inference speed of cifarnet per mode, and the seed workflow end to end.

    python benchmarks/speed.py                                  # step rates + inference, this machine
    python benchmarks/speed.py --compile                        # also torch.compile reduce-overhead
    python benchmarks/speed.py --workflow --data PATH --out DIR # + prune cifarnet, MATLAB's settings
    python benchmarks/speed.py --profile                        # + where the time goes, batch 128, 1024
    python benchmarks/speed.py --skip-rates --profile --profile-batches 1024  # the profile alone

Step rates use synthetic images already on the device: forward, backward and SGD step of a
fresh cifarnet, timed after a warm-up with the device synchronised. "ours" is
taylorprune's own train_network on a 45,000-image uint8 set with augmentation (the CUDA
graph path on CUDA), read from its TrainingInfo. The workflow is `taylorprune prune` on the
given network: wall time from data loading to the saved run, split by phase. --profile runs
torch.profiler over a few steps of eager-bf16-cl and of ours (the second epoch of a short
bf16 train_network call) and summarises each (benchmarks/profile_summary.py) under "profile".
Prints a JSON document and writes it to --json (default benchmarks/results/speed-<device>.json).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from profile_summary import ProfileWindow, format_summary, sync  # beside this script
from provenance import write_result

from taylorprune.artifacts import resolve_network
from taylorprune.data import ImageData, load_data, split_validation
from taylorprune.models import load_model
from taylorprune.train import TrainingInfo, TrainingOptions, TrainingState, evaluate, train_network
from taylorprune.train.device import autocast
from taylorprune.train.graphs import WARMUP_STEPS

RESULTS = Path(__file__).parent / "results"
BATCHES = (128, 512, 1024)


def manual_step(mode: str, batch: int, device: torch.device) -> Callable[[], None]:
    """One plain PyTorch training step of a fresh cifarnet in ``mode`` on synthetic data on the device.

    Shared by the step rates and the profile, so both look at the same step.
    """
    torch.manual_seed(0)
    net = load_model("cifarnet").to(device)
    bf16 = "bf16" in mode
    if "cl" in mode or "compile" in mode:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(batch, 3, 32, 32, device=device)
    if "cl" in mode or "compile" in mode:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        with autocast(device, bf16):
            loss = F.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return torch.compile(step, mode="reduce-overhead") if "compile" in mode else step


def manual_step_rate(mode: str, batch: int, device: torch.device, steps: int) -> float:
    """Images/s of plain PyTorch training steps in ``mode``, timed after a warm-up."""
    run = manual_step(mode, batch, device)
    for _ in range(max(steps // 5, 5)):
        run()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        run()
    sync(device)
    return batch * steps / (time.perf_counter() - start)


def synthetic_data(images: int) -> ImageData:
    """Random uint8 CIFAR-sized images and labels, the same for every call."""
    g = torch.Generator().manual_seed(0)
    return ImageData(torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (images,), generator=g), tuple(str(i) for i in range(10)))


def train_ours(batch: int, device: torch.device, images: int, precision: str, epochs: int,
               network: str, on_epoch: Callable[[TrainingState], None] | None = None) -> TrainingInfo:
    """taylorprune's train_network (augmentation, history, everything) on synthetic uint8 data."""
    opts = TrainingOptions(max_epochs=epochs, mini_batch_size=batch, verbose=False, precision=precision,
                           execution_environment=device.type, initial_learn_rate=0.01)
    return train_network(resolve_network(network), synthetic_data(images), "crossentropy", opts,
                         on_epoch=on_epoch)[1]


def ours_rate(batch: int, device: torch.device, images: int, precision: str, epochs: int = 2,
              network: str = "cifarnet") -> float:
    """Images/s of train_network, as its TrainingInfo reports it."""
    return train_ours(batch, device, images, precision, epochs, network).images_per_second


PROFILED_MODE = "eager-bf16-cl"  # the plain step the CUDA-graph path has to beat


def profile_manual(batch: int, device: torch.device, steps: int) -> dict:
    """Profile of ``steps`` plain eager bf16 channels-last steps, after five unprofiled ones."""
    run = manual_step(PROFILED_MODE, batch, device)
    for _ in range(5):
        run()
    with ProfileWindow(device) as window:
        for _ in range(steps):
            run()
    return window.summary(steps, batch)


def profile_ours(batch: int, device: torch.device, steps: int, network: str) -> dict:
    """Profile of the last epoch of a bf16 train_network call of ``steps`` steps per epoch.

    The epochs before it (at least one, and enough for the eager warm-up steps and the CUDA
    graph capture) run unprofiled; the window is the whole last epoch, so augmentation,
    history and the end-of-epoch sync count too.
    """
    warm = math.ceil((WARMUP_STEPS + 1) / steps)
    window = ProfileWindow(device)

    def on_epoch(state: TrainingState) -> None:
        if state.epoch == warm:
            window.start()
        elif state.epoch == warm + 1:
            window.stop()

    train_ours(batch, device, batch * steps, "bf16", warm + 1, network, on_epoch)
    return window.summary(steps, batch)


def _attempt(run: Callable[[], dict]) -> dict:
    """A profile, or the error it ended in: a failed profile must not cost the other figures."""
    try:
        return run()
    except Exception as err:
        return {"error": f"{type(err).__name__}: {err}"}


def profiles(args: argparse.Namespace, device: torch.device) -> dict:
    """The profiles --profile asks for, each printed as it comes, and the seconds they took."""
    start = time.perf_counter()
    steps = args.profile_steps or (10 if device.type == "cuda" else 2)
    ours = "ours-bf16" + ("-cuda-graph" if device.type == "cuda" else "")
    rows = []
    for batch in args.profile_batches:
        runs = [] if args.ours_only else [(PROFILED_MODE, partial(profile_manual, batch, device, steps))]
        runs.append((ours, partial(profile_ours, batch, device, steps, args.network)))
        for mode, run in runs:
            rows.append({"mode": mode, "batch": batch, **_attempt(run)})
            print(format_summary(f"{mode} batch {batch}", rows[-1]), flush=True)
    seconds = time.perf_counter() - start
    print(f"profiles took {seconds:.1f} s", flush=True)
    return {"network (ours rows)": args.network, "seconds": seconds, "rows": rows}


def inference_rate(device: torch.device, data: ImageData | None, images: int) -> dict[str, float]:
    """Seconds to evaluate ``images`` test images with taylorprune's evaluate (batch 1000)."""
    if data is None:
        data = synthetic_data(images)
    data = ImageData(data.images[:images].to(device), data.labels[:images].to(device), data.classes)
    net = load_model("cifarnet", pretrained=True).to(device, memory_format=torch.channels_last)
    for _ in range(3):
        evaluate(net, data, device=device)
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        evaluate(net, data, device=device)  # ends with a host read: synchronised
        runs.append(time.perf_counter() - start)
    best = min(runs)
    return {"images": len(data), "seconds": best, "images_per_s": len(data) / best}


def workflow(args: argparse.Namespace) -> dict:
    """`taylorprune prune` with MATLAB's settings, timed from data loading to the saved run."""
    from taylorprune.cli import main as cli

    start = time.perf_counter()
    train, _ = load_data(args.data)
    split_validation(train, args.validation, seed=0)
    data_s = time.perf_counter() - start
    argv = ["prune", "--model", args.model, "--data", args.data, "--min-accuracy", str(args.min_accuracy),
            "--increment", "0.05", "--epochs", str(args.epochs), "--batch-size", "128",
            "--validation", str(args.validation), "--out", args.out, "--min-increment", args.min_increment,
            "--distill", str(args.distill), "--quiet", "--cuda-graphs" if args.cuda_graphs else "--no-cuda-graphs",
            *(["--pretrained"] if args.model == "cifarnet" else []),
            *(["--resume"] if args.resume else ["--force"])]
    code = cli(argv)
    wall = time.perf_counter() - start
    history = json.loads((Path(args.out) / "history.json").read_text())
    return {"command": "taylorprune " + " ".join(argv), "exit_code": code, "wall_s": wall,
            "data_loading_s (measured separately, before the run)": data_s,
            "time_split_s": history["time_split"], "elapsed_s": history["elapsed_s"],
            "learnables_reduction": history["learnables_reduction"], "stop_reason": history["stop_reason"],
            "iterations": len(history["pruning_history"]) - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile reduce-overhead")
    parser.add_argument("--steps", type=int, help="timed steps per manual mode (default 200 CUDA, 10 CPU)")
    parser.add_argument("--skip-rates", action="store_true",
                        help="skip the step rates and inference (only --profile and/or --workflow)")
    parser.add_argument("--network", default="cifarnet",
                        help="model spec or taylorprune file whose 'ours' training rate is measured "
                             "(a pruned network: does it train at least as fast as the unpruned one?)")
    parser.add_argument("--ours-only", action="store_true", help="skip the plain-PyTorch modes and inference")
    parser.add_argument("--data", help="CIFAR-10 (any format taylorprune reads) for inference and workflow")
    parser.add_argument("--workflow", action="store_true", help="run the seed workflow end to end")
    parser.add_argument("--model", default="cifarnet", help="network to prune (default: bundled cifarnet)")
    parser.add_argument("--min-increment", default="0.005", help="'none' for MATLAB's stop-at-first-failure")
    parser.add_argument("--distill", type=float, default=0.0,
                        help="distillation weight of the workflow (default 0, MATLAB's; taylorprune's own is 0.5)")
    parser.add_argument("--out", default="runs/speed-workflow", help="run folder of the workflow")
    parser.add_argument("--min-accuracy", type=float, default=85.0, help="validation accuracy floor")
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs per pruning iteration")
    parser.add_argument("--validation", type=int, default=5000, help="validation images carved from train")
    parser.add_argument("--resume", action="store_true", help="resume the workflow run in --out")
    parser.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=True,
                        help="the workflow's fine-tuning captures its step in CUDA graphs (on CUDA)")
    parser.add_argument("--profile", action="store_true",
                        help="torch.profiler summary of a few steps of eager-bf16-cl and ours")
    parser.add_argument("--profile-batches", type=lambda v: [int(b) for b in v.split(",")], default=[128, 1024],
                        help="comma-separated batch sizes to profile (default 128,1024)")
    parser.add_argument("--profile-steps", type=int, help="profiled steps per profile (default 10 CUDA, 2 CPU)")
    parser.add_argument("--json", help="where to write the results")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (200 if cuda else 10)
    result: dict = {}
    test = load_data(args.data)[1] if args.data else None
    if not args.skip_rates:
        modes = ["eager-fp32", "eager-bf16-cl"] + (["compile-reduce-overhead-bf16"] if args.compile else [])
        rows = []
        for batch in BATCHES if cuda else (128,):
            for mode in [] if args.ours_only else modes:
                rows.append({"mode": mode, "batch": batch, "images_per_s": manual_step_rate(mode, batch, device, steps)})
                print(json.dumps(rows[-1]), flush=True)
            for precision in ("bf16", "fp32") if cuda else ("fp32", "bf16"):
                rate = ours_rate(batch, device, 45_000 if cuda else 2_048, precision, epochs=2 if cuda else 1,
                                 network=args.network)
                rows.append({"mode": f"ours-{precision}" + ("-cuda-graph" if cuda else ""), "batch": batch,
                             "network": args.network, "images_per_s": rate})
                print(json.dumps(rows[-1]), flush=True)
        result["training_steps"] = rows
        if not args.ours_only:
            result["inference"] = inference_rate(device, test, 10_000 if cuda else 2_000)
            print(json.dumps(result["inference"]), flush=True)
    if args.profile:
        result["profile"] = profiles(args, device)
    if args.workflow:
        if not args.data:
            parser.error("--workflow needs --data")
        result["workflow"] = workflow(args)
    path = Path(args.json) if args.json else RESULTS / f"speed-{'gpu' if cuda else 'cpu'}.json"
    write_result(path, result, seed=0)
    if "workflow" in result:
        print(json.dumps(result["workflow"]))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
