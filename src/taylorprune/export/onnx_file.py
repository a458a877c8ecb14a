"""Write a network to one self-contained ONNX file with a dynamic batch axis."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, first_line
from .runtime import onnx_session, require

OPSET = 18  # the torch.export-based exporter's lowest; onnxruntime >= 1.14 runs it
INPUT_NAME, OUTPUT_NAME = "images", "logits"
BATCH = "batch"  # name of the symbolic first axis of input and output


def export_onnx(net: nn.Module, path: str | Path, input_shape: Sequence[int], *,
                opset: int = OPSET) -> Path:
    """Export ``net`` in eval mode; ``input_shape`` is one example's (C, H, W).

    Uses torch's torch.export-based exporter (the TorchScript one is deprecated); the weights
    go inside the file, so the one .onnx file is the whole network.
    """
    for module in ("onnx", "onnxscript"):
        require(module)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, *input_shape)  # batch 2: a batch of 1 could be specialised away
    batch = torch.export.Dim(BATCH, min=1)
    was_training = net.training
    net.eval()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints progress lines
            torch.onnx.export(net, (example,), str(path), input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset,
                              dynamic_shapes=({0: batch},), external_data=False, verbose=False)
    except torch.onnx.OnnxExporterError as err:  # code torch.export cannot trace, an unknown op
        raise export_error(net, "to ONNX", err) from err
    finally:
        net.train(was_training)
    require("onnx").checker.check_model(str(path))
    return path


def load_onnx(path: str | Path, *, trust_code: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """The file in an onnxruntime session, as a function of a batch (N, C, H, W) -> (N, classes).

    An ONNX file is a graph of standard operators, no Python: ``trust_code`` (which every
    format's loader takes) changes nothing here.
    """
    session = onnx_session(path)
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.float().numpy()})[0])


def export_error(net: nn.Module, how: str, err: BaseException) -> InputError:
    """One line from an exporter's multi-line, coloured report; --debug keeps the whole."""
    first = re.sub(r"\x1b\[[0-9;]*m", "", first_line(err))  # drop colours
    return InputError(f"cannot export {type(net).__name__} {how} ({first}); "
                      "--debug shows the exporter's full report")
