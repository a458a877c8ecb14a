"""Deployable copies of a network: ONNX with a dynamic batch axis, checked with onnxruntime.

Needs the optional packages: ``pip install 'taylorprune[export]'``.
"""

from .onnx_file import OPSET, export_onnx
from .parity import TOLERANCE, Parity, check_parity
from .pipeline import ExportReport, export_network
from .runtime import onnx_session

__all__ = [
    "OPSET",
    "TOLERANCE",
    "ExportReport",
    "Parity",
    "check_parity",
    "export_network",
    "export_onnx",
    "onnx_session",
]
