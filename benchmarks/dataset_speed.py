"""Training speed per image on the CPU: an in-memory ImageData vs a Dataset of the same tensors.

    python benchmarks/dataset_speed.py --rounds 9 --threads 1

The same ResNet-20 trains one epoch on the same images, once from an ImageData (uint8 on the
device, batches gathered by indexing) and once from a map-style TensorDataset of float32
tensors (batches built by taylorprune's DataLoader, one __getitem__ per image, no workers).
Augmentation is off on both, so the only difference is how batches are made. The two
alternate round by round (A B, B A, ...) so that load from other jobs falls on both alike;
the result is the median and spread of the per-round ratios (training-step time only,
TrainingInfo.images_per_second). Each round also times making one epoch of batches alone
(no network): the part of the per-image cost the two routes do differently, which the load
on the machine disturbs much less than whole training steps. Writes
benchmarks/results/dataset_speed-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from taylorprune.benchmark.machine import describe_machine
from taylorprune.data import ImageData
from taylorprune.models.cifar_resnet import CifarResNet
from taylorprune.train import TrainingOptions, train_network
from taylorprune.train.sources import as_source

RESULT = Path(__file__).parent / "results" / "dataset_speed-cpu.json"


def images(n: int, seed: int) -> ImageData:
    """Random 32x32 RGB images and labels: speed does not depend on what the pixels show."""
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return ImageData(pixels, torch.randint(0, 10, (n,), generator=g), tuple(str(i) for i in range(10)))


def speed(data, batch: int, seed: int) -> float:
    """Training images per second of one epoch of ResNet-20 from the same initial weights."""
    torch.manual_seed(seed)
    net = CifarResNet(20, num_classes=10)
    opts = TrainingOptions(max_epochs=1, mini_batch_size=batch, augment=False, verbose=False,
                           execution_environment="cpu", seed=seed)
    _, info = train_network(net, data, "crossentropy", opts)
    return info.images_per_second


def batch_making_us(data, batch: int, seed: int) -> float:
    """Microseconds per image to make one epoch of training batches, with no network."""
    source = as_source(data, torch.device("cpu"))
    order = torch.randperm(len(source), generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    for _ in source.batches(order, batch, drop_last=True):
        pass
    return 1e6 * (time.perf_counter() - start) / (len(source) // batch * batch)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2048, help="training images (default 2048)")
    p.add_argument("--batch", type=int, default=128, help="mini-batch size (default 128, MATLAB's)")
    p.add_argument("--rounds", type=int, default=9, help="A/B pairs (default 9)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default=str(RESULT))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    memory = images(args.images, seed=0)
    dataset = TensorDataset(memory.images.float() / 255, memory.labels)
    routes = {"ImageData": memory, "Dataset": dataset}
    speed(memory, args.batch, 0)  # warm-up: first-call costs fall on neither route
    rows = []
    for r in range(args.rounds):
        names = list(routes) if r % 2 == 0 else list(reversed(routes))
        row = {name: speed(routes[name], args.batch, r) for name in names}
        row["ratio"] = row["ImageData"] / row["Dataset"]  # > 1: the Dataset route is slower
        row["batch_making_us_per_image"] = {name: batch_making_us(routes[name], args.batch, r) for name in names}
        rows.append(row)
        making = row["batch_making_us_per_image"]
        print(f"round {r}: ImageData {row['ImageData']:.1f} img/s, Dataset {row['Dataset']:.1f} img/s, "
              f"time ratio Dataset/ImageData {row['ratio']:.3f}; batches alone {making['ImageData']:.1f} vs "
              f"{making['Dataset']:.1f} us/image", flush=True)
    ratios = sorted(row["ratio"] for row in rows)
    quartiles = statistics.quantiles(ratios, n=4)
    result = {
        "command": "python " + " ".join(sys.argv),
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "torch": torch.__version__, "machine": describe_machine(), "threads": args.threads,
        "images": args.images, "batch": args.batch, "network": "resnet20 (CIFAR, 32x32)",
        "rounds": rows,
        "median_images_per_s": {name: statistics.median(row[name] for row in rows) for name in routes},
        "median_time_ratio_dataset_over_imagedata": statistics.median(ratios),
        "time_ratio_spread": {"min": ratios[0], "q1": quartiles[0], "q3": quartiles[2], "max": ratios[-1]},
        "median_batch_making_us_per_image": {
            name: statistics.median(row["batch_making_us_per_image"][name] for row in rows) for name in routes},
        "median_training_us_per_image": {
            name: 1e6 / statistics.median(row[name] for row in rows) for name in routes},
        "note": "interleaved A/B on a machine other jobs were loading; ratio = per-image time of the "
                "Dataset route over the ImageData route, per round",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("median_images_per_s", "median_time_ratio_dataset_over_imagedata",
                                             "time_ratio_spread", "median_batch_making_us_per_image")}, indent=1))


if __name__ == "__main__":
    main()
