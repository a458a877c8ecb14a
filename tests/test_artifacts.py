"""Artifacts: a pruned network survives a fresh process bit for bit; damage is one clear line."""

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from taylorprune import graph
from taylorprune.artifacts import (
    MANIFEST_KEY,
    load_network,
    read_manifest,
    resolve_network,
    save_network,
)
from taylorprune.errors import InputError
from taylorprune.models import load_model

ROOT = Path(__file__).resolve().parents[1]

# Loads the artifact in a new interpreter and writes its outputs on the saved inputs.
_RELOAD = """
import sys, torch
from safetensors.torch import load_file, save_file
from taylorprune import load_network
net = load_network(sys.argv[1]).eval()
x = load_file(sys.argv[2])["x"]
with torch.no_grad():
    save_file({"y": net(x)}, sys.argv[3])
"""


def random_plan(net: torch.nn.Module, x: torch.Tensor, seed: int) -> dict[int, list[int]]:
    """Remove a random subset (possibly empty, never all) of every prunable group."""
    rng = random.Random(seed)
    cg = graph.trace_channels(net, (x,))
    return {g.id: rng.sample(range(g.size), rng.randrange(g.size)) for g in cg.prunable}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """resnet20 at quarter width, pruned twice by random plans, saved; with its inputs and outputs."""
    torch.manual_seed(0)
    net = load_model("resnet20", width=0.25).eval()
    x = torch.rand(4, 3, 32, 32)
    plans = []
    for seed in (1, 2):
        plans.append(random_plan(net, x, seed))
        net = graph.prune(net, (x,), plans[-1])
    for m in net.modules():  # non-trivial BN statistics, so a dropped buffer would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("artifact") / "net.safetensors"
    save_network(net, path, "resnet20", kwargs={"width": 0.25}, plans=plans,
                 extra={"classes": [str(i) for i in range(10)]})
    with torch.no_grad():
        y = net(x)
    return path, x, y


def test_round_trip_in_a_fresh_process_is_bit_exact(saved, tmp_path):
    path, x, y = saved
    save_file({"x": x}, str(tmp_path / "x.safetensors"))
    out = tmp_path / "y.safetensors"
    done = subprocess.run([sys.executable, "-c", _RELOAD, str(path), str(tmp_path / "x.safetensors"),
                           str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert torch.equal(load_file(str(out))["y"], y)


def test_manifest_records_how_to_rebuild(saved):
    path, _, _ = saved
    manifest = read_manifest(path)
    assert manifest["format"] == 1
    assert (manifest["spec"], manifest["kwargs"], manifest["input_shape"]) == ("resnet20", {"width": 0.25},
                                                                               [3, 32, 32])
    assert len(manifest["plans"]) == 2 and manifest["classes"][0] == "0"
    assert manifest["torch"] == torch.__version__


def test_resolve_network_accepts_an_artifact(saved):
    path, x, y = saved
    with torch.no_grad():
        assert torch.equal(resolve_network(str(path)).eval()(x), y)


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """Copy an artifact with its manifest changed by ``edit`` (a function of the dict)."""
    manifest = read_manifest(src)
    edit(manifest)
    save_file(load_file(str(src)), str(dst), metadata={MANIFEST_KEY: json.dumps(manifest)})
    return dst


def _first_plan_drops_one_index_less(m: dict) -> None:
    plan = m["plans"][0]
    group = next(g for g, ix in plan.items() if ix)
    plan[group] = plan[group][1:]


def _pickle_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save(load_model("resnet20", width=0.25).state_dict(), buf)
    return buf.getvalue()


@pytest.mark.parametrize(("damage", "expected"), [
    ("shape", r"manifest and weights disagree: \S+ is \(\d+.*\) in the weights, \(\d+.*\) in the network"),
    ("width", r"manifest and weights disagree"),
    ("future", r"has format 7, newer than the 1 this taylorprune .* reads; upgrade taylorprune"),
    ("truncated", r"not a readable \.safetensors file .*truncated"),
    ("pickle", r"not a readable \.safetensors file .*pickle renamed"),
    ("factory", r"cannot import factory 'nosuch\.mod:make' .*PYTHONPATH"),
    ("missing field", r"manifest field 'plans' is missing or not a list"),
    ("bad plan", r"plan names group 99"),
    ("bad kwargs", r"'resnet20' cannot be rebuilt from the manifest \(.*unexpected keyword"),
])
def test_damaged_artifacts_give_one_clear_line(saved, tmp_path, damage, expected):
    path = saved[0]
    bad = tmp_path / "bad.safetensors"
    edits = {
        "shape": _first_plan_drops_one_index_less,
        "width": lambda m: m["kwargs"].update(width=0.5),
        "future": lambda m: m.update(format=7),
        "factory": lambda m: m.update(spec="nosuch.mod:make"),
        "missing field": lambda m: m.pop("plans"),
        "bad plan": lambda m: m["plans"][0].update({"99": [0]}),
        "bad kwargs": lambda m: m["kwargs"].update(colour=3),
    }
    if damage in edits:
        _rewrite(path, bad, edits[damage])
    elif damage == "truncated":
        bad.write_bytes(path.read_bytes()[:-100])
    else:
        bad.write_bytes(_pickle_bytes())
    with pytest.raises(InputError, match=expected) as err:
        load_network(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_missing_artifact_names_the_path(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        resolve_network(str(tmp_path / "nowhere.safetensors"))


def test_plain_safetensors_weights_point_to_weights_flag(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file(load_model("resnet20", width=0.25).state_dict(), str(path))
    with pytest.raises(InputError, match="not written by taylorprune; pass --model NAME --weights"):
        resolve_network(str(path))


def test_loading_never_unpickles(saved, monkeypatch):
    """torch.load and pickle are never reached: the file's bytes can run no code."""
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    load_network(saved[0])
