"""aesthetic-fusion: decide whether a photo is aesthetic, explain why, at any scale."""

__version__ = "0.1.0"
