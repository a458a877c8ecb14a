"""Streaming classification: prune a torchvision resnet18 that reads a folder of 224-px JPEGs from disk.

The folder is made from the shared CIFAR-10 JPEGs, each resized to 224x224 and saved again as
JPEG (quality 90): train/<class>/ and val/<class>/, as torchvision.datasets.ImageFolder reads.
Training, validation and Taylor scoring all read it through ImageFolder with transforms and 4
loader workers; taylorprune never holds the set in memory. The script measures the peak
memory of the whole process tree (loader workers included) while it first streams every
image of the folder once and then trains and prunes on a subset, and compares it with the
folder's decoded size, the memory the in-memory ImageData route would need. The two phases
are measured apart: the pass over the whole folder (the data pipeline: what grows with the
folder if anything does) and the training and pruning (the network's own memory besides).

    python examples/streaming_classification.py --tar ../shared/data/cifar10-jpeg.tar.gz \\
        --folder /tmp/cifar224 --images 50000 --train-images 2000 --val-images 500 \\
        --out benchmarks/results/example-streaming-classification.json
"""

from __future__ import annotations

import argparse
import tarfile
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch.utils.data import Subset
from torchvision import transforms as T

from taylorprune import compress_network_using_taylor_pruning
from taylorprune.train import TrainingOptions, evaluate, train_network
from taylorprune.train.sources import as_source

from common import TreeMemory, add_run_args, write_result

SIZE = 224  # pixels, the ImageNet input size
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)  # CIFAR-10 channel statistics
CLASSES = 10


def build_folder(tar: Path, folder: Path, train_per_class: int, val_per_class: int) -> int:
    """Write train/ and val/ image folders at SIZE px from the CIFAR-10 JPEG tarball; images written."""
    marker = folder / f".complete-{train_per_class}-{val_per_class}"
    if marker.exists():
        return len(list(folder.glob("*/*/*.jpg")))
    limits = {"train": train_per_class, "test": val_per_class}
    written = 0
    with tarfile.open(tar, "r:gz") as archive:
        for member in archive:
            parts = Path(member.name).parts  # cifar10-jpeg/<split>/<class>/NNNN.jpg
            if not member.isfile() or len(parts) != 4 or int(Path(parts[3]).stem) >= limits[parts[1]]:
                continue
            split = "train" if parts[1] == "train" else "val"
            out = folder / split / parts[2] / parts[3]
            out.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(archive.extractfile(member)) as image:  # type: ignore[arg-type]
                image.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR).save(out, quality=90)
            written += 1
    marker.touch()
    return written


def datasets(folder: Path) -> tuple[torchvision.datasets.ImageFolder, torchvision.datasets.ImageFolder]:
    normalize = [T.ToTensor(), T.Normalize(MEAN, STD)]
    train = torchvision.datasets.ImageFolder(folder / "train", T.Compose([T.RandomHorizontalFlip(), *normalize]))
    val = torchvision.datasets.ImageFolder(folder / "val", T.Compose(normalize))
    return train, val


def stream_all(dataset, workers: int, batch: int) -> tuple[int, float]:
    """Read every image once through taylorprune's loader (decode and transforms, no network)."""
    source = as_source(dataset, torch.device("cpu"), workers=workers)
    start, seen = time.perf_counter(), 0
    for x, _ in source.batches(torch.arange(len(source)), batch):
        seen += len(x)
    return seen, time.perf_counter() - start


def subset(dataset, count: int, seed: int) -> Subset:
    return Subset(dataset, torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count].tolist())


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    written = build_folder(Path(args.tar), Path(args.folder), args.images // CLASSES, args.val_per_class)
    build_s = time.perf_counter() - start
    train_all, val_all = datasets(Path(args.folder))
    with TreeMemory() as streaming:
        streamed, stream_s = stream_all(train_all, args.workers, args.batch) if args.stream_all else (0, 0.0)
    with TreeMemory() as memory:
        train, val = subset(train_all, args.train_images, args.seed), subset(val_all, args.val_images, args.seed)
        opts = TrainingOptions(solver="sgdm", initial_learn_rate=0.05, max_epochs=args.epochs,
                               mini_batch_size=args.batch, learn_rate_schedule="cosine", validation_data=val,
                               validation_frequency=10**9, metrics=["accuracy"], objective_metric_name="accuracy",
                               num_workers=args.workers, execution_environment="cpu", verbose=args.verbose,
                               seed=args.seed)
        net = torchvision.models.resnet18(num_classes=CLASSES)
        t0 = time.perf_counter()
        net, _ = train_network(net, train, "crossentropy", opts)
        train_s = time.perf_counter() - t0
        base = evaluate(net, val, workers=args.workers)["accuracy"]
        t0 = time.perf_counter()
        pruned, info = compress_network_using_taylor_pruning(
            net, train, "crossentropy", opts.replace(max_epochs=args.fine_tune_epochs, output_network="best-validation"),
            validation_threshold=max(base - args.drop, 0.0), learnables_reduction_goal=args.goal,
            learnables_reduction_increment=args.increment, num_importance_score_iterations=args.score_batches)
        prune_s = time.perf_counter() - t0
    decoded = len(train_all) * 3 * SIZE * SIZE
    return {
        "folder_images": {"train": len(train_all), "val": len(val_all)}, "images_written": written,
        "build_folder_s": round(build_s, 1), "streamed_images": streamed, "stream_s": round(stream_s, 1),
        "train_images": len(train), "val_images": len(val), "epochs": args.epochs, "train_s": round(train_s, 1),
        "baseline_val_accuracy": base, "threshold": max(base - args.drop, 0.0),
        "pruned_val_accuracy": info.validation_metric, "learnables": [info.original_learnables, info.learnables],
        "stop_reason": info.stop_reason.value, "prune_s": round(prune_s, 1),
        "stream_peak_rss_bytes": streaming.peak_rss, "stream_peak_pss_bytes": streaming.peak_pss,
        "peak_rss_bytes": memory.peak_rss, "peak_pss_bytes": memory.peak_pss,
        "decoded_train_folder_bytes_uint8": decoded, "decoded_train_folder_bytes_float32": 4 * decoded,
        "workers": args.workers,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tar", required=True, help="cifar10-jpeg.tar.gz (the shared CIFAR-10 JPEGs)")
    p.add_argument("--folder", required=True, help="where the 224-px image folder is written (outside the repo)")
    p.add_argument("--images", type=int, default=50000, help="training images in the folder (default 50000)")
    p.add_argument("--val-per-class", type=int, default=100, help="validation images per class (default 100)")
    p.add_argument("--train-images", type=int, default=2000, help="of them, trained and pruned on (default 2000)")
    p.add_argument("--val-images", type=int, default=500, help="validation images used (default 500)")
    p.add_argument("--no-stream-all", dest="stream_all", action="store_false",
                   help="skip the pass that reads every image of the folder once")
    p.add_argument("--workers", type=int, default=4, help="loader worker processes (default 4)")
    p.add_argument("--batch", type=int, default=32, help="mini-batch size (default 32)")
    p.add_argument("--epochs", type=int, default=2, help="training epochs before pruning (default 2)")
    p.add_argument("--fine-tune-epochs", type=int, default=1, help="per pruning iteration (default 1)")
    p.add_argument("--drop", type=float, default=5.0, help="accuracy floor: baseline minus this many points, at least 0 (default 5)")
    p.add_argument("--goal", type=float, default=0.3, help="learnables reduction goal (default 0.3)")
    p.add_argument("--increment", type=float, default=0.15, help="per iteration (default 0.15)")
    p.add_argument("--score-batches", type=int, default=4, help="mini-batches of Taylor scores (default 4)")
    add_run_args(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    write_result(arguments.out, run(arguments))
