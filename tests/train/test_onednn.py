"""Training pruned networks stays clear of oneDNN's strided 1x1 weight-gradient bug."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import taylorprune
from taylorprune.train import onednn
from taylorprune.train.onednn import affected, channel_block, onednn_safe_convolutions

REPO = Path(__file__).resolve().parents[2]
# The sources this test imports come first, so the subprocess runs the same code, not an installed copy.
PYTHONPATH = os.pathsep.join([str(Path(taylorprune.__file__).parents[1]), str(REPO)])
AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}

# Trains a pruned tiny ResNet (projection shortcuts: stride-2 1x1 convolutions on 3 and 6
# input channels) on 32x32 images with 1 and 2 threads, then checks the weight gradient of
# each such convolution, computed as training computes it, against an einsum (no oneDNN).
# Without the workaround training dies (SIGSEGV, glibc "double free or corruption") with 1
# thread, can spin forever with 2, and the gradients are wrong by 50% and more.
TRAIN_PRUNED = """
import copy, math, random, torch
from taylorprune import graph
from taylorprune.train import TrainingOptions, train_network
from taylorprune.train.augment import to_float
from taylorprune.train.onednn import onednn_safe_convolutions
from tests.fixtures import colour_blobs, tiny_resnet

net = tiny_resnet()
example = torch.zeros(1, 3, 32, 32)
cg = graph.trace_channels(net, (example,))
rng = random.Random(0)
net = graph.prune(net, (example,), {g.id: rng.sample(range(g.size), g.size // 3) for g in cg.prunable})
data = colour_blobs(64, size=32)
opts = TrainingOptions(max_epochs=2, mini_batch_size=32, initial_learn_rate=0.1, verbose=False,
                       execution_environment="cpu")
worst = 0.0
for threads in (1, 2):
    torch.set_num_threads(threads)
    tuned, info = train_network(copy.deepcopy(net), data, "crossentropy", opts)
    assert all(math.isfinite(r.loss) for r in info.training_history)
    tuned.zero_grad(set_to_none=True)  # training leaves its last gradients behind
    seen, strides = {}, {}
    for name, m in tuned.named_modules():
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1):
            strides[name] = m.stride
            m.register_forward_pre_hook(lambda m, a, name=name: seen.__setitem__(name, a[0].detach()))
            m.register_full_backward_hook(lambda m, gi, go, name=name: seen.__setitem__(name + "/dy", go[0]))
    x = to_float(data.images[:32])
    with onednn_safe_convolutions(tuned, torch.device("cpu")) as names:
        torch.nn.functional.cross_entropy(tuned(x), data.labels[:32]).backward()
    assert sorted(names) == sorted(strides) and len(names) == 2, names
    for name, (sh, sw) in strides.items():
        expected = torch.einsum("nohw,nihw->oi", seen[name + "/dy"], seen[name][:, :, ::sh, ::sw])
        weight = tuned.get_submodule(name).weight
        worst = max(worst, ((weight.grad.flatten(1) - expected).abs().max() / expected.abs().max()).item())
print(worst)
"""


def test_training_a_pruned_network_on_the_avx2_path():
    """In a subprocess, so a crash fails this test instead of ending pytest."""
    env = {**os.environ, **AVX2, "PYTHONPATH": PYTHONPATH}
    try:
        proc = subprocess.run([sys.executable, "-c", TRAIN_PRUNED], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("training on the AVX2 path hung (oneDNN's reducer spins when its workspace is overrun)")
    assert proc.returncode == 0, f"training on the AVX2 path died ({proc.returncode}): {proc.stderr[-2000:]}"
    # The same input and output gradient through two summation orders: float rounding only
    # (about 1e-7 relative); the faulty kernel is off by 0.5 and more.
    assert float(proc.stdout.split()[-1]) < 1e-4


def test_channel_block_follows_the_isa(monkeypatch):
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert channel_block() == 8
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    monkeypatch.setattr(torch.cpu, "_is_avx2_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_avx512_supported", lambda: False)
    assert channel_block() == 8  # a real AVX2 machine, no cap needed
    monkeypatch.setattr(torch.cpu, "_is_avx512_supported", lambda: True)
    assert channel_block() == 16
    monkeypatch.setattr(torch.cpu, "_is_avx2_supported", lambda: False)  # not x86: assume the wider block
    monkeypatch.setattr(torch.cpu, "_is_avx512_supported", lambda: False)
    assert channel_block() == 16


@pytest.mark.parametrize(("conv", "block", "hit"), [
    (nn.Conv2d(4, 8, 1, stride=2), 8, True),
    (nn.Conv2d(8, 8, 1, stride=2), 8, False),  # a whole block of input channels
    (nn.Conv2d(8, 8, 1, stride=2), 16, True),
    (nn.Conv2d(15, 32, 1, stride=(1, 2)), 16, True),
    (nn.Conv2d(4, 8, 1, stride=1), 16, False),  # unit stride: no workspace copy
    (nn.Conv2d(4, 8, 3, stride=2), 16, False),
    (nn.Conv2d(32, 32, 1, stride=2, groups=4), 16, True),  # 8 input channels per group
])
def test_affected_layers(conv, block, hit):
    assert affected(conv, block) is hit
    conv.weight.requires_grad_(False)
    assert not affected(conv, block)  # no weight gradient, no faulty kernel


def test_the_workaround_computes_the_same_and_leaves_the_network_as_it_was(monkeypatch):
    monkeypatch.setattr(onednn, "channel_block", lambda: 16)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 12, 1, stride=2), nn.Conv2d(12, 12, 1, stride=3),
                        nn.Conv2d(12, 20, 1, stride=2, padding=1, padding_mode="reflect"),
                        nn.Conv2d(20, 8, 1, stride=2, padding=2)).to(memory_format=torch.channels_last)
    x = torch.rand(4, 3, 17, 17).contiguous(memory_format=torch.channels_last)

    def run():
        net.zero_grad()
        out = net(x)
        out.square().sum().backward()
        return out, [p.grad.clone() for p in net.parameters()]

    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # the reference: no oneDNN at all
    try:
        expected, expected_grads = run()
    finally:
        torch.backends.mkldnn.enabled = was
    with onednn_safe_convolutions(net, torch.device("cpu")) as names:
        assert names == ["1", "2", "3"]  # 20 input channels: a whole block
        assert net[1].stride == (1, 1)
        out, grads = run()
    # Different kernels: float summation order only.
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    for grad, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-5)
    assert [(m.stride, m.padding, m.padding_mode) for m in net[1:4]] == [
        ((2, 2), (0, 0), "zeros"), ((3, 3), (0, 0), "zeros"), ((2, 2), (1, 1), "reflect")]
    assert all(not m._forward_pre_hooks for m in net.modules())
    with onednn_safe_convolutions(net, torch.device("meta")) as names:
        assert names == []  # CUDA and other devices use other kernels
