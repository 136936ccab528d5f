"""Feature extraction: the branch registry, the in-memory extractor and the resumable job."""

from .branches import Branch, get_branch, list_branches, register_branch
from .extractor import ExtractionResult, ExtractorConfig, FeatureExtractor, shape_buckets
from .job import ExtractionConfig, ExtractionJobError, ExtractionSummary, extract
from .weights import FeatureVersionError, WeightsError

__all__ = ["Branch", "get_branch", "list_branches", "register_branch", "ExtractionResult",
           "ExtractorConfig", "FeatureExtractor", "shape_buckets", "ExtractionConfig", "ExtractionJobError",
           "ExtractionSummary", "extract", "WeightsError", "FeatureVersionError"]
