"""Benchmark reports: score models, the NIMA peer and hand-crafted baselines on named sets.

- :mod:`.suite`: suite TOML files (named sets, training set, split, robustness), validated.
- :mod:`.sources`: labels CSVs, class folders, the deterministic split.
- :mod:`.scorers`: the ``Scorer`` interface every compared model implements, and the scoring loop.
- :mod:`.metrics`: accuracy, balanced accuracy, precision, recall, F1, ROC-AUC, confusion, reliability.
- :mod:`.benchmark`: runs a suite (metrics, baselines, robustness, leakage audit).
- :mod:`.report` / :mod:`.plots`: report.md, report.json and PNG figures, written atomically.
- :mod:`.cli`: ``aesthetic benchmark`` and ``aesthetic audit``.
"""
