"""The branch registry; importing this package registers the built-in branches."""

from .base import Branch, DataConfig
from .registry import get_branch, largest_input_side, list_branches, register_branch
from . import multigap, efficientnet, mobilenet, pixel_stats  # noqa: F401  (registration side effect)

__all__ = ["Branch", "DataConfig", "get_branch", "largest_input_side", "list_branches", "register_branch"]
