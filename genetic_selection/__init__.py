"""Feature selection for the fused feature vector: PCA per branch, the genetic algorithm, or none.

Every selector has the scikit-learn shape (``fit`` / ``transform`` / ``get_support``, learned
state ending in ``_``), also fits and transforms straight from a feature store in chunks
(``fit_store`` / ``transform_store``), remembers the branches and widths it was fitted on,
and is saved without pickle (``save`` / :func:`load_selector`) under its registered kind
(:func:`list_selectors`; :func:`get_selector` builds one by kind).
"""

from .base import AllFeatures, Selector
from .errors import SelectionError
from .ga import GeneticSelector
from .io import load_selector, save_selector
from .pca import BranchPCA
from .registry import get_selector, list_selectors, register_selector

__all__ = ["AllFeatures", "BranchPCA", "GeneticSelector", "SelectionError", "Selector", "get_selector",
           "list_selectors", "load_selector", "register_selector", "save_selector"]
