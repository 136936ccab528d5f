"""Name -> branch. A new backbone is one new module that calls ``register_branch``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Branch

_REGISTRY: dict[str, type] = {}


def register_branch(cls):
    if cls.name in _REGISTRY:
        raise ValueError(f"branch {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def get_branch(name: str) -> "Branch":
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ValueError(f"unknown branch {name!r}; available: {', '.join(list_branches())}") from None


def list_branches() -> list[str]:
    return list(_REGISTRY)


def largest_input_side() -> int:
    """The longest side any registered branch resizes a photo to (996: multigap's max side)."""
    return max(cls.data_config.longest_side for cls in _REGISTRY.values())
