"""The branch registry; importing this package registers the built-in branches."""

from .base import Branch
from .registry import get_branch, list_branches, register_branch
from . import multigap, efficientnet, mobilenet  # noqa: F401  (registration side effect)

__all__ = ["Branch", "get_branch", "list_branches", "register_branch"]
