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
    weights_sha256,
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
    ("factory", r"names the builder 'nosuch\.mod:make', code loading would import and run; pass --trust-code"),
    ("missing field", r"manifest field 'plans' is missing or not a list"),
    ("bad plan", r"plan names group 99"),
    ("bad kwargs", r"'resnet20' cannot be rebuilt from the manifest \(.*unexpected keyword"),
    ("bad checksum", r"manifest field 'sha256' is not 64 hexadecimal digits"),
    ("2-d shape", r"manifest input_shape \[3, 32\] is not three positive sizes \(C, H, W\)"),
    ("zero size", r"manifest input_shape \[3, 0, 32\] is not three positive sizes"),
    ("huge shape", r"manifest input_shape \[3, 50000, 50000\] has more than 67,108,864 values"),
    ("wrong channels", r"does not accept the manifest's input_shape \[4, 32, 32\] \(.*must match"),
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
        "bad checksum": lambda m: m.update(sha256="not a digest"),
        "2-d shape": lambda m: m.update(input_shape=[3, 32]),
        "zero size": lambda m: m.update(input_shape=[3, 0, 32]),
        "huge shape": lambda m: m.update(input_shape=[3, 50000, 50000]),
        "wrong channels": lambda m: m.update(input_shape=[4, 32, 32]),
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



def test_manifest_holds_the_weights_checksum(saved):
    path = saved[0]
    assert read_manifest(path)["sha256"] == weights_sha256(load_file(str(path)))


def test_a_flipped_byte_in_the_weights_is_caught(saved, tmp_path):
    data = bytearray(saved[0].read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")  # safetensors: u64 header length, header, tensors
    data[(start + len(data)) // 2] ^= 0x01  # one bit in the middle of the tensor data
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"weights do not match the sha256 checksum in its manifest; "
                                         r"the file was edited or damaged") as err:
        load_network(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_files_written_before_the_checksum_still_load(saved, tmp_path):
    path, x, y = saved
    old = _rewrite(path, tmp_path / "old.safetensors", lambda m: m.pop("sha256"))
    with torch.no_grad():
        assert torch.equal(load_network(old).eval()(x), y)


def test_checksum_covers_names_shapes_and_bytes():
    a = {"w": torch.zeros(2, 3), "b": torch.ones(2)}
    assert weights_sha256(a) == weights_sha256(dict(reversed(a.items())))  # name order, not dict order
    assert weights_sha256(a) != weights_sha256({"w": torch.zeros(3, 2), "b": torch.ones(2)})
    assert weights_sha256(a) != weights_sha256({"v": torch.zeros(2, 3), "b": torch.ones(2)})
    assert weights_sha256(a) != weights_sha256({"w": torch.zeros(2, 3), "b": torch.tensor([1.0, 2.0])})


@pytest.mark.parametrize("shape", [(32, 32), (3, 0, 32), (1, 3, 32, 32)])
def test_saving_refuses_an_input_shape_that_is_not_c_h_w(tmp_path, shape):
    net = load_model("resnet20", width=0.25)
    with pytest.raises(InputError, match=r"is not three positive sizes \(C, H, W\); pass input_shape="):
        save_network(net, tmp_path / "x.safetensors", "resnet20", kwargs={"width": 0.25}, input_shape=shape)
    assert not (tmp_path / "x.safetensors").exists()

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


def _hostile(saved_path: Path, dst: Path, spec: str, **kwargs) -> Path:
    return _rewrite(saved_path, dst, lambda m: m.update(spec=spec, kwargs=kwargs))


@pytest.mark.parametrize(("spec", "kwargs"), [
    ("os:system", {"command": "touch {marker}"}),
    ("subprocess:check_call", {"args": ["touch", "{marker}"]}),
    ("builtins:open", {"file": "{marker}", "mode": "w"}),
])
def test_a_manifest_naming_code_runs_none_of_it(saved, tmp_path, spec, kwargs):
    """The manifest's spec is never imported or called unless the caller trusts the file."""
    marker = tmp_path / "code-ran"
    filled = {k: [a.format(marker=marker) for a in v] if isinstance(v, list) else v.format(marker=marker)
              for k, v in kwargs.items()}
    bad = _hostile(saved[0], tmp_path / "evil.safetensors", spec, **filled)
    for load in (load_network, resolve_network):
        with pytest.raises(InputError, match=r"--trust-code \(trust_code=True in Python\)") as err:
            load(str(bad))
        assert "\n" not in str(err.value) and str(bad) in str(err.value) and repr(spec) in str(err.value)
    assert not marker.exists()


def test_trust_code_rebuilds_a_users_factory(saved, tmp_path):
    net = load_model("tests.fixtures:tiny_resnet")
    path = save_network(net, tmp_path / "own.safetensors", "tests.fixtures:tiny_resnet", input_shape=(3, 8, 8))
    with pytest.raises(InputError, match="--trust-code"):
        load_network(path)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_network(path, trust_code=True).eval()(x), net.eval()(x))
        assert torch.equal(resolve_network(str(path), trust_code=True).eval()(x), net.eval()(x))
    missing = _hostile(path, tmp_path / "gone.safetensors", "nosuch.mod:make")
    with pytest.raises(InputError, match=r"cannot import factory 'nosuch\.mod:make' .*PYTHONPATH"):
        load_network(missing, trust_code=True)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"width": {"__class__": "os:system"}}, r"keyword 'width' of the manifest is \{.*\}, not a plain JSON value"),
    ({"width": [0.25, {"a": 1}]}, r"keyword 'width' of the manifest is \[.*\], not a plain JSON value"),
])
def test_builtin_specs_take_plain_json_keywords_only(saved, tmp_path, kwargs, expected):
    bad = _rewrite(saved[0], tmp_path / "bad.safetensors", lambda m: m.update(kwargs=kwargs))
    with pytest.raises(InputError, match=expected) as err:
        load_network(bad)
    assert "--trust-code" in str(err.value) and "\n" not in str(err.value)


def test_a_torchvision_classifier_rebuilds_without_trust(tmp_path):
    net = load_model("torchvision:squeezenet1_1", num_classes=3).eval()
    path = save_network(net, tmp_path / "tv.safetensors", "torchvision:squeezenet1_1", kwargs={"num_classes": 3},
                        input_shape=(3, 64, 64))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(load_network(path).eval()(x), net(x))
    detector = _rewrite(path, tmp_path / "det.safetensors", lambda m: m.update(spec="torchvision:fasterrcnn_resnet50_fpn"))
    with pytest.raises(InputError, match="torchvision has no classification model 'fasterrcnn_resnet50_fpn'"):
        load_network(detector)


def test_a_manifest_nested_too_deep_is_one_line(saved, tmp_path):
    bad = tmp_path / "deep.safetensors"
    save_file(load_file(str(saved[0])), str(bad), metadata={MANIFEST_KEY: "[" * 100_000 + "]" * 100_000})
    with pytest.raises(InputError, match="its manifest is not JSON"):
        load_network(bad)
