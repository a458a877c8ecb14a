"""Run by tests/test_distributed_data.py under torchrun (and once without): a Dataset route, synced metrics.

Writes OUT/rank<R>.json with what this rank saw and the figures it got.
"""

import json
import sys
from pathlib import Path

import torch
import torchmetrics

from taylorprune import distributed
from taylorprune.train import MetricFunction, TrainingOptions, evaluate, train_network
from tests.custom_data import blob_pairs
from tests.train.test_loop import tiny_net


def main(out: Path) -> None:
    distributed.init_from_environment()
    torch.set_num_threads(1)
    train, val = blob_pairs(64), blob_pairs(30, seed=5)
    metrics = ["accuracy", torchmetrics.classification.MulticlassF1Score(3, average="macro"),
               MetricFunction(lambda out, y: out.softmax(1).amax(1), higher_is_better=True, name="confidence")]
    before = evaluate(tiny_net(), val, metrics=metrics, mini_batch_size=7)
    reads_before = val.reads
    opts = TrainingOptions(max_epochs=2, mini_batch_size=16, initial_learn_rate=0.05, validation_data=val,
                           validation_frequency=4, metrics=metrics, objective_metric_name="accuracy",
                           verbose=False, execution_environment="cpu")
    net, info = train_network(tiny_net(), train, "crossentropy", opts)
    result = {"before": before, "val_reads_before": reads_before, "train_reads": train.reads,
              "validation": [r.metrics for r in info.validation_history],
              "weights": [float(p.double().sum()) for p in net.parameters()]}
    rank = distributed.rank()
    distributed.finish()
    result["threads_after_finish"] = _group_threads()
    (out / f"rank{rank}.json").write_text(json.dumps(result))


def _group_threads() -> list[str]:
    """Names of this process's threads that belong to a process group (gloo's, the store's)."""
    tasks = Path("/proc/self/task")
    names = [(t / "comm").read_text().strip() for t in tasks.iterdir()] if tasks.exists() else []
    return sorted(n for n in names if "gloo" in n or "tcpstore" in n)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
