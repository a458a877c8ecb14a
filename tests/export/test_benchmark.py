"""Benchmark: timing protocol, MACs from taylorprune.analysis, ratios and their rendering."""

import pytest
import torch

from taylorprune.benchmark import (
    BenchmarkOptions,
    compare_networks,
    count_network_macs,
    measure,
    measure_interleaved,
)
from taylorprune.errors import InputError
from taylorprune.models import load_model
from taylorprune.report.benchmark import benchmark_lines


def test_measure_warms_up_then_takes_the_median():
    calls = []
    ticks = iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # three timed calls: 3 s, 1 s, 2 s
    latency = measure(lambda: calls.append(1), warmup=2, repeats=3, clock=lambda: next(ticks))
    assert len(calls) == 5
    assert (latency.median_s, latency.min_s, latency.max_s, latency.repeats) == (2.0, 1.0, 3.0, 3)


def test_interleaved_timing_alternates_the_calls():
    order = []
    latencies = measure_interleaved([lambda: order.append("a"), lambda: order.append("b")],
                                    warmup=1, repeats=3)
    assert order == ["a", "b"] + ["a", "b"] * 3  # warm-up each, then alternating rounds
    assert [lat.repeats for lat in latencies] == [3, 3]


def test_macs_of_a_plain_conv_net():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 4 * 4, 10))
    assert count_network_macs(net, (3, 4, 4)) == 8 * 16 * 27 + 128 * 10


@pytest.mark.parametrize("bad", [dict(runtimes=("tensorrt",)), dict(batch_sizes=(0,)), dict(repeats=0),
                                 dict(runtimes=())])
def test_bad_options_are_one_line(bad):
    with pytest.raises(InputError):
        BenchmarkOptions(**bad)


def test_comparison_against_a_wider_baseline(pruned):
    net, _ = pruned
    options = BenchmarkOptions(batch_sizes=(1, 4), runtimes=("pytorch",), warmup=1, repeats=2)
    c = compare_networks(net, (3, 32, 32), options, baseline=load_model("resnet20", width=0.25),
                         names=("pruned", "base"))
    assert 0 < c.mac_ratio < 0.5  # half of every group's channels gone: ~1/4 of the conv MACs
    assert c.model.macs == count_network_macs(net, (3, 32, 32))
    assert [(t.runtime, t.batch) for t in c.model.timings] == [("pytorch", 1), ("pytorch", 4)]
    t = c.model.timing("pytorch", 4)
    assert t.images_per_s == pytest.approx(4 / t.latency.median_s)
    assert c.time_ratio("pytorch", 4) == pytest.approx(
        t.latency.median_s / c.baseline.timing("pytorch", 4).latency.median_s)
    data = c.to_dict()
    assert {r["batch"] for r in data["ratios"]} == {1, 4}
    assert {"cpu", "cores", "torch", "load_average", "load_average_after"} <= set(data["machine"])
    lines = benchmark_lines(c)
    assert lines[0].startswith("model: pruned (") and lines[1].startswith("baseline: base (")
    assert "time ratio" in lines[3] and "MAC ratio" in lines[3]
    assert lines[4].split()[:2] == ["pytorch", "1"] and lines[5].split()[:2] == ["pytorch", "4"]


def test_without_baseline_there_are_no_ratios(pruned):
    options = BenchmarkOptions(batch_sizes=(2,), runtimes=("pytorch",), warmup=0, repeats=1)
    c = compare_networks(pruned[0], (3, 32, 32), options)
    assert c.mac_ratio is None and c.time_ratio("pytorch", 2) is None and c.to_dict()["ratios"] == []
    assert "time ratio" not in benchmark_lines(c)[1]
