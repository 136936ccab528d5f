"""Accuracy reports of a benchmark run (the target home of aesthetic.reports' report writing).

- :mod:`.html`: ``report.html``, report.md as a page with its plots inline, sortable tables and a
  gallery of each set's most confident hits and worst misses.
"""
