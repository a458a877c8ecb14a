"""Channel importance: which filters the loss can best do without."""

from .points import ChannelScores, ScorePoint
from .taylor import taylor_scores
from .variants import IMPORTANCE, NORMALIZATIONS, bn_gate_scores, normalize_per_layer

__all__ = [
    "IMPORTANCE",
    "NORMALIZATIONS",
    "ChannelScores",
    "ScorePoint",
    "bn_gate_scores",
    "normalize_per_layer",
    "taylor_scores",
]
