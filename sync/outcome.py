"""The vocabulary of what happened to a row and to a run (``design.md``), and of
what a reconciliation found for a row and for a whole sheet."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from sync.convert import Slug
from sync.ledger import file_sha256
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
    problems: tuple[Slug, ...] = ()
    """The kinds of problem that made the row invalid, for advice on fixing it."""


class _Timed:
    """What a run and a reconciliation both report about their time and input."""

    started: dt.datetime
    ended: dt.datetime | None
    input_path: Path

    @property
    def rows(self) -> int:
        raise NotImplementedError

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        end = self.ended or dt.datetime.now(dt.UTC)
        return (end - self.started).total_seconds()

    @property
    def rows_per_second(self) -> float:
        """Rows handled per second."""
        return self.rows / self.duration if self.duration > 0 else 0.0

    @cached_property
    def input_sha256(self) -> str:
        """The input file's SHA-256, so a result can be tied to the exact file."""
        try:
            return file_sha256(self.input_path)
        except OSError:
            return ""


@dataclass
class RunSummary(_Timed):
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
    command_line: str = ""
    """The command as typed, for the record (it never holds a secret)."""

    @property
    def rows(self) -> int:
        """Rows read (blank rows are not rows)."""
        return sum(self.statuses.values())

    @property
    def rows_per_second(self) -> float:
        """Rows handled per second; rows a stopped run never sent do not count."""
        handled = self.rows - self.statuses[Status.NOT_ATTEMPTED]
        return handled / self.duration if self.duration > 0 else 0.0

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


class RowState(StrEnum):
    """How a row of the sheet stands against Kianda."""

    IN_SYNC = "in sync"
    DIFFERS = "differs"
    MISSING = "missing in Kianda"
    NEVER_SYNCED = "never synced"
    UNKNOWN = "unknown"
    """Its create was sent and never confirmed: it may or may not be in Kianda."""
    INVALID = "invalid in the sheet"
    NOT_CHECKED = "not checked"


# States that mean Kianda does not hold what the sheet says (exit code 1). A row that
# is invalid in the sheet is not among them: ``run`` has already reported it.
DRIFT_STATES = frozenset(
    {
        RowState.DIFFERS,
        RowState.MISSING,
        RowState.NEVER_SYNCED,
        RowState.UNKNOWN,
        RowState.NOT_CHECKED,
    }
)


@dataclass(frozen=True, slots=True)
class Difference:
    """One field whose sent form differs from what Kianda holds.

    ``kianda`` is None when Kianda's answer did not name the field at all.
    """

    row: int
    key: str
    instance_id: str
    field: str
    column: str
    sheet: tuple[str, str]
    kianda: tuple[str, str] | None


@dataclass(slots=True)
class RowCheck:
    """The finding for one row of the sheet."""

    row: int
    key: str
    instance_id: str
    state: RowState
    message: str = ""
    compared: int = 0
    differences: list[Difference] = field(default_factory=list)


@dataclass
class ReconcileSummary(_Timed):
    """What a reconciliation found; the CLI prints it and the report keeps it."""

    run_id: str
    input_path: Path
    mapping_path: Path
    report_path: Path
    started: dt.datetime
    ended: dt.datetime | None = None
    domain: str = ""
    ledger_path: Path | None = None
    command_line: str = ""
    states: Counter[RowState] = field(default_factory=Counter)
    fields_compared: int = 0
    differences: list[Difference] = field(default_factory=list)
    findings: list[RowCheck] = field(default_factory=list)
    """Rows that differ, are missing in Kianda, were never synced or went unchecked."""
    requests: int = 0
    retries: int = 0

    @property
    def rows(self) -> int:
        """Rows read (blank rows are not rows)."""
        return sum(self.states.values())

    @property
    def in_sync(self) -> bool:
        """Whether every valid row's instance exists and holds what the row says.

        A sheet whose every row is invalid compared nothing, so it is not in sync.
        """
        if any(self.states[s] for s in DRIFT_STATES):
            return False
        return bool(self.states[RowState.IN_SYNC]) or not self.states[RowState.INVALID]

    @property
    def exit_code(self) -> int:
        """0 when Kianda matches the sheet, 1 when anything differs or is missing."""
        return 0 if self.in_sync else 1

    def add(self, check: RowCheck) -> None:
        """Count one row's finding."""
        self.states[check.state] += 1
        self.fields_compared += check.compared
        self.differences.extend(check.differences)
        if check.state in DRIFT_STATES:
            self.findings.append(check)
