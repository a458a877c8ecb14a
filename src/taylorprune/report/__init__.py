"""Rendering: plots, tables and documents from result objects; never touches a model."""

from .plots import plot_pruning, plot_training
from .summary import summary_lines

__all__ = ["plot_pruning", "plot_training", "summary_lines"]
