"""Benchmark reports: score models, the NIMA peer and hand-crafted baselines on named sets.

- :mod:`.suite`: suite TOML files (named sets, training set, split, robustness), validated.
- :mod:`.benchmark`: runs a suite (metrics, baselines, robustness, leakage audit) through the one
  scoring interface (:mod:`aesthetic.bundles.scoring`) and the one metrics engine (:mod:`aesthetic.metrics`).
- :mod:`.report` / :mod:`.plots`: report.md, report.json and PNG figures, written atomically.
- :mod:`.html`: ``report.html``, report.md as a page with its plots inline, sortable tables and a
  gallery of each set's most confident hits and worst misses.
- :mod:`.audit`, :mod:`.baselines`: the data audit and the hand-crafted baselines.
- :mod:`.cli`: ``aesthetic benchmark``, ``aesthetic splits`` and ``aesthetic audit``.
"""
