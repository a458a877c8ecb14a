"""Deployable copies of a network, each checked against PyTorch on the same inputs.

ONNX (dynamic batch axis, run by onnxruntime) needs the optional packages:
``pip install 'taylorprune[export]'``. A torch.export program (.pt2) needs only torch.
"""

from .formats import FORMATS, Format
from .onnx_file import OPSET, export_onnx
from .parity import TOLERANCE, Parity, check_parity
from .pipeline import ExportReport, export_network
from .pt2_file import export_pt2, load_pt2
from .runtime import onnx_session

__all__ = [
    "FORMATS",
    "OPSET",
    "TOLERANCE",
    "ExportReport",
    "Format",
    "Parity",
    "check_parity",
    "export_network",
    "export_onnx",
    "export_pt2",
    "load_pt2",
    "onnx_session",
]
