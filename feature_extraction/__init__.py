"""Feature extraction: the branch registry and the extraction job."""
