"""Networks on disk, safe to load: safetensors weights plus a JSON manifest, never a pickle.

A pruned network's architecture differs from the class that defined it, so the manifest
records how to rebuild it: the base model spec (and its keyword arguments), then the
channel plans that ``graph.prune`` applies to it, in order. Loading rebuilds, prunes,
and loads the weights with every tensor shape checked.

Format 1: one ``.safetensors`` file whose header metadata key ``taylorprune`` holds the
JSON manifest: ``format`` (1), ``spec`` (model spec of the base, a ``package.module:factory``
for a user's own class), ``kwargs`` (its builder's keyword arguments), ``plans`` (list of
``{"group id": [channel indices removed]}``), ``input_shape`` ([C, H, W] of one example),
``sha256`` (of the weights, see ``weights_sha256``; files written before it existed load
without the check), ``taylorprune`` and ``torch`` (versions that wrote it), plus the caller's
``extra`` fields (``classes``, ``summary``, ...). Loading checks that the rebuilt network
accepts ``input_shape`` and that the weights match the checksum. Any damage is one InputError
line, never a traceback.

Loading runs no code the file names: only registered model names and torchvision classifiers,
with plain JSON keyword values, are rebuilt, unless the caller passes ``trust_code=True``
(``--trust-code``) for a file whose ``package.module:factory`` it trusts (see
``models.spec.untrusted_code``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from . import __version__, graph
from .errors import InputError, first_line
from .models import build_model, load_model, load_weights
from .models.spec import untrusted_code

MANIFEST_KEY = "taylorprune"
FORMAT_VERSION = 1
# Largest C*H*W accepted as input_shape: loading runs one example of it, so an edited
# [3, 50000, 50000] must fail in one line rather than allocate tens of GB. 3x4096x4096 fits.
MAX_INPUT_VALUES = 2**26
TRUST_HINT = "pass --trust-code (trust_code=True in Python) only if you trust this file"
TASK_SPEC = "task:"  # spec prefix of a network a task file built: "task:my_task.py"

Plan = Mapping[int, Sequence[int]]

# Manifest fields that loading relies on: their JSON types, and those in words for errors.
_FIELDS = {"format": (int, "an integer"), "spec": (str, "a string"), "kwargs": (dict, "an object"),
           "plans": (list, "a list"), "input_shape": (list, "a list")}


def save_network(
    net: nn.Module,
    path: str | Path,
    spec: str,
    *,
    kwargs: Mapping[str, Any] | None = None,
    plans: Sequence[Plan] = (),
    input_shape: Sequence[int] = (3, 32, 32),
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``net`` (built from ``spec`` then pruned by ``plans``) to one .safetensors file.

    ``input_shape`` is one example's (C, H, W).
    """
    path = Path(path)
    problem = _shape_problem(list(input_shape))
    if problem:
        raise InputError(f"{problem}; pass input_shape=(C, H, W) of one example, e.g. (3, 32, 32)")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    manifest = {
        "format": FORMAT_VERSION,
        "spec": spec,
        "kwargs": dict(kwargs or {}),
        "plans": [{str(g): [int(i) for i in ix] for g, ix in plan.items()} for plan in plans],
        "input_shape": list(input_shape),
        "sha256": weights_sha256(state),
        "taylorprune": __version__,
        "torch": torch.__version__,
        **dict(extra or {}),
    }
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={MANIFEST_KEY: json.dumps(manifest)}))


def weights_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over every tensor in name order: a line ``name dtype [shape]``, then its bytes
    (C order, little-endian as safetensors stores them). Hex digest."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name} {str(tensor.dtype).removeprefix('torch.')} {list(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)``, fsync, rename over ``path``: a crash never leaves a half-written file,
    and a failure (a full disk) leaves the previous version intact."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise InputError(f"could not write {path} ({err.strerror or err}); free disk space or choose "
                         "another folder (any previous version of the file is intact)") from None
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a taylorprune file, checked field by field (no tensor data is read)."""
    return _read_header(Path(path))[0]


def load_network(path: str | Path, *, trust_code: bool = False,
                 base: Callable[[], nn.Module] | None = None) -> nn.Module:
    """Rebuild the architecture a taylorprune file records and load its weights.

    The rebuilt network must accept the recorded input shape, and the weights must match the
    manifest's sha256 (when it has one: files written before it was recorded load unchecked).
    A manifest naming a ``package.module:factory`` (or keyword values other than plain JSON)
    is refused unless ``trust_code``: rebuilding it imports and calls that code. ``base``
    builds the unpruned architecture instead of the manifest's spec: a task file's
    ``network()``, which the user gave again (tasks.py); nothing the file names is run.
    """
    path = Path(path)
    manifest, shapes = _read_header(path)
    if base is None and manifest["spec"].startswith(TASK_SPEC):
        raise InputError(f"{path} holds a network built by task file {manifest['spec'][len(TASK_SPEC):]}; "
                         "pass --task with that file (its network() rebuilds the architecture)")
    problem = None if trust_code or base else untrusted_code(manifest["spec"], manifest["kwargs"],
                                                             source="the manifest")
    if problem:
        raise InputError(f"{path}: {problem}; {TRUST_HINT}")
    net = _rebuild(manifest, path, base)
    _check_shapes(net, shapes, path)
    state = _read_tensors(path)
    if "sha256" in manifest and weights_sha256(state) != manifest["sha256"]:
        raise _damaged(path, "its weights do not match the sha256 checksum in its manifest")
    net.load_state_dict(state)
    return net


def _read_header(path: Path) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """Manifest and stored tensor shapes, from the safetensors header alone."""
    if not path.is_file():
        raise InputError(f"{path} does not exist; check the path")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(MANIFEST_KEY)
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise _unreadable(path, err) from None
    if raw is None:
        raise InputError(f"{path} was not written by taylorprune; pass --model NAME --weights {path}")
    return _parse_manifest(raw, path), shapes


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as err:  # as in _read_header: the file changed or its data is cut short
        raise _unreadable(path, err) from None


def _unreadable(path: Path, err: Exception) -> InputError:
    return InputError(
        f"{path} is not a readable .safetensors file ({first_line(err)}): truncated, or another "
        "format such as a torch.save pickle renamed; write it again with save_network"
    )


def _parse_manifest(raw: str, path: Path) -> dict[str, Any]:
    """Type-check every field loading relies on, so a damaged manifest is one line, not a traceback."""
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as err:  # RecursionError: brackets nested too deep
        raise _damaged(path, f"its manifest is not JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise _damaged(path, "its manifest is not a JSON object")
    version = manifest.get("format")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise InputError(f"{path} has format {version}, newer than the {FORMAT_VERSION} this "
                         f"taylorprune {__version__} reads; upgrade taylorprune")
    for key, (kind, words) in _FIELDS.items():
        if type(manifest.get(key)) is not kind:  # exact type: JSON true is not a format number
            raise _damaged(path, f"manifest field {key!r} is missing or not {words}")
    problem = _shape_problem(manifest["input_shape"])
    if problem:
        raise _damaged(path, f"manifest {problem}")
    checksum = manifest.get("sha256")
    if checksum is not None and not (isinstance(checksum, str) and re.fullmatch("[0-9a-f]{64}", checksum)):
        raise _damaged(path, "manifest field 'sha256' is not 64 hexadecimal digits")
    for plan in manifest["plans"]:
        if not isinstance(plan, dict) or not all(
            g.isdigit() and isinstance(ix, list) and all(type(i) is int for i in ix)
            for g, ix in plan.items()
        ):
            raise _damaged(path, "a manifest plan is not a map of group ids to channel indices")
    return manifest


def _shape_problem(shape: list[Any]) -> str | None:
    """Why ``shape`` cannot be one example's (C, H, W), or None when it can."""
    if len(shape) != 3 or not all(type(n) is int and n > 0 for n in shape):
        return f"input_shape {shape} is not three positive sizes (C, H, W)"
    if math.prod(shape) > MAX_INPUT_VALUES:
        return f"input_shape {shape} has more than {MAX_INPUT_VALUES:,} values per example"
    return None


def _rebuild(manifest: dict[str, Any], path: Path, base: Callable[[], nn.Module] | None) -> nn.Module:
    """The base architecture with the manifest's plans applied: the network the weights fit."""
    with _rebuilding(manifest, path):
        net = base() if base is not None else build_model(manifest["spec"], **manifest["kwargs"])
    _check_accepts(net, manifest["input_shape"], path)
    example = (torch.zeros(1, *manifest["input_shape"]),)
    with _rebuilding(manifest, path):
        for plan in manifest["plans"]:
            net = graph.prune(net, example, {int(g): ix for g, ix in plan.items()})
    return net


@contextmanager
def _rebuilding(manifest: dict[str, Any], path: Path) -> Iterator[None]:
    """A builder's or the tracer's complaint as one line naming the file."""
    try:
        yield
    except InputError as err:
        raise InputError(f"{path}: cannot rebuild its network: {err}") from None
    except (TypeError, ValueError, RuntimeError) as err:  # a builder or the tracer rejects the values
        raise _damaged(path, f"{manifest['spec']!r} cannot be rebuilt from the manifest "
                             f"({first_line(err)})") from err


def _check_accepts(net: nn.Module, shape: list[int], path: Path) -> None:
    """One zero example through the base network: an edited input_shape fails here, in one line,
    before the plans are traced with it."""
    was_training = net.training
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, *shape))  # (1, C, H, W)
    except Exception as err:  # a wrong shape raises whatever the layer raises (RuntimeError, ...)
        raise _damaged(path, f"its network does not accept the manifest's input_shape {shape} "
                             f"({first_line(err)})") from err
    finally:
        net.train(was_training)


def _check_shapes(net: nn.Module, shapes: Mapping[str, tuple[int, ...]], path: Path) -> None:
    """Every tensor the rebuilt network has, with the shape the file stores, and no others."""
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    for name in sorted(own.keys() | shapes.keys()):
        if own.get(name) != shapes.get(name):
            raise _damaged(path, f"its manifest and weights disagree: {name} is "
                                 f"{shapes.get(name, 'absent')} in the weights, "
                                 f"{own.get(name, 'absent')} in the network the manifest describes")


def _damaged(path: Path, problem: str) -> InputError:
    return InputError(f"{path}: {problem}; the file was edited or damaged, write it again with "
                      "save_network")


def is_network_file(spec: str) -> bool:
    """Whether a --model value names a taylorprune .safetensors file rather than a spec."""
    return Path(spec).suffix == ".safetensors"


def resolve_network(spec: str, *, weights: str | None = None, pretrained: bool = False,
                    trust_checkpoint: bool = False, trust_code: bool = False, **kwargs: Any) -> nn.Module:
    """A model spec or a taylorprune file: what every CLI --model accepts.

    A spec is the caller's own (a factory spec is imported, as the caller asked); a file's
    manifest is rebuilt only as ``load_network(path, trust_code=trust_code)`` allows.
    """
    if is_network_file(spec):
        net = load_network(spec, trust_code=trust_code)
        return load_weights(net, weights, trust=trust_checkpoint) if weights else net
    if Path(spec).is_file():
        raise InputError(f"{spec} does not say which architecture it holds; "
                         f"pass the architecture and the file separately: --model NAME --weights {spec}")
    return load_model(spec, weights=weights, pretrained=pretrained, trust_checkpoint=trust_checkpoint, **kwargs)
