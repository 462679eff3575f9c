"""Write the reconciliation report: does Kianda still hold what the sheet says?

Three sheets, streamed in openpyxl's write-only mode: ``Summary`` (the verdict and
the counts), ``Differences`` (one line per field that differs, and one per instance
Kianda no longer has) and ``Rows`` (every row of the sheet and how it stands).
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from sync.mapping import Mapping
from sync.outcome import ReconcileSummary, RowCheck, RowState
from sync.results import format_duration, format_moment
from sync.sheets import Item, Mark, TableSheet, Tone, move_into_place, write_pairs

log = logging.getLogger(__name__)

STATE_TONES = {
    RowState.IN_SYNC: Tone.GOOD,
    RowState.NEVER_SYNCED: Tone.BAD,
    RowState.UNKNOWN: Tone.BAD,
    RowState.INVALID: Tone.NOTE,
    RowState.DIFFERS: Tone.BAD,
    RowState.MISSING: Tone.BAD,
    RowState.NOT_CHECKED: Tone.BAD,
}
STATE_LABELS = {
    RowState.IN_SYNC: "Rows in sync",
    RowState.DIFFERS: "Rows that differ",
    RowState.MISSING: "Rows missing in Kianda",
    RowState.NEVER_SYNCED: "Rows never synced",
    RowState.UNKNOWN: "Rows whose create was never confirmed",
    RowState.INVALID: "Rows invalid in the sheet",
    RowState.NOT_CHECKED: "Rows not checked",
}
WHOLE_INSTANCE = "(the whole instance)"


def verdict(summary: ReconcileSummary) -> str:
    """One sentence saying whether Kianda matches the sheet, and if not, how."""
    states = summary.states
    invalid = states[RowState.INVALID]
    if summary.in_sync and not invalid:
        return "In sync: Kianda holds what the sheet says."
    if summary.in_sync:
        return (
            "In sync: Kianda holds what the sheet says for every valid row "
            f"({_count(invalid, 'row')} invalid in the sheet, not compared)."
        )
    found = []
    if states[RowState.DIFFERS]:
        fields = len(summary.differences)
        found.append(
            f"{_count(states[RowState.DIFFERS], 'row')} with "
            f"{_count(fields, 'field')} that {'differs' if fields == 1 else 'differ'}"
        )
    if states[RowState.MISSING]:
        found.append(
            f"{_count(states[RowState.MISSING], 'instance')} missing in Kianda"
        )
    if states[RowState.NEVER_SYNCED]:
        found.append(f"{_count(states[RowState.NEVER_SYNCED], 'row')} never synced")
    if states[RowState.UNKNOWN]:
        found.append(
            f"{_count(states[RowState.UNKNOWN], 'row')} whose create Kianda never "
            "confirmed"
        )
    if states[RowState.NOT_CHECKED]:
        found.append(f"{_count(states[RowState.NOT_CHECKED], 'row')} not checked")
    if not found:
        return (
            f"Nothing compared: all {_count(invalid, 'row')} of the sheet are invalid. "
            "Run kianda-sync validate on it to see why."
        )
    listed = ", ".join(found[:-1]) + " and " + found[-1] if len(found) > 1 else found[0]
    return (
        f"Not in sync: {listed}. See the 'Differences' and 'Rows' sheets of the report."
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def shown(pair: tuple[str, str] | None) -> str:
    """A field's (text, value) as a person reads it: one word when both agree."""
    if pair is None:
        return "(not in Kianda's answer)"
    text, value = pair
    if text == value:
        return value or "(empty)"
    return f"{text or '(empty)'} (value: {value or 'empty'})"


class ReportWriter:
    """Streams findings into the report workbook; use as a context manager."""

    def __init__(self, path: Path, mapping: Mapping) -> None:
        from openpyxl import Workbook

        self.path = path
        self._tmp = path.with_name(f".{path.name}.partial")
        key = " / ".join(mapping.key) or "Key"
        self._book = Workbook(write_only=True)
        self._summary = self._book.create_sheet("Summary")
        self._differences = TableSheet(
            self._book,
            "Differences",
            [
                "Source Row",
                key,
                "Instance ID",
                "Field",
                "Column",
                "Sheet value",
                "Kianda value",
            ],
            wrap={"Sheet value", "Kianda value"},
        )
        self._rows = TableSheet(
            self._book,
            "Rows",
            [
                "Source Row",
                key,
                "Instance ID",
                "Reconcile Status",
                "Fields compared",
                "Fields differing",
                "Message",
            ],
            wrap={"Message"},
        )

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tmp.unlink(missing_ok=True)

    def write(self, check: RowCheck) -> None:
        """Add one row's finding, and its differences."""
        number = check.row
        state = Mark(check.state.value, STATE_TONES[check.state])
        self._rows.append(
            [
                number,
                check.key,
                check.instance_id,
                state,
                check.compared if check.compared else "",
                len(check.differences) if check.compared else "",
                check.message,
            ]
        )
        for difference in check.differences:
            self._differences.append(
                [
                    number,
                    difference.key,
                    difference.instance_id,
                    difference.field,
                    difference.column,
                    shown(difference.sheet),
                    shown(difference.kianda),
                ]
            )
        if check.state is RowState.MISSING:
            self._differences.append(
                [
                    number,
                    check.key,
                    check.instance_id,
                    WHOLE_INSTANCE,
                    "",
                    "(this row)",
                    Mark("missing: Kianda has no instance with this ID", Tone.BAD),
                ]
            )

    def close(self, summary: ReconcileSummary) -> None:
        """Fill the Summary sheet and move the finished report into place."""
        if not self._differences.rows:
            note = "No differences: every instance checked matches the sheet."
            self._differences.append(["", "", "", "", "", note, ""])
        self._differences.close()
        self._rows.close()
        write_pairs(
            self._summary,
            f"kianda-sync reconcile: {summary.input_path.name}",
            report_lines(summary),
        )
        move_into_place(self._tmp, self.path, "report", self._book)
        log.debug("wrote the reconciliation report to %s", self.path)


def report_lines(summary: ReconcileSummary) -> list[tuple[str, Item]]:
    """The report's Summary sheet as (name, value) lines."""
    overall = Tone.GOOD if summary.in_sync else Tone.BAD
    lines: list[tuple[str, Item]] = [
        ("Verdict", Mark(verdict(summary), overall)),
        ("Report ID", summary.run_id),
        ("Command line", summary.command_line or "kianda-sync reconcile"),
        ("Input file", str(summary.input_path)),
        ("Input SHA-256", summary.input_sha256),
        ("Mapping", str(summary.mapping_path)),
        ("Kianda", summary.domain),
        ("Ledger", str(summary.ledger_path or "")),
        ("Started", format_moment(summary.started)),
        ("Ended", format_moment(summary.ended) if summary.ended else ""),
        ("Duration", format_duration(summary.duration)),
        ("Rows", summary.rows),
    ]
    for state in RowState:
        count = summary.states[state]
        tone = STATE_TONES[state] if count else None
        if count or state is not RowState.NOT_CHECKED:
            lines.append((STATE_LABELS[state], Mark(count, tone)))
    lines += [
        ("Fields compared", summary.fields_compared),
        ("Fields differing", len(summary.differences)),
        ("Requests sent", summary.requests),
        ("Retries", summary.retries),
    ]
    return lines
