"""Regression: prune a small CNN that predicts a digit's rotation to an RMSE ceiling in degrees.

MATLAB's digit-rotation example on real data: scikit-learn's handwritten digits (1,797 8x8
images shipped with the package), upsampled to 24x24 and each rotated by a random angle in
[-45, 45] degrees. The network regresses the angle with the mean squared error; RMSE is the
objective, lower is better, so ``validation_threshold`` is a ceiling.

    python examples/digit_rotation.py --epochs 40 --ceiling 8 \\
        --out benchmarks/results/example-digit-rotation.json
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import TensorDataset

from taylorprune import compress_network_using_taylor_pruning
from taylorprune.train import TrainingOptions, test_net, train_network

from common import add_run_args, outcome, write_result

SIZE = 24  # pixels after upsampling the 8x8 digits
MAX_ANGLE = 45.0  # degrees either way
SPLIT = (0.6, 0.2, 0.2)  # train, validation, test


def rotated_digits(seed: int = 0) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """(train, validation, test) of (image (1, SIZE, SIZE) in [0, 1], angle in degrees)."""
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16  # (N, 1, 8, 8)
    images = F.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    g = torch.Generator().manual_seed(seed)
    angles = (torch.rand(len(images), generator=g) * 2 - 1) * MAX_ANGLE  # (N,) degrees
    rotated = rotate(images, angles)
    order = torch.randperm(len(images), generator=g)
    cuts = [round(f * len(images)) for f in (SPLIT[0], SPLIT[0] + SPLIT[1])]
    parts = order[: cuts[0]], order[cuts[0]: cuts[1]], order[cuts[1]:]
    return tuple(TensorDataset(rotated[p], angles[p]) for p in parts)  # type: ignore[return-value]


def rotate(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image (N, C, H, W) counter-clockwise by its angle, bilinear, zero fill."""
    rad = degrees * math.pi / 180
    cos, sin, zero = rad.cos(), rad.sin(), torch.zeros_like(rad)
    theta = torch.stack([torch.stack([cos, sin, zero], 1), torch.stack([-sin, cos, zero], 1)], 1)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def network(width: int = 16) -> nn.Module:
    """MATLAB's example layers: three conv-BN-ReLU stages, pooling between, one output."""
    def stage(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*stage(1, width), nn.AvgPool2d(2), *stage(width, 2 * width), nn.AvgPool2d(2),
                         *stage(2 * width, 2 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(2 * width, 1))


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    train, val, test = rotated_digits(args.seed)
    opts = TrainingOptions(solver="adam", initial_learn_rate=3e-3, max_epochs=args.epochs, mini_batch_size=64,
                           learn_rate_schedule="cosine", validation_data=val, validation_frequency=17,
                           metrics=["rmse"], objective_metric_name="rmse", output_network="best-validation",
                           execution_environment="cpu", verbose=args.verbose, seed=args.seed)
    start = time.perf_counter()
    net, _ = train_network(network(args.width), train, "mse", opts)
    train_s = time.perf_counter() - start
    base = test_net(net, test, "rmse", loss="mse", execution_environment="cpu")
    start = time.perf_counter()
    pruned, info = compress_network_using_taylor_pruning(
        net, train, "mse", opts.replace(max_epochs=args.fine_tune_epochs, initial_learn_rate=1e-3),
        validation_threshold=args.ceiling, learnables_reduction_goal=args.goal,
        learnables_reduction_increment=args.increment, num_importance_score_iterations=8)
    prune_s = time.perf_counter() - start
    return {
        "images": {"train": len(train), "validation": len(val), "test": len(test)}, "size_px": SIZE,
        "epochs": args.epochs, "fine_tune_epochs": args.fine_tune_epochs, "train_s": round(train_s, 1),
        "rmse_ceiling_deg": args.ceiling,
        "validation_rmse_deg": [info.pruning_history[0].validation_metric, info.validation_metric],
        "test_rmse_deg": [base, test_net(pruned, test, "rmse", loss="mse", execution_environment="cpu")],
        **outcome(info, prune_s),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    p.add_argument("--fine-tune-epochs", type=int, default=5, help="per pruning iteration (default 5)")
    p.add_argument("--ceiling", type=float, default=8.0, help="validation RMSE ceiling in degrees (default 8)")
    p.add_argument("--goal", type=float, default=0.9, help="learnables reduction goal (default 0.9)")
    p.add_argument("--increment", type=float, default=0.1, help="per iteration (default 0.1)")
    p.add_argument("--width", type=int, default=16, help="channels of the first stage (default 16)")
    add_run_args(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    write_result(arguments.out, run(arguments))
