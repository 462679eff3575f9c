"""Write the results workbook (or CSV): every input column as typed, then the outcome.

Rows arrive in input order and are streamed to disk (openpyxl's write-only mode), so a
large run is written in bounded memory. Every cell is a text cell: nothing a user typed
is ever stored as a formula, so opening the results can never run one.
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

from sync.errors import InputError
from sync.outcome import RowResult, RunSummary
from sync.reader import Cell

log = logging.getLogger(__name__)

TOOL_COLUMNS = (
    "Instance ID",
    "Sync Action",
    "Sync Status",
    "Sync Message",
    "Source Row",
)
EXCEL_CELL_LIMIT = 32_767
# Characters XML 1.0 cannot hold; openpyxl refuses them, so they are shown as U+FFFD.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Leading characters that make a spreadsheet program read a CSV cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def default_results_path(input_path: Path) -> Path:
    """``<input stem>.results.xlsx`` beside the input."""
    return input_path.with_name(f"{input_path.stem}.results.xlsx")


class ResultsWriter:
    """Streams result rows into an .xlsx (or .csv) file; use as a context manager."""

    def __init__(self, path: Path, headers: Sequence[str]) -> None:
        self.path = path
        tool = {name.casefold() for name in TOOL_COLUMNS}
        # An input column named like one of ours is replaced by ours.
        self._keep = [
            i for i, h in enumerate(headers) if h.strip().casefold() not in tool
        ]
        self._header = [headers[i] for i in self._keep] + list(TOOL_COLUMNS)
        self._csv = path.suffix.lower() == ".csv"
        self._tmp = path.with_name(f".{path.name}.partial")
        self._handle: Any = None
        self._writer: Any = None
        self._book: Any = None
        self._sheet: Any = None
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

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
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
        from openpyxl.styles import Font

        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet("Results")
        self._sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        self._sheet.append([self._cell(h, font=bold) for h in self._header])

    def _cell(self, text: str, font: Any = None) -> Any:
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(self._sheet, value=None)
        cell.value = _xlsx_text(text)
        cell.data_type = "s"  # text, even when it starts with '='
        if font is not None:
            cell.font = font
        return cell

    def _input_cell(self, source: Cell) -> Any:
        """An input cell as typed: a real date stays a date in its own format.

        Everything else is written as the text the user saw, so that a results
        workbook read back as input gives the same values (and runs no formula).
        """
        from openpyxl.cell import WriteOnlyCell

        if isinstance(source.value, dt.date | dt.time):
            cell = WriteOnlyCell(self._sheet, value=source.value)
            cell.number_format = source.number_format or "yyyy-mm-dd"
            return cell
        return self._cell(source.text)

    def write(self, result: RowResult) -> None:
        """Append one row: its input cells, then the five columns of the outcome."""
        cells: list[Cell] = [result.row.cell(i) for i in self._keep]
        outcome = [
            result.instance_id,
            result.action.value,
            result.status.value,
            result.message,
            str(result.row.number),
        ]
        if self._csv:
            values = [c.text for c in cells] + outcome
            self._writer.writerow([_csv_safe(v) for v in values])
        else:
            line = [self._input_cell(c) for c in cells]
            self._sheet.append(line + [self._cell(v) for v in outcome])

    def close(self, summary: RunSummary) -> None:
        """Add the Summary sheet, then move the finished file into place."""
        try:
            if self._csv:
                self._handle.close()
                self._handle = None
            else:
                sheet = self._book.create_sheet("Summary")
                for name, value in summary_lines(summary):
                    sheet.append([self._cell(name), self._cell(value)])
                self._book.save(self._tmp)
            self._tmp.replace(self.path)
        except OSError as exc:
            raise InputError(
                f"The results file {self.path} cannot be written ({exc.strerror}). If "
                "it is open in Excel, close it; or choose another place with -o."
            ) from None
        log.debug("wrote results to %s", self.path)


def summary_lines(summary: RunSummary) -> list[tuple[str, str]]:
    """The Summary sheet as (name, value) pairs."""
    lines = [
        ("Run ID", summary.run_id),
        ("Command", summary.command),
        ("Input", str(summary.input_path)),
        ("Mapping", str(summary.mapping_path)),
        ("Kianda", summary.domain),
        ("Started", summary.started.isoformat(timespec="seconds")),
        ("Ended", summary.ended.isoformat(timespec="seconds") if summary.ended else ""),
        ("Duration (s)", f"{summary.duration:.1f}"),
        ("Rows", str(summary.rows)),
    ]
    lines += [
        (f"Action: {a.value}", str(n)) for a, n in sorted(summary.actions.items())
    ]
    lines += [
        (f"Status: {s.value}", str(n)) for s, n in sorted(summary.statuses.items())
    ]
    if summary.aborted:
        lines.append(("Aborted", summary.aborted))
    return lines


def _xlsx_text(text: str) -> str:
    text = _ILLEGAL.sub("\ufffd", text)
    if len(text) > EXCEL_CELL_LIMIT:
        note = " [cut: the full text is longer than an Excel cell can hold]"
        text = text[: EXCEL_CELL_LIMIT - len(note)] + note
    return text


def _csv_safe(text: str) -> str:
    """Prefix a quote to text a spreadsheet program would otherwise run as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def rows_to_retry(results: Path) -> set[int]:
    """Source Rows of an earlier results file whose status was not a success.

    Used by ``--only-failed`` to re-run just the rows that need it.
    """
    from sync.outcome import OK_STATUSES

    if not results.exists():
        raise InputError(
            f"The results file {results} given to --only-failed does not exist."
        )
    lines: list[list[str]]
    if results.suffix.lower() == ".csv":
        with results.open(encoding="utf-8-sig", newline="") as handle:
            lines = [list(line) for line in csv.reader(handle)]
    else:
        from openpyxl import load_workbook

        book = load_workbook(results, read_only=True, data_only=True)
        try:
            if "Results" not in book.sheetnames:
                raise InputError(
                    f"{results} has no 'Results' sheet; give --only-failed a results "
                    "workbook written by kianda-sync."
                )
            lines = [
                ["" if v is None else str(v) for v in line]
                for line in book["Results"].iter_rows(values_only=True)
            ]
        finally:
            book.close()
    header = lines[0] if lines else []
    if "Source Row" not in header or "Sync Status" not in header:
        raise InputError(
            f"{results} has no 'Source Row' and 'Sync Status' columns; give "
            "--only-failed a results file written by kianda-sync."
        )
    number, status = header.index("Source Row"), header.index("Sync Status")
    ok = {s.value for s in OK_STATUSES}
    return {
        int(line[number])
        for line in lines[1:]
        if len(line) > status and line[number].isdigit() and line[status] not in ok
    }
