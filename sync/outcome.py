"""The vocabulary of what happened to a row and to a run (``design.md``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sync.reader import Row


class Action(StrEnum):
    """What the tool did, or would do, with a row."""

    CREATE = "create"
    UPDATE = "update"
    NONE = "none"
    BLANK = ""


class Status(StrEnum):
    """How a row ended."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    INVALID = "invalid"
    FAILED = "failed"
    UNKNOWN = "unknown"
    NOT_ATTEMPTED = "not attempted"
    READY = "ready"


OK_STATUSES = frozenset(
    {Status.CREATED, Status.UPDATED, Status.UNCHANGED, Status.SKIPPED, Status.READY}
)


@dataclass(slots=True)
class RowResult:
    """One line of the results sheet: the input row and what became of it."""

    row: Row
    action: Action
    status: Status
    message: str = ""
    instance_id: str = ""


@dataclass
class RunSummary:
    """What a whole run did; the CLI prints it and the results workbook keeps it."""

    run_id: str
    command: str
    input_path: Path
    mapping_path: Path
    results_path: Path | None
    started: dt.datetime
    ended: dt.datetime | None = None
    domain: str = ""
    statuses: Counter[Status] = field(default_factory=Counter)
    actions: Counter[Action] = field(default_factory=Counter)
    aborted: str | None = None
    same_file_as: str | None = None
    requests: int = 0
    retries: int = 0

    @property
    def rows(self) -> int:
        """Rows read (blank rows are not rows)."""
        return sum(self.statuses.values())

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        end = self.ended or dt.datetime.now(dt.UTC)
        return (end - self.started).total_seconds()

    def add(self, result: RowResult) -> None:
        """Count one row's outcome."""
        self.statuses[result.status] += 1
        if result.action is not Action.BLANK:
            self.actions[result.action] += 1

    @property
    def exit_code(self) -> int:
        """0 all rows fine, 1 some not, 3 aborted part-way (``design.md``)."""
        if self.aborted:
            return 3
        return 0 if all(s in OK_STATUSES for s in +self.statuses) else 1
