"""A seeded random subset of CIFAR-10 written in the official python format, for CPU-sized benchmarks.

    python benchmarks/cifar_subset.py --data ../shared/data/cifar10-jpeg.tar.gz --train 12000 --test 2000 \\
        --out /tmp/c10sub        # then --data /tmp/c10sub/cifar-10-batches-py

The full set's benchmarks (compare_matlab.py) take hours on a 2-core CPU; on a subset they
compare options in minutes, with the same loop, flags and result files. The images are
written as they were decoded (no second JPEG pass).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import torch

from taylorprune.data import ImageData, load_data

BATCHES = 5  # data_batch_1..5, as the official layout has


def dump(path: Path, data: ImageData) -> None:
    with open(path, "wb") as f:
        pickle.dump({b"data": data.images.reshape(len(data), -1).numpy(), b"labels": data.labels.tolist()}, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 in any format taylorprune reads")
    parser.add_argument("--train", type=int, default=12000, help="training images kept (validation is carved later)")
    parser.add_argument("--test", type=int, default=2000, help="test images kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder that gets cifar-10-batches-py/")
    args = parser.parse_args()
    train, test = load_data(args.data)
    g = torch.Generator().manual_seed(args.seed)
    keep_train = torch.randperm(len(train), generator=g)[: args.train]
    keep_test = torch.randperm(len(test), generator=g)[: args.test]
    out = Path(args.out) / "cifar-10-batches-py"
    out.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(keep_train.chunk(BATCHES), start=1):
        dump(out / f"data_batch_{i}", ImageData(train.images[part], train.labels[part], train.classes))
    dump(out / "test_batch", ImageData(test.images[keep_test], test.labels[keep_test], test.classes))
    with open(out / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in train.classes]}, f)
    print(f"wrote {out}: {len(keep_train)} training and {len(keep_test)} test images")


if __name__ == "__main__":
    main()
