"""Model bundles (everything from image to P(aesthetic) in one folder), the writers that build them,
and the one scoring interface predict, reports and explanations share."""
