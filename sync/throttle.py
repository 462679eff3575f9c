"""Keep requests to Kianda within what it takes: a rate cap and an adaptive limit.

Kianda documents no rate limits, so the client brings its own two controls, shared by
all sending threads:

- ``RateLimit`` starts at most ``max_rps`` requests per second, evenly spaced (a token
  bucket that holds one token, so there are no bursts).
- ``Concurrency`` caps the requests in flight. It starts at the configured
  concurrency, halves when Kianda answers that it is busy (multiplicative decrease)
  and grows again by about one request per round of successful calls (additive
  increase), never above where it started. Each change of the whole number is logged:
  at INFO, unless one was logged at INFO less than a minute before (then at DEBUG), so
  that a server holding the client at its limit does not flood a cron log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# How much of the limit is kept when Kianda says it is busy.
DECREASE_FACTOR = 0.5
# Changes of the limit within this many seconds of one logged at INFO go to DEBUG.
QUIET_SECONDS = 60.0


class RateLimit:
    """Spaces the starts of requests so that at most ``max_rps`` begin each second."""

    def __init__(
        self,
        max_rps: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / max_rps if max_rps else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        """Block until this thread may start a request."""
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)


class Concurrency:
    """An adaptive cap on requests in flight (AIMD), between 1 and ``ceiling``."""

    def __init__(
        self, ceiling: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ceiling = ceiling
        self._clock = clock
        self._last_info = -float("inf")
        self._limit = float(ceiling)
        self.lowest = ceiling
        """The lowest the limit went."""
        self.busy_answers = 0
        """Answers that said Kianda was busy."""
        self._in_flight = 0
        self._stopped = False
        # Bumped at each decrease, so that answers to requests sent before it (which
        # were sent under the old limit) do not decrease it again.
        self._epoch = 0
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        with self._changed:
            return int(self._limit)

    def acquire(self) -> int | None:
        """Wait for a free place; return a ticket to hand back to ``release``.

        None once :meth:`stop` was called: the caller must not send.
        """
        with self._changed:
            while self._in_flight >= int(self._limit) and not self._stopped:
                self._changed.wait()
            if self._stopped:
                return None
            self._in_flight += 1
            return self._epoch

    def stop(self) -> None:
        """Wake every waiting thread and let none of them send."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def release(self, ticket: int, *, busy: bool = False, ok: bool = False) -> None:
        """Free a place; lower the limit if Kianda was ``busy``, raise it if ``ok``."""
        with self._changed:
            self._in_flight -= 1
            before = int(self._limit)
            self.busy_answers += busy
            if busy and ticket == self._epoch:
                self._epoch += 1
                self._limit = max(1.0, self._limit * DECREASE_FACTOR)
                self.lowest = min(self.lowest, int(self._limit))
            elif ok and self._limit < self.ceiling:
                self._limit = min(self.ceiling, self._limit + 1 / int(self._limit))
            after = int(self._limit)
            self._changed.notify_all()
            level = self._level() if after != before else logging.NOTSET
        if after < before:
            log.log(
                level,
                "Kianda says it is busy: sending at most %d %s at once (was %d)",
                after,
                "request" if after == 1 else "requests",
                before,
            )
        elif after > before:
            log.log(
                level,
                "Kianda keeps up: sending up to %d requests at once (at most %d)",
                after,
                self.ceiling,
            )

    def _level(self) -> int:
        """INFO for a change, unless one was logged at INFO lately; lock held."""
        now = self._clock()
        if now - self._last_info < QUIET_SECONDS:
            return logging.DEBUG
        self._last_info = now
        return logging.INFO
