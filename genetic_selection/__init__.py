"""Feature selection for the fused feature vector: PCA per branch, the genetic algorithm, or none.

Every selector has the scikit-learn shape (``fit`` / ``transform`` / ``get_support``, learned
state ending in ``_``), also fits and transforms straight from a feature store in chunks
(``fit_store`` / ``transform_store``), remembers the branches and widths it was fitted on,
and is saved without pickle (``save`` / :func:`load_selector`).
"""

from .base import AllFeatures, SelectionError, Selector
from .ga import GeneticSelector
from .io import load_selector, save_selector
from .pca import BranchPCA

__all__ = ["AllFeatures", "BranchPCA", "GeneticSelector", "SelectionError", "Selector",
           "load_selector", "save_selector"]
