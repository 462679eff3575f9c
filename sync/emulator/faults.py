"""Misbehaviour the emulator shows on purpose, for tests of the client's resilience.

Every fault is off by default and drawn from a seeded random generator, so a test
that turns one on sees the same sequence each time. Counters record what was
injected, so a test can compare them with what the client reported.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

FieldsTable = Mapping[str, tuple[str, str]]


@dataclass
class Faults:
    """What the emulator does wrong, and how often (shares between 0 and 1)."""

    seed: int = 0
    lose_create_answer: float = 0.0
    """Share of creates that are stored, then answered by a dropped connection."""
    lose_create_answer_if: Callable[[FieldsTable], bool] | None = None
    """A rule picking the creates whose answer is lost, by their fields."""

    lost_answers: int = 0
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - repeatable, not secret

    def _draw(self, share: float) -> bool:
        return share > 0 and self._random.random() < share

    def lose_answer_of_create(self, fields: FieldsTable) -> bool:
        """Whether this stored create's answer is to be lost."""
        with self._lock:
            rule = self.lose_create_answer_if
            lost = (rule is not None and rule(fields)) or self._draw(
                self.lose_create_answer
            )
            if lost:
                self.lost_answers += 1
            return lost
