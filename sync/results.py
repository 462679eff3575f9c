"""Write the results workbook (or CSV): every input column as typed, then the outcome.

Rows arrive in input order and are streamed to disk (openpyxl's write-only mode), so a
large run is written in bounded memory. Three sheets: ``Results`` (every row, its
status on a traffic-light colour), ``Needs attention`` (only the rows a person must
act on, with what to do) and ``Summary`` (the run in figures). Every input cell is a
text cell, except a real date, which stays a date: nothing a user typed is ever
stored as a formula, so opening the results can never run one.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from sync.advice import what_to_do
from sync.errors import InputError
from sync.mapping import Mapping
from sync.outcome import Action, RowResult, RunSummary, Status
from sync.reader import Cell
from sync.sheets import (
    Item,
    Mark,
    TableSheet,
    Tone,
    Typed,
    move_into_place,
    write_pairs,
)

log = logging.getLogger(__name__)

TOOL_COLUMNS = (
    "Instance ID",
    "Sync Action",
    "Sync Status",
    "Sync Message",
    "Source Row",
)
ATTENTION_SHEET = "Needs attention"
ATTENTION_STATUSES = (
    Status.INVALID,
    Status.FAILED,
    Status.UNKNOWN,
    Status.NOT_ATTEMPTED,
)
STATUS_TONES = {
    Status.CREATED: Tone.GOOD,
    Status.UPDATED: Tone.GOOD,
    Status.READY: Tone.GOOD,
    Status.UNCHANGED: Tone.NOTE,
    Status.SKIPPED: Tone.NOTE,
    Status.INVALID: Tone.BAD,
    Status.FAILED: Tone.BAD,
    Status.UNKNOWN: Tone.BAD,
    Status.NOT_ATTEMPTED: Tone.BAD,
}
# Leading characters that make a spreadsheet program read a CSV cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# A number format that only pads with zeros, such as 00000: the number is an ID.
_ZERO_PADDED = re.compile(r"0{2,}")


def check_output(path: Path, *protected: Path, suffixes: tuple[str, ...]) -> None:
    """Refuse an output path that would overwrite an input, or of a kind not written.

    Raises ConfigError before anything is read or sent.
    """
    from sync.errors import ConfigError

    target = path.resolve()
    for other in protected:
        if target == other.resolve():
            raise ConfigError(
                f"The output file {path} would overwrite {other}, which this run "
                "reads. Give -o another name."
            )
    if path.suffix.lower() not in suffixes:
        raise ConfigError(
            f"The output file {path} must end in "
            + " or ".join(suffixes)
            + ". Give -o a name such as results.xlsx."
        )


def default_results_path(input_path: Path, kind: str = "results") -> Path:
    """``<input stem>.results.xlsx`` beside the input (or ``.validate.xlsx``...)."""
    return input_path.with_name(f"{input_path.stem}.{kind}.xlsx")


class ResultsWriter:
    """Streams result rows into an .xlsx (or .csv) file; use as a context manager.

    ``key_columns`` are the 0-based input columns of the mapping's key, shown beside
    each row of the ``Needs attention`` sheet so a reader can find the row.
    """

    def __init__(
        self, path: Path, headers: Sequence[str], key_columns: Sequence[int] = ()
    ) -> None:
        self.path = path
        tool = {name.casefold() for name in TOOL_COLUMNS}
        # An input column named like one of ours is replaced by ours.
        self._keep = [
            i for i, h in enumerate(headers) if h.strip().casefold() not in tool
        ]
        self._header = [headers[i] for i in self._keep] + list(TOOL_COLUMNS)
        self._keys = [i for i in key_columns if i in self._keep]
        self._key_header = [headers[i] for i in self._keys]
        self._csv = path.suffix.lower() == ".csv"
        self._tmp = path.with_name(f".{path.name}.partial")
        self._handle: Any = None
        self._writer: Any = None
        self._book: Any = None
        self._results: TableSheet | None = None
        self._attention: TableSheet | None = None
        self._open()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if kind is not None:
            self._tmp.unlink(missing_ok=True)  # the run stopped before closing

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Prove the place is writable now, before any row is sent.
            self._tmp.touch()
            if self._csv:
                self._handle = self._tmp.open("w", encoding="utf-8-sig", newline="")
                self._writer = csv.writer(self._handle)
                self._writer.writerow([_csv_safe(h) for h in self._header])
                return
        except OSError as exc:
            raise InputError(
                f"The results file {self.path} cannot be written ({exc.strerror}). "
                "Choose another place with -o."
            ) from None

        from openpyxl import Workbook

        self._book = Workbook(write_only=True)
        self._results = TableSheet(
            self._book, "Results", self._header, wrap={"Sync Message"}
        )
        self._attention = TableSheet(
            self._book,
            ATTENTION_SHEET,
            [
                "Source Row",
                *self._key_header,
                "Instance ID",
                "Sync Status",
                "Sync Message",
                "What to do",
            ],
            wrap={"Sync Message", "What to do"},
        )

    def write(self, result: RowResult) -> None:
        """Append one row: its input cells, then the five columns of the outcome."""
        cells: list[Cell] = [result.row.cell(i) for i in self._keep]
        number = result.row.number
        if self._csv:
            values = [c.text for c in cells]
            values += [
                result.instance_id,
                result.action.value,
                result.status.value,
                result.message,
                str(number),
            ]
            self._writer.writerow([_csv_safe(v) for v in values])
            return

        assert self._results is not None and self._attention is not None
        status = Mark(result.status.value, STATUS_TONES.get(result.status))
        line: list[Item] = [_input_item(c) for c in cells]
        line += [
            result.instance_id,
            result.action.value,
            status,
            result.message,
            number,
        ]
        self._results.append(line)
        if result.status in ATTENTION_STATUSES:
            keys = [result.row.cell(i).text for i in self._keys]
            self._attention.append(
                [
                    number,
                    *keys,
                    result.instance_id,
                    status,
                    result.message,
                    what_to_do(result),
                ]
            )

    def close(self, summary: RunSummary) -> None:
        """Add the Summary sheet, then move the finished file into place."""
        if self._csv:
            self._handle.close()
            self._handle = None
            move_into_place(self._tmp, self.path, "results file")
        else:
            assert self._results is not None and self._attention is not None
            self._results.close()
            if not self._attention.rows:
                blank = ["" for _ in self._key_header]
                note = "No row is invalid, failed, unknown or not attempted."
                self._attention.append(["", *blank, "", "", note, ""])
            self._attention.close()
            write_pairs(
                self._book.create_sheet("Summary"),
                f"kianda-sync {summary.command}: {summary.input_path.name}",
                summary_lines(summary),
            )
            move_into_place(self._tmp, self.path, "results file", self._book)
        log.debug("wrote results to %s", self.path)


def summary_lines(summary: RunSummary) -> list[tuple[str, Item]]:
    """The Summary sheet as (name, value) lines."""
    needs = sum(summary.statuses[s] for s in ATTENTION_STATUSES)
    lines: list[tuple[str, Item]] = [
        ("Run ID", summary.run_id),
        ("Command line", summary.command_line or f"kianda-sync {summary.command}"),
        ("Input file", str(summary.input_path)),
        ("Input SHA-256", summary.input_sha256),
        ("Mapping", str(summary.mapping_path)),
        ("Kianda", summary.domain or "not contacted"),
        ("Started", format_moment(summary.started)),
        ("Ended", format_moment(summary.ended) if summary.ended else ""),
        ("Duration", format_duration(summary.duration)),
        ("Rows", summary.rows),
        ("Rows per second", Typed(round(summary.rows_per_second, 1), "#,##0.0")),
        (
            "Needs attention",
            Mark(
                f"{needs} rows: see the '{ATTENTION_SHEET}' sheet"
                if needs
                else "nothing",
                Tone.BAD if needs else Tone.GOOD,
            ),
        ),
    ]
    shown = [s for s in Status if s is not Status.READY or summary.statuses[s]]
    for status in shown:
        count = summary.statuses[status]
        tone = STATUS_TONES.get(status) if count else None
        lines.append((f"Status: {status.value}", Mark(count, tone)))
    for action in (Action.CREATE, Action.UPDATE, Action.NONE):
        lines.append((f"Action: {action.value}", summary.actions[action]))
    if summary.requests or summary.retries:
        lines.append(("Requests sent", summary.requests))
        lines.append(("Retries", summary.retries))
    if summary.aborted:
        lines.append(("Stopped because", Mark(summary.aborted, Tone.BAD)))
    return lines


def format_moment(moment: dt.datetime) -> str:
    """A timestamp as a person reads it, in UTC."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """A duration in the largest units that keep it short: 4.2 s, 3 min 5 s."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _input_item(source: Cell) -> Item:
    """An input cell as typed: a real date or number stays one, in its own format.

    So a results workbook read back as input gives the same values. Text is written
    as text (it never runs as a formula), and so is a number whose format pads it
    with zeros (``00000`` showing ``00789``): that is an identifier, kept as shown.
    """
    value = source.value
    fmt = source.number_format or "General"
    if isinstance(value, dt.date | dt.time):
        return Typed(value, source.number_format or "yyyy-mm-dd")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if _ZERO_PADDED.fullmatch(fmt):
            return Mark(source.text, right=True)
        return Typed(value, fmt)
    return source.text


def _csv_safe(text: str) -> str:
    """Prefix a quote to text a spreadsheet program would otherwise run as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def rows_to_retry(results: Path, mapping: Mapping) -> set[str]:
    """Keys of the rows of an earlier results file whose status was not a success.

    ``--only-failed`` re-runs just those rows, found by key (not by row number) so
    that rows added, removed or sorted since then do not shift the choice.
    """
    from sync.convert import row_key
    from sync.mapping import bind
    from sync.outcome import OK_STATUSES
    from sync.reader import is_results_header, open_table

    table = open_table(results, mapping)
    if not is_results_header(table.headers):
        raise InputError(
            f"{results} is not a results file written by kianda-sync (it has no "
            "'Sync Status' and 'Source Row' columns); give --only-failed one."
        )
    bound = bind(mapping, table.headers, table.name)
    status = table.headers.index("Sync Status")
    ok = {s.value for s in OK_STATUSES}
    keys = set()
    for row in table.rows():
        key = row_key(bound, row)
        if key is not None and row.cell(status).text not in ok:
            keys.add(key)
    return keys
