"""Training and inference speed of cifarnet per mode, and the seed workflow end to end (#6).

    python benchmarks/speed.py                                  # step rates + inference, this machine
    python benchmarks/speed.py --compile                        # also torch.compile reduce-overhead
    python benchmarks/speed.py --workflow --data PATH --out DIR # + prune cifarnet, MATLAB's settings

Step rates use synthetic images already on the device: forward, backward and SGD step of a
fresh cifarnet, timed after a warm-up with the device synchronised. "ours" is
taylorprune's own train_network on a 45,000-image uint8 set with augmentation (the CUDA
graph path on CUDA), read from its TrainingInfo. The workflow is `taylorprune prune` on the
given network: wall time from data loading to the saved run, split by phase.
Prints a JSON document and writes it to --json (default benchmarks/results/speed-<device>.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from taylorprune.artifacts import resolve_network
from taylorprune.benchmark.machine import describe_machine
from taylorprune.data import ImageData, load_data, split_validation
from taylorprune.models import load_model
from taylorprune.train import TrainingOptions, evaluate, train_network
from taylorprune.train.device import autocast

RESULTS = Path(__file__).parent / "results"
BATCHES = (128, 512, 1024)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def manual_step_rate(mode: str, batch: int, device: torch.device, steps: int) -> float:
    """Images/s of plain PyTorch training steps in ``mode`` on synthetic data on the device."""
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

    run: Callable[[], None] = step
    if "compile" in mode:
        run = torch.compile(step, mode="reduce-overhead")
    for _ in range(max(steps // 5, 5)):
        run()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        run()
    _sync(device)
    return batch * steps / (time.perf_counter() - start)


def ours_rate(batch: int, device: torch.device, images: int, precision: str, epochs: int = 2,
              network: str = "cifarnet") -> float:
    """Images/s of taylorprune's train_network (augmentation, history, everything) on uint8 data."""
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (images,), generator=g), tuple(str(i) for i in range(10)))
    opts = TrainingOptions(max_epochs=epochs, mini_batch_size=batch, verbose=False, precision=precision,
                           execution_environment=device.type, initial_learn_rate=0.01)
    _, info = train_network(resolve_network(network), data, "crossentropy", opts)
    return info.images_per_second


def inference_rate(device: torch.device, data: ImageData | None, images: int) -> dict[str, float]:
    """Seconds to evaluate ``images`` test images with taylorprune's evaluate (batch 1000)."""
    if data is None:
        g = torch.Generator().manual_seed(0)
        data = ImageData(torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=g),
                         torch.randint(0, 10, (images,), generator=g), tuple(str(i) for i in range(10)))
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
            "--increment", "0.05",
            "--epochs", str(args.epochs), "--batch-size", "128", "--validation", str(args.validation), "--out", args.out, "--min-increment", args.min_increment,
            "--quiet", "--cuda-graphs" if args.cuda_graphs else "--no-cuda-graphs",
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
    parser.add_argument("--skip-rates", action="store_true", help="only the workflow")
    parser.add_argument("--network", default="cifarnet",
                        help="model spec or taylorprune file whose 'ours' training rate is measured "
                             "(a pruned network: does it train at least as fast as the unpruned one?)")
    parser.add_argument("--ours-only", action="store_true", help="skip the plain-PyTorch modes and inference")
    parser.add_argument("--data", help="CIFAR-10 (any format taylorprune reads) for inference and workflow")
    parser.add_argument("--workflow", action="store_true", help="run the seed workflow end to end")
    parser.add_argument("--model", default="cifarnet", help="network to prune (default: bundled cifarnet)")
    parser.add_argument("--min-increment", default="0.005", help="'none' for MATLAB's stop-at-first-failure")
    parser.add_argument("--out", default="runs/speed-workflow", help="run folder of the workflow")
    parser.add_argument("--min-accuracy", type=float, default=85.0, help="validation accuracy floor")
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs per pruning iteration")
    parser.add_argument("--validation", type=int, default=5000, help="validation images carved from train")
    parser.add_argument("--resume", action="store_true", help="resume the workflow run in --out")
    parser.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=True,
                        help="the workflow's fine-tuning captures its step in CUDA graphs (on CUDA)")
    parser.add_argument("--json", help="where to write the results")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (200 if cuda else 10)
    result: dict = {"command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
                    "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                                                 text=True).stdout.strip(),
                    "machine": describe_machine(),
                    "gpu": torch.cuda.get_device_name() if cuda else None}
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
    if args.workflow:
        if not args.data:
            parser.error("--workflow needs --data")
        result["workflow"] = workflow(args)
    path = Path(args.json) if args.json else RESULTS / f"speed-{'gpu' if cuda else 'cpu'}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    if "workflow" in result:
        print(json.dumps(result["workflow"]))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
