"""Segmentation: prune torchvision's LR-ASPP MobileNetV3-Large to an mIoU floor.

The network returns a dict ({"out": (N, classes, H, W)}); the objective is torchmetrics'
multiclass Jaccard index (mIoU, higher is better, so the threshold is a floor). The data is a
deterministic generated set: circles, squares and triangles in random colours on textured
backgrounds (sums of coloured sinusoidal gratings and noise), one mask class per shape kind.
Example i is drawn from its own seed on every read, so the set is never held in memory.

    python examples/segmentation.py --size 96 --train 480 --epochs 12 \\
        --out benchmarks/results/example-segmentation.json
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torchmetrics
from torch.utils.data import Dataset
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

from taylorprune import compress_network_using_taylor_pruning
from taylorprune.train import TrainingOptions, test_net, train_network

from common import add_run_args, outcome, write_result

CLASSES = ("background", "circle", "square", "triangle")
MAX_SHAPES = 3  # per image


class ShapesOnTexture(Dataset):
    """``count`` images (3, size, size) in [0, 1] with masks (size, size) of CLASSES indices."""

    def __init__(self, count: int, size: int = 96, seed: int = 0) -> None:
        self.count, self.size, self.seed = count, size, seed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        image = texture(self.size, g)  # (3, S, S)
        mask = torch.zeros(self.size, self.size, dtype=torch.int64)
        for _ in range(int(torch.randint(1, MAX_SHAPES + 1, (), generator=g))):
            kind = int(torch.randint(1, len(CLASSES), (), generator=g))
            inside = shape(kind, self.size, g)  # (S, S) bool
            colour = torch.rand(3, 1, 1, generator=g)
            image = torch.where(inside, 0.8 * colour + 0.2 * image, image)
            mask[inside] = kind
        return image.clamp(0, 1), mask

    def fingerprint(self) -> str:
        return f"shapes-on-texture:{self.count}:{self.size}:{self.seed}"


def texture(size: int, g: torch.Generator) -> torch.Tensor:
    """Three oriented sinusoidal gratings in random colours plus noise: (3, size, size)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    image = torch.zeros(3, size, size)
    for _ in range(3):
        angle, freq, phase = torch.rand(3, generator=g) * torch.tensor([math.pi, 20.0, 2 * math.pi])
        wave = torch.sin((x * angle.cos() + y * angle.sin()) * (freq + 2) + phase)  # (S, S)
        image += torch.rand(3, 1, 1, generator=g) * (0.5 + 0.5 * wave) / 3
    return image + 0.05 * torch.randn(3, size, size, generator=g)


def shape(kind: int, size: int, g: torch.Generator) -> torch.Tensor:
    """A random circle (1), axis-aligned square (2) or triangle (3), as a (size, size) mask."""
    y, x = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    r = size * (0.1 + 0.12 * float(torch.rand((), generator=g)))  # half-width, pixels
    cy, cx = (r + torch.rand(2, generator=g) * (size - 2 * r)).tolist()
    if kind == 1:
        return (y - cy) ** 2 + (x - cx) ** 2 <= r * r
    if kind == 2:
        return ((y - cy).abs() <= r) & ((x - cx).abs() <= r)
    corners = [(cy - r, cx), (cy + r, cx - r), (cy + r, cx + r)]  # apex up
    signs = [(x - bx) * (ay - by) - (y - by) * (ax - bx)
             for (ay, ax), (by, bx) in zip(corners, corners[1:] + corners[:1], strict=True)]
    return torch.stack(signs).le(0).all(0) | torch.stack(signs).ge(0).all(0)


BN_MOMENTUM = 0.1  # torchvision's MobileNetV3 uses 0.01, tuned for ImageNet-long runs


def network() -> torch.nn.Module:
    """LR-ASPP MobileNetV3-Large from scratch, its BN statistics following a short run.

    With torchvision's momentum of 0.01 the running statistics lag a few hundred steps behind
    the weights, and in eval mode the network predicted background everywhere.
    """
    net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=len(CLASSES))
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = BN_MOMENTUM
    return net


def miou() -> torchmetrics.Metric:
    return torchmetrics.JaccardIndex(task="multiclass", num_classes=len(CLASSES), average="macro")


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    train = ShapesOnTexture(args.train, args.size, seed=args.seed)
    val = ShapesOnTexture(args.val, args.size, seed=args.seed + 1)
    test = ShapesOnTexture(args.val, args.size, seed=args.seed + 2)
    metric = miou()
    name = type(metric).__name__  # "MulticlassJaccardIndex"
    opts = TrainingOptions(solver="adam", initial_learn_rate=2e-3, max_epochs=args.epochs, mini_batch_size=16,
                           learn_rate_schedule="cosine", validation_data=val,
                           validation_frequency=max(args.train // 16, 1), metrics=[metric, "accuracy"],
                           objective_metric_name=name, output_network="best-validation",
                           num_workers=args.workers, execution_environment="cpu", verbose=args.verbose,
                           seed=args.seed)
    start = time.perf_counter()
    net, _ = train_network(network(), train, "crossentropy", opts)
    train_s = time.perf_counter() - start
    base = test_net(net, test, miou(), execution_environment="cpu")
    start = time.perf_counter()
    pruned, info = compress_network_using_taylor_pruning(
        net, train, "crossentropy", opts.replace(max_epochs=args.fine_tune_epochs, initial_learn_rate=5e-4),
        validation_threshold=args.floor, learnables_reduction_goal=args.goal,
        learnables_reduction_increment=args.increment, num_importance_score_iterations=8)
    prune_s = time.perf_counter() - start
    return {
        "images": {"train": len(train), "validation": len(val), "test": len(test)}, "size_px": args.size,
        "epochs": args.epochs, "fine_tune_epochs": args.fine_tune_epochs, "train_s": round(train_s, 1),
        "miou_floor": args.floor, "validation_miou": [info.pruning_history[0].validation_metric, info.validation_metric],
        "test_miou": [base, test_net(pruned, test, miou(), execution_environment="cpu")],
        **outcome(info, prune_s),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=96, help="image side in pixels (default 96)")
    p.add_argument("--train", type=int, default=480, help="training images (default 480)")
    p.add_argument("--val", type=int, default=96, help="validation and test images each (default 96)")
    p.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    p.add_argument("--fine-tune-epochs", type=int, default=2, help="per pruning iteration (default 2)")
    p.add_argument("--floor", type=float, default=0.6, help="validation mIoU floor, 0..1 (default 0.6)")
    p.add_argument("--goal", type=float, default=0.5, help="learnables reduction goal (default 0.5)")
    p.add_argument("--increment", type=float, default=0.1, help="per iteration (default 0.1)")
    p.add_argument("--workers", type=int, default=0, help="loader worker processes (default 0)")
    add_run_args(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    write_result(arguments.out, run(arguments))
