import pytest
import torch
from safetensors.torch import save_file

from taylorprune.errors import InputError
from taylorprune.models import create_model, load_model, load_weights, read_state_dict
from tests.fixtures import shared_file


def _net():
    return create_model("resnet20", width=0.25)


@pytest.mark.parametrize("wrap", ["plain", "nested", "dataparallel", "compiled"])
def test_wrapped_state_dicts_load(tmp_path, wrap):
    source = _net()
    state = source.state_dict()
    if wrap == "nested":
        state = {"state_dict": state, "best_prec1": 91.0, "epoch": 3}
    elif wrap == "dataparallel":
        state = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
    elif wrap == "compiled":
        state = {f"_orig_mod.{k}": v for k, v in state.items()}
    torch.save(state, tmp_path / "ck.th")
    target = load_weights(_net(), tmp_path / "ck.th")
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)


def test_safetensors_file_loads(tmp_path):
    source = _net()
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    assert set(read_state_dict(tmp_path / "w.safetensors")) == set(source.state_dict())


def test_mismatch_is_one_line_naming_the_key(tmp_path):
    torch.save(create_model("resnet20", width=0.5).state_dict(), tmp_path / "wide.pt")
    with pytest.raises(InputError) as err:
        load_weights(_net(), tmp_path / "wide.pt")
    message = str(err.value)
    assert "\n" not in message and "wrong shape" in message
    assert "bn1.bias is (8,) in the file, (4,) in the model" in message


def test_pickled_module_needs_trust(tmp_path):
    net = _net()
    torch.save({"model": net}, tmp_path / "whole.pt")  # a whole pickled module
    with pytest.raises(InputError, match="--trust-checkpoint"):
        read_state_dict(tmp_path / "whole.pt")
    assert set(read_state_dict(tmp_path / "whole.pt", trust=True)) == set(net.state_dict())


class _Exploit:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['EXPLOIT_MARK'], 'w').write('ran')",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    mark = tmp_path / "mark"
    monkeypatch.setenv("EXPLOIT_MARK", str(mark))
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Exploit()}, tmp_path / "evil.th")
    with pytest.raises(InputError, match="weights-only"):
        read_state_dict(tmp_path / "evil.th")
    assert not mark.exists()


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pt"):
        read_state_dict(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="does not exist"):
        read_state_dict(tmp_path / "absent.pt")


def test_akamaster_checkpoint_loads_into_resnet20():
    path = shared_file("models/akamaster-resnet20.th")
    net = load_model("resnet20", weights=path)
    raw = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    assert torch.equal(net.linear.weight, raw["module.linear.weight"])
