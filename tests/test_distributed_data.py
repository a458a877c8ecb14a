"""A Dataset under torchrun (2 CPU processes, gloo): each rank reads its share, metrics are synced."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ["-m", "tests.distributed_dataset"]


def _run(out: Path, ranks: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1",
           "TAYLORPRUNE_COLLECTIVE_TIMEOUT": "60"}
    launch = [sys.executable] if ranks == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                  f"--nproc_per_node={ranks}"]
    out.mkdir()
    run = subprocess.run([*launch, *SCRIPT, str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stderr[-8000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(ranks)]


def test_two_ranks_share_a_dataset_and_agree_on_every_metric(tmp_path):
    (one,) = _run(tmp_path / "one", 1)
    two = _run(tmp_path / "two", 2)
    # Evaluation: each rank reads its half of the 30 examples; the synced figures are the whole set's.
    assert [r["val_reads_before"] for r in two] == [15, 15]
    for rank in two:
        assert rank["before"] == pytest.approx(one["before"], rel=1e-5)
        assert rank["validation"] == two[0]["validation"]  # every rank records the same figures
        assert rank["weights"] == two[0]["weights"]  # DDP kept the ranks' networks identical
    # Training: 2 epochs of 4 global batches of 16, each rank loading 8 of every batch.
    assert one["train_reads"] - 2 == 2 * 64 and all(r["train_reads"] - 2 == 64 for r in two)
    assert set(two[0]["validation"][-1]) == {"loss", "accuracy", "MulticlassF1Score", "confidence"}
    # Leaving the group freed it: no gloo thread is left to be torn down during interpreter exit.
    assert [r["threads_after_finish"] for r in two] == [[], []]
