"""One progress component for long work: images/s and ETA on a terminal, log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("aesthetic.progress")


class Progress:
    """Advance by hand (``update(n)``) when items arrive in batches.

    On a TTY it draws a rich bar with rate and ETA; otherwise (CI, logs, notebooks
    run headless) it logs a line at most every ``log_every`` seconds, so a 10^7-image
    job leaves a readable trail instead of a flood.
    """

    def __init__(self, total: int | None, description: str = "working", unit: str = "images",
                 enabled: bool = True, log_every: float = 10.0):
        self.total, self.description, self.unit = total, description, unit
        self.done = 0
        self._start = time.perf_counter()
        self._last_log = self._start
        self._log_every = log_every
        self._bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn)
            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), transient=False)
            self._task = self._bar.add_task(description, total=total, rate="")
            self._bar.start()
        self._enabled = enabled

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self._start
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_seconds(self) -> float | None:
        if not self.total or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self._enabled:
            return
        rate = f"{self.rate:.2f} {self.unit}/s"
        if self._bar is not None:
            self._bar.update(self._task, advance=n, rate=rate)
            return
        now = time.perf_counter()
        if now - self._last_log >= self._log_every or (self.total and self.done >= self.total):
            self._last_log = now
            eta = self.eta_seconds()
            log.info("%s: %d/%s %s, %s, ETA %s", self.description, self.done,
                     self.total if self.total is not None else "?", self.unit, rate,
                     f"{eta:.0f}s" if eta is not None else "?")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
