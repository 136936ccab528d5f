"""Selector kind -> class. A new selector is one new module whose class calls ``register_selector``.

The kind is the name written into saved selector files, so :mod:`.io` can load any registered
selector without knowing the classes (and without importing the modules that define them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Selector

_REGISTRY: dict[str, type] = {}


def register_selector(cls):
    """Class decorator: make ``cls`` loadable under ``cls.kind``."""
    kind = getattr(cls, "kind", "")
    if not kind:
        raise ValueError(f"{cls.__name__} has no kind; set a class attribute kind = '...' before registering")
    if kind in _REGISTRY and _REGISTRY[kind] is not cls:
        raise ValueError(f"selector kind {kind!r} registered twice ({_REGISTRY[kind].__name__}, {cls.__name__})")
    _REGISTRY[kind] = cls
    return cls


def selector_class(kind: str) -> type:
    """The class registered as ``kind``; ValueError naming the known kinds otherwise."""
    try:
        return _REGISTRY[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown selector kind {kind!r}; available: {', '.join(list_selectors())}") from None


def get_selector(kind: str, **params: Any) -> "Selector":
    """A new, unfitted selector of ``kind`` built with ``params`` (e.g. ``get_selector("pca", n_components=0.5)``)."""
    return selector_class(kind)(**params)


def list_selectors() -> list[str]:
    """Registered kinds, in registration order (the built-ins once the package is imported)."""
    return list(_REGISTRY)
