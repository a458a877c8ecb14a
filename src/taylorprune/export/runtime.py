"""The optional ONNX packages, imported only when export or onnxruntime timing needs them.

``pip install 'taylorprune[export]'`` installs onnx, onnxscript (torch's exporter needs it)
and onnxruntime; a missing one is one InputError line that says so.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from ..errors import InputError

EXTRA_HINT = "pip install 'taylorprune[export]'"


def require(module: str) -> ModuleType:
    """Import an optional package, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{module} is not installed; ONNX export and timing need it: "
                         f"{EXTRA_HINT}") from None


def onnx_session(path: str | Path, threads: int | None = None, *, spin: bool = True) -> Any:
    """A CPU onnxruntime session using ``threads`` intra-op threads (default: torch's count).

    ``spin=False`` stops idle worker threads busy-waiting after each run: sessions timed in
    alternation on few cores would otherwise slow each other down.
    """
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3  # errors only: no warnings about unused initialisers
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
