"""Fine-tuning throughput of cifarnet under torchrun: compare --nproc_per_node 1 and N.

    torchrun --standalone --nproc_per_node=1 benchmarks/ddp_speed.py
    torchrun --standalone --nproc_per_node=2 benchmarks/ddp_speed.py

train_network on a synthetic uint8 set (augmented, global mini-batch 128, no validation);
rank 0 prints one JSON line with the global training images/s.
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from taylorprune import distributed
from taylorprune.data import ImageData
from taylorprune.models import load_model
from taylorprune.train import TrainingOptions, train_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    distributed.init_from_environment()
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (args.images,), generator=g), tuple(str(i) for i in range(10)))
    opts = TrainingOptions(max_epochs=args.epochs, mini_batch_size=args.batch_size, verbose=False,
                           precision=args.precision, initial_learn_rate=0.01)
    _, info = train_network(load_model("cifarnet"), data, "crossentropy", opts)
    if distributed.is_main():
        print(json.dumps({"processes": distributed.world_size(), "threads_per_process": torch.get_num_threads(),
                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "batch": args.batch_size,
                          "precision": args.precision, "device": "cuda" if torch.cuda.is_available() else "cpu",
                          "training_images_per_s": round(info.images_per_second, 1)}))
    distributed.finish()


if __name__ == "__main__":
    main()
