"""How a run shows its progress: a live bar on a terminal, log lines in cron.

On a terminal the bar shows rows done, rate, time left and rows needing attention so
far; otherwise one INFO line per tenth of the rows, so a cron log stays short.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


class TerminalBar:
    """A tqdm progress bar on standard error; call ``close`` when the run ends."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, done: int, total: int, attention: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                unit="row",
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )
        self._bar.update(done - self._bar.n)
        if attention:
            self._bar.set_postfix_str(f"{attention} need attention", refresh=False)

    def close(self) -> None:
        """Remove the bar from the screen."""
        if self._bar is not None:
            self._bar.close()


# Below this many rows a run takes seconds, and progress lines would only be noise.
LOG_PROGRESS_FROM_ROWS = 1000


class TenPercentLog:
    """One INFO line each time another tenth of the rows is done (big runs only)."""

    def __init__(self) -> None:
        self._next = 1

    def __call__(self, done: int, total: int, attention: int) -> None:
        if total < LOG_PROGRESS_FROM_ROWS:
            return
        while self._next <= 10 and done * 10 >= self._next * total:
            log.info(
                "Progress: %d of %d rows (%d%%), %d need attention so far",
                done,
                total,
                self._next * 10,
                attention,
            )
            self._next += 1

    def close(self) -> None:
        """Nothing to clear."""
