"""Misbehaviour the emulator shows on purpose, for tests of the client's resilience.

Every fault is off by default and drawn from one seeded random generator, so a run
with one client thread sees the same faults on the same requests each time (with
several threads the same sequence is dealt out in arrival order). Counters record
what was injected, per fault and HTTP method, so a test can compare them with what
the client reported.

Faults apply to the instances API (``/api/...``); ``POST /token`` only gets the
latency. Whether Kianda acted before failing decides whether a client may resend a
create, so each fault states it:

========================  ==========================================  ============
fault                     answer                                      acted first
========================  ==========================================  ============
``latency_ms/jitter_ms``  the normal answer, later                     yes
``max_in_flight``         429 without Retry-After, at once             never
``rate_429``              429 with ``Retry-After: retry_after``        never
``rate_429_bare``         429 without Retry-After                      never
``rate_503``              503 without Retry-After                      never
``rate_reset``            connection reset after the request was read  never
``rate_500``              500, after the change was stored             yes (writes)
``rate_502``              502 from a gateway, after the change was     yes (writes)
                          stored
``rate_504``              504 from a gateway, after the change was     yes (writes)
                          stored
``lose_create_answer``    a create is stored, then the connection      yes
                          closes without an answer
``Emulator(token_ttl)``   401 once a login token has expired           never
========================  ==========================================  ============

A 500 acts first because that is the worst case for a client: a failure raised after
the database write (a rule, a notification) leaves the instance behind. A 502 or 504
comes from a gateway in front of Kianda that had passed the request on, so it too may
follow a stored change. ``retry_after_date`` sends the 429's Retry-After as an HTTP
date instead of seconds, the other form the header takes. A reset, by
contrast, happens before acting, so a client cannot tell it from a lost answer and
must treat both alike. The ``rate_*`` shares are of requests to the API and are
exclusive: one draw per request picks at most one of them, so they add up.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

FieldsTable = Mapping[str, tuple[str, str]]


class Fault(StrEnum):
    """The names of injected faults, as counted."""

    OVER_CAPACITY = "over-capacity"
    RATE_LIMITED = "429"
    RATE_LIMITED_BARE = "429-bare"
    UNAVAILABLE = "503"
    RESET = "reset"
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    GATEWAY_TIMEOUT = "504"
    LOST_ANSWER = "lost-answer"
    EXPIRED_TOKEN = "expired-token"  # noqa: S105 - a fault name, not a secret


# The faults decided by one draw per API request, in the order their shares stack.
_DRAWN = (
    Fault.RATE_LIMITED,
    Fault.RATE_LIMITED_BARE,
    Fault.UNAVAILABLE,
    Fault.RESET,
    Fault.SERVER_ERROR,
    Fault.BAD_GATEWAY,
    Fault.GATEWAY_TIMEOUT,
)
# Drawn faults shown after the request was acted on (a write is stored first).
ACTED_FIRST = frozenset({Fault.SERVER_ERROR, Fault.BAD_GATEWAY, Fault.GATEWAY_TIMEOUT})


@dataclass
class Faults:
    """What the emulator does wrong, and how often (shares between 0 and 1)."""

    seed: int = 0
    latency_ms: float = 0.0
    """Added to every answer."""
    jitter_ms: float = 0.0
    """A further delay drawn evenly between 0 and this, per request."""
    max_in_flight: int = 0
    """API requests handled at once; one more is answered 429 (0: no cap)."""
    rate_429: float = 0.0
    rate_429_bare: float = 0.0
    rate_503: float = 0.0
    rate_reset: float = 0.0
    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_504: float = 0.0
    retry_after: float = 1.0
    """Seconds in the Retry-After header of ``rate_429`` answers."""
    retry_after_date: bool = False
    """Send that Retry-After as an HTTP date, ``retry_after`` seconds from now."""
    lose_create_answer: float = 0.0
    """Share of creates that are stored, then answered by a dropped connection."""
    lose_create_answer_if: Callable[[FieldsTable], bool] | None = None
    """A rule picking the creates whose answer is lost, by their fields."""

    injected: Counter[tuple[Fault, str]] = field(default_factory=Counter)
    """How many times each fault was injected, per HTTP method."""
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _in_flight: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        shares = [self.share(fault) for fault in _DRAWN] + [self.lose_create_answer]
        if any(not 0 <= s <= 1 for s in shares) or sum(shares[:-1]) > 1:
            raise ValueError("fault shares must be between 0 and 1, and add up to 1")
        self._random = random.Random(self.seed)  # noqa: S311 - repeatable, not secret

    def share(self, fault: Fault) -> float:
        """The configured share of API requests that get a drawn fault."""
        return {
            Fault.RATE_LIMITED: self.rate_429,
            Fault.RATE_LIMITED_BARE: self.rate_429_bare,
            Fault.UNAVAILABLE: self.rate_503,
            Fault.RESET: self.rate_reset,
            Fault.SERVER_ERROR: self.rate_500,
            Fault.BAD_GATEWAY: self.rate_502,
            Fault.GATEWAY_TIMEOUT: self.rate_504,
        }.get(fault, 0.0)

    def count(self, fault: Fault, method: str | None = None) -> int:
        """How many times a fault was injected (into one HTTP method, if given)."""
        with self._lock:
            return sum(
                n
                for (f, m), n in self.injected.items()
                if f is fault and method in (None, m)
            )

    def note(self, fault: Fault, method: str) -> None:
        """Count a fault the emulator has just shown."""
        with self._lock:
            self.injected[fault, method] += 1

    def delay(self) -> float:
        """Seconds to wait before answering this request."""
        if not (self.latency_ms or self.jitter_ms):
            return 0.0
        with self._lock:
            jitter = self._random.uniform(0, self.jitter_ms) if self.jitter_ms else 0
        return (self.latency_ms + jitter) / 1000

    def enter(self, method: str) -> bool:
        """Admit an API request, or count it as over capacity (False): it gets 429."""
        with self._lock:
            if self.max_in_flight and self._in_flight >= self.max_in_flight:
                self.injected[Fault.OVER_CAPACITY, method] += 1
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        """An admitted request is about to be answered."""
        with self._lock:
            self._in_flight -= 1

    def draw(self) -> Fault | None:
        """The fault this API request is to get, if any (one draw per request).

        It is counted by ``note`` once shown: a 500 is not shown when the request
        fails anyway, for instance with an expired token.
        """
        if not any(self.share(fault) for fault in _DRAWN):
            return None
        with self._lock:
            point = self._random.random()
        for fault in _DRAWN:
            point -= self.share(fault)
            if point < 0:
                return fault
        return None

    def lose_answer_of_create(self, fields: FieldsTable) -> bool:
        """Whether this stored create's answer is to be lost."""
        with self._lock:
            rule = self.lose_create_answer_if
            lost = (rule is not None and rule(fields)) or (
                self.lose_create_answer > 0
                and self._random.random() < self.lose_create_answer
            )
            if lost:
                self.injected[Fault.LOST_ANSWER, "POST"] += 1
            return lost

    @property
    def lost_answers(self) -> int:
        """Creates stored whose answer was lost."""
        return self.count(Fault.LOST_ANSWER)
