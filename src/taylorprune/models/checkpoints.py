"""Read foreign checkpoints without unpickling code, and fit them to a model.

Accepts plain state dicts, dicts that hold one under ``state_dict`` / ``model`` /
``model_state_dict``, DataParallel/DDP ``module.`` prefixes, ``_orig_mod.`` prefixes
from torch.compile, and safetensors files.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..errors import InputError, first_line

_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net")
_PREFIXES = ("module.", "_orig_mod.")


def read_state_dict(path: str | Path, *, trust: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, keys cleaned of wrapper prefixes.

    Pickled checkpoints load with ``weights_only=True`` (tensors and plain containers only);
    ``trust=True`` allows full unpickling, which runs whatever code the file holds.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist; check the path")
    if path.suffix == ".safetensors":
        return clean_state_dict(load_file(str(path)))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        first = first_line(err)
        raise InputError(
            f"{path} is not a readable weights-only PyTorch checkpoint ({first}); "
            "save a state_dict (torch.save(model.state_dict(), path)) or use safetensors, "
            "or pass --trust-checkpoint if you trust the file's code"
        ) from None
    return clean_state_dict(_find_state_dict(obj, path))


def _find_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):  # a whole pickled model (only reachable with trust=True)
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in _NESTED_KEYS:
            if isinstance(obj.get(key), (dict, nn.Module)):
                return _find_state_dict(obj[key], path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise InputError(f"{path} holds no state dict (no tensors found); save model.state_dict()")


def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip prefixes that wrappers (DataParallel, DDP, torch.compile) add to every key."""
    for prefix in _PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_weights(model: nn.Module, path: str | Path, *, trust: bool = False) -> nn.Module:
    """Load a checkpoint into ``model`` in place; a mismatch is one line naming what differs."""
    state = read_state_dict(path, trust=trust)
    own = model.state_dict()
    if not set(state) & set(own):
        # A model wrapped for input normalisation keeps the user's network under ``net.``.
        prefixed = {f"net.{k}": v for k, v in state.items()}
        if set(prefixed) & set(own):
            state = prefixed
    # Checkpoints from PyTorch < 0.4.1 have no BN batch counters; they only matter for momentum=None.
    for key in own:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(own[key])
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} tensors missing from the file (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} tensors the model lacks (first: {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} tensors of the wrong shape (first: {k} is {tuple(state[k].shape)} "
                f"in the file, {tuple(own[k].shape)} in the model)"
            )
        raise InputError(
            f"{path} does not fit the model: {'; '.join(parts)}; "
            "check that --model names the architecture the checkpoint was trained with"
        )
    model.load_state_dict(state)
    return model
