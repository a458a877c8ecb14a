"""Channel importance: which filters the loss can best do without."""

from .taylor import ChannelScores, ScorePoint, taylor_scores

__all__ = ["ChannelScores", "ScorePoint", "taylor_scores"]
