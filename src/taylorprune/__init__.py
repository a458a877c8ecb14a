"""taylorprune: shrink a trained network to the smallest size that meets an accuracy floor."""

__version__ = "0.1.0"
