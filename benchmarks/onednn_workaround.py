"""What the oneDNN workaround costs: CPU training images/s of a pruned cifarnet, with and without it.

    python benchmarks/onednn_workaround.py [--pairs 12] [--steps 2]

train/onednn.py runs the strided 1x1 convolutions whose weight gradient oneDNN gets wrong (fewer
input channels than its vector block: 8 with AVX2, 16 with AVX-512) with stride 1 on a subsampled
input while training. This measures what
that costs on cifarnet (ResNet-20, projection shortcuts) with a seeded random 30% and 60% of
every prunable group's channels removed by graph.prune, for the native ISA and for oneDNN
capped at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2, set before torch starts), in
one worker process per ISA, part and network:

- network: train_network (the fine-tuning recipe, fp32, batch 128, --steps mini-batches of random
  32x32 images per call) alternately with the workaround as shipped and without it (its context
  replaced by a no-op), A/B then B/A, --pairs times after one untimed pair; images/s is
  train_network's own figure (training steps only). Where the workaround touches no layer the
  two are the same code: that row is the noise floor.
- layers: each layer the workaround touches, alone, forward and backward (weight and input
  gradients) at batch 128 on the input it sees in the network, with and without, alternated
  50 x --pairs times; its extra milliseconds (from the minima, the least load-bent figure, and
  from the medians) next to a training step (128 / images/s).

Without the workaround the faulty kernel computes wrong weight gradients and may corrupt the
heap: the "without" figures are a speed reference, not a usable training, and a worker can die.
Writes benchmarks/results/onednn_workaround.json (command, commit, versions, CPU and flags, load).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from provenance import provenance

RESULTS = Path(__file__).parent / "results" / "onednn_workaround.json"
ISAS = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}
FRACTIONS = (0.3, 0.6)  # share of every prunable group's channels removed
BATCH = 128  # the fine-tuning mini-batch
ROUNDS_PER_PAIR = 50  # single-layer timings are short: many more rounds than network pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=12, help="A/B pairs per network and ISA (default 12)")
    parser.add_argument("--steps", type=int, default=2, help="mini-batches per timed call (default 2)")
    parser.add_argument("--worker-timeout", type=float, default=600,
                        help="seconds before a worker counts as hung (default 600): without the workaround "
                             "the faulty AVX2 kernel can corrupt the heap and spin")
    parser.add_argument("--worker", nargs=3, metavar=("ISA", "PART", "FRACTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        part = _network if args.worker[1] == "network" else _layers
        print(json.dumps(part(float(args.worker[2]), args.pairs, args.steps)))
        return
    from taylorprune.benchmark.machine import describe_machine

    result = {"provenance": provenance(seed=0), "pairs": args.pairs, "steps": args.steps, "batch": BATCH,
              "cpu_flags": _cpu_flags(),  # the provenance block describes the rest of the machine
              "note": "machine shared with other jobs: A/B interleaved in one process per ISA, part and "
                      "network; read the paired ratios and their spread, not absolute images/s",
              "isas": {}}
    for isa, env in ISAS.items():
        for part in ("network", "layers"):
            for fraction in FRACTIONS:
                # One process each: the faulty kernel ("without") can corrupt its process's heap.
                command = [sys.executable, __file__, "--worker", isa, part, str(fraction),
                           "--pairs", str(args.pairs), "--steps", str(args.steps)]
                row = _run_worker(command, {**os.environ, **env}, args.worker_timeout)
                result["isas"].setdefault(isa, {}).setdefault(part, {})[f"{round(fraction * 100)}% removed"] = row
                print(isa, part, fraction, json.dumps(row), flush=True)
                result["load_average_end"] = describe_machine()["load_average"]
                RESULTS.write_text(json.dumps(result, indent=1) + "\n")  # kept current: a long run may be cut



def _run_worker(command: list[str], env: dict[str, str], timeout: float) -> dict:
    """One worker's JSON row, or why there is none (exit status, or hung past ``timeout``)."""
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"worker hung: killed after {timeout:.0f} s"}
    if proc.returncode:
        return {"error": f"worker exited with {proc.returncode}", "stderr": proc.stderr[-2000:]}
    return json.loads(proc.stdout.splitlines()[-1])

def _network(fraction: float, pairs: int, steps: int) -> dict:
    """In this process (its ISA fixed by the environment): images/s with and without the workaround."""
    import taylorprune.train.loop as loop
    from taylorprune.data import ImageData
    from taylorprune.prune import default_fine_tuning_options
    from taylorprune.train import onednn, train_network

    shipped = loop.onednn_safe_convolutions
    variants = {"with": shipped, "without": lambda net, device: contextlib.nullcontext([])}
    g = torch.Generator().manual_seed(0)
    n = BATCH * steps
    data = ImageData(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (n,), generator=g), tuple(str(i) for i in range(10)))
    opts = default_fine_tuning_options(max_epochs=1, verbose=False, execution_environment="cpu",
                                       output_network="last-iteration", precision="fp32")
    net = _pruned_cifarnet(fraction)
    rates: dict[str, list[float]] = {"with": [], "without": []}
    for k in range(pairs + 1):
        for name in (("with", "without") if k % 2 == 0 else ("without", "with")):
            loop.onednn_safe_convolutions = variants[name]
            _, info = train_network(copy.deepcopy(net), data, "crossentropy", opts)
            if k:  # the first pair is the untimed warm-up (primitive creation)
                rates[name].append(info.images_per_second)
    loop.onednn_safe_convolutions = shipped
    ratios = [a / b for a, b in zip(rates["with"], rates["without"], strict=True)]
    return {**_isa(onednn), "learnables": sum(p.numel() for p in net.parameters()),
            "touched_layers": _touched_layers(net),
            **{f"{name}_images_per_s": _summary(r) for name, r in rates.items()},
            "with_over_without": _summary(ratios)}


def _layers(fraction: float, pairs: int, steps: int) -> dict:
    """Forward and backward of each layer the workaround touches, alone, with and without it."""
    from taylorprune.train import onednn

    net = _pruned_cifarnet(fraction).to(memory_format=torch.channels_last)
    inputs = {}
    hooks = [net.get_submodule(name).register_forward_hook(
        lambda m, a, o, name=name: inputs.__setitem__(name, a[0].detach())) for name in _touched_layers(net)]
    with torch.no_grad():
        net(torch.rand(BATCH, 3, 32, 32).contiguous(memory_format=torch.channels_last))
    for h in hooks:
        h.remove()
    rows = {}
    for name, x in inputs.items():
        conv, x = copy.deepcopy(net.get_submodule(name)), x.requires_grad_()  # both gradients, as in training
        ms: dict[str, list[float]] = {"with": [], "without": []}
        for k in range(ROUNDS_PER_PAIR * pairs + 1):
            for variant in (("with", "without") if k % 2 == 0 else ("without", "with")):
                guard = onednn.onednn_safe_convolutions(conv, torch.device("cpu")) if variant == "with" \
                    else contextlib.nullcontext([])
                with guard:
                    start = time.perf_counter()
                    conv(x).sum().backward()
                    if k:
                        ms[variant].append((time.perf_counter() - start) * 1e3)
        rows[name] = {"input": list(x.shape), **{f"{v}_ms": _summary(t, keep=False) for v, t in ms.items()},
                      "extra_ms_of_minima": round(min(ms["with"]) - min(ms["without"]), 3),
                      "extra_ms_of_medians": round(statistics.median(ms["with"]) - statistics.median(ms["without"]), 3)}
    return {**_isa(onednn), "layers": rows}


def _isa(onednn) -> dict:
    import resource

    return {"capability": torch.backends.cpu.get_cpu_capability(), "channel_block": onednn.channel_block(),
            "threads": torch.get_num_threads(),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _touched_layers(net: torch.nn.Module) -> list[str]:
    from taylorprune.train import onednn

    with onednn.onednn_safe_convolutions(copy.deepcopy(net), torch.device("cpu")) as names:
        return names


def _pruned_cifarnet(fraction: float) -> torch.nn.Module:
    from taylorprune import graph
    from taylorprune.models import load_model

    net = load_model("cifarnet")
    example = torch.zeros(1, 3, 32, 32)
    rng = random.Random(0)
    cg = graph.trace_channels(net, (example,))
    return graph.prune(net, (example,), {g.id: rng.sample(range(g.size), round(fraction * g.size))
                                         for g in cg.prunable})


def _summary(values: list[float], keep: bool = True) -> dict:
    """Median, quartiles and extremes (and every value, when ``keep``)."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    out = {"median": round(statistics.median(values), 3), "q1": round(q[0], 3), "q3": round(q[2], 3),
           "min": round(min(values), 3), "max": round(max(values), 3), "n": len(values)}
    return {**out, "all": [round(v, 3) for v in values]} if keep else out


def _cpu_flags() -> list[str]:
    """The CPU's vector flags (avx*, fma, f16c): what decides oneDNN's kernels."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return []
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return sorted(f for f in line.split(":", 1)[1].split() if f.startswith(("avx", "fma", "f16c", "amx")))
    return []


if __name__ == "__main__":
    main()
