"""Read an input file into rows of cells that keep what the user typed.

Each cell keeps its typed value (for a workbook: str, int, float, bool, datetime) and
the text Excel shows for it, so an ID typed ``000123`` stays ``000123`` and an empty
cell stays empty, never ``nan``. Rows carry the row number the user sees. A table can
be iterated more than once (each pass re-opens the file), so large inputs are
streamed rather than held in memory.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import numfmt
from sync.errors import InputError
from sync.mapping import Mapping

log = logging.getLogger(__name__)

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
_DELIMITERS = ",;\t|"
_SAMPLE_BYTES = 64 * 1024
_BLANK = " \t\r\n\u00a0"


class CellError(str):
    """The text of an Excel error value such as ``#N/A`` or ``#DIV/0!``."""

    __slots__ = ()


class Uncalculated(str):
    """A formula whose result was never saved in the file (its text, or empty)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell: its typed value, the text the user sees, and its number format."""

    value: object
    text: str
    number_format: str | None = None

    @property
    def is_empty(self) -> bool:
        """Nothing in it, or only spaces (non-breaking ones too)."""
        return not self.text.strip(_BLANK)


EMPTY = Cell(None, "")


@dataclass(frozen=True, slots=True)
class Row:
    """A data row: its number as the user sees it, and its cells in sheet order."""

    number: int
    cells: tuple[Cell, ...]
    problem: str | None = None

    def cell(self, index: int) -> Cell:
        """The cell at a 0-based column, empty past the row's end."""
        return self.cells[index] if index < len(self.cells) else EMPTY


@dataclass
class Table:
    """An input sheet: headers, and a way to stream its data rows."""

    path: Path
    headers: list[str]
    header_row: int
    sheet: str | None = None
    date1904: bool = False
    _rows: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """How messages name this input: the file, and the sheet when there is one."""
        return (
            f"{self.path.name} (sheet '{self.sheet}')" if self.sheet else self.path.name
        )

    def rows(self) -> Iterator[Row]:
        """Every non-blank data row below the header, in order."""
        result: Iterator[Row] = self._rows()
        return result


def open_table(path: Path, mapping: Mapping) -> Table:
    """Open an input file for reading, or raise InputError saying why it cannot be."""
    if not path.exists():
        raise InputError(
            f"The input file {path} does not exist. Check the path and run again."
        )
    suffix = path.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        return _open_workbook(path, mapping)
    if suffix in CSV_SUFFIXES:
        return _open_csv(path, mapping)
    raise InputError(
        f"The input file {path} is a '{suffix}' file; kianda-sync reads .xlsx, .xlsm "
        "and .csv. Save it in one of those formats and run again."
    )


def _is_blank(cells: tuple[Cell, ...]) -> bool:
    return all(cell.is_empty for cell in cells)


def _trim_headers(headers: list[str]) -> list[str]:
    """Drop empty header cells at the right end (formatting residue, not columns)."""
    while headers and not headers[-1].strip(_BLANK):
        headers.pop()
    return headers


# --- workbooks ---------------------------------------------------------------------


def _open_workbook(path: Path, mapping: Mapping) -> Table:
    workbook = _load_workbook(path)
    try:
        sheet = _results_sheet(workbook, mapping.sheet)
        header_row = 1
        if sheet is None:
            sheet = _pick_sheet(workbook, path, mapping.sheet)
            header_row = mapping.header_row
        else:
            log.info(
                "%s is a kianda-sync results workbook: reading its Results sheet", path
            )
        title = sheet.title
        date1904 = bool(workbook.epoch.year == 1904)
        headers: list[str] = []
        for number, cells in _sheet_rows(workbook, sheet):
            if number == header_row:
                headers = _trim_headers([cell.text for cell in cells])
            if number >= header_row:
                break
    finally:
        workbook.close()
    if not headers:
        raise InputError(
            f"Row {header_row} of {path.name} (sheet '{title}') is empty, so there are "
            "no column names. Set header_row in the mapping to the row that holds them."
        )
    width = len(headers)

    def rows() -> Iterator[Row]:
        book = _load_workbook(path)
        try:
            for number, raw in _sheet_rows(book, book[title]):
                if number <= header_row:
                    continue
                cells = tuple(raw[:width])
                if not _is_blank(cells):
                    yield Row(number, cells)
        finally:
            book.close()

    log.debug("opened %s, sheet %s", path, title)
    return Table(path, headers, header_row, title, date1904, rows)


def is_results_header(headers: list[str]) -> bool:
    """Whether a header row is that of a kianda-sync results file."""
    return {"Sync Status", "Source Row", "Instance ID"} <= set(headers)


def _results_sheet(workbook: Any, wanted: str | None) -> Any:
    """The Results sheet of a results workbook fed back as input, else None.

    Used when the mapping names no sheet, or one the workbook does not have, so that
    the mapping written for the original export also reads its results.
    """
    names = workbook.sheetnames
    if "Results" not in names or "Summary" not in names:
        return None
    if wanted is not None and wanted in names and wanted != "Results":
        return None
    sheet = workbook["Results"]
    first = next(_sheet_rows(workbook, sheet), (0, []))
    if first[0] == 1 and is_results_header([cell.text for cell in first[1]]):
        return sheet
    return None


def _sheet_rows(book: Any, sheet: Any) -> Iterator[tuple[int, list[Cell]]]:
    """Every stored row of a read-only sheet as cells, with Excel's row number.

    openpyxl's own read-only iterator reports a formula without a saved result as an
    empty cell; this parses the same XML with a parser that says so instead.
    """
    from openpyxl.cell.read_only import ReadOnlyCell
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class Parser(WorkSheetParser):  # type: ignore[misc]
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = super().parse_cell(element)
            if cell["value"] is None:
                formula = element.find(FORMULA_TAG)
                if formula is not None:
                    text = f"={formula.text}" if formula.text else ""
                    cell["value"], cell["data_type"] = Uncalculated(text), "f"
            return cell

    formats: dict[int, str] = {}

    def number_format(style_id: int) -> str:
        if style_id not in formats:
            probe = ReadOnlyCell(sheet, 0, 0, None, "n", style_id)
            formats[style_id] = probe.number_format
        return formats[style_id]

    with sheet._get_source() as source:
        parser = Parser(
            source,
            sheet._shared_strings,
            data_only=True,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        for number, raw in parser.parse():
            cells: list[Cell] = []
            for item in raw:
                while len(cells) < item["column"] - 1:
                    cells.append(EMPTY)
                cells.append(_make_cell(item, number_format))
            yield number, cells


def _make_cell(item: dict[str, Any], number_format: Callable[[int], str]) -> Cell:
    value = item["value"]
    if value is None:
        return EMPTY
    if isinstance(value, Uncalculated):
        return Cell(value, value)
    fmt = number_format(item["style_id"])
    if item["data_type"] == "e":
        return Cell(CellError(value), str(value), fmt)
    if isinstance(value, dt.timedelta):
        value = (dt.datetime.min + value).time()
    return Cell(value, numfmt.display(value, fmt), fmt)


def _load_workbook(path: Path) -> Any:
    import zipfile

    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(
            f"The input file {path} cannot be opened as an Excel workbook ({exc}). "
            "Open it in Excel, save it as .xlsx and run again."
        ) from None


def _pick_sheet(workbook: Any, path: Path, wanted: str | None) -> Any:
    names = [sheet.title for sheet in workbook.worksheets]
    if wanted is not None:
        if wanted in names:
            return workbook[wanted]
        raise InputError(
            f"{path.name} has no sheet named '{wanted}'; its sheets are "
            + ", ".join(f"'{name}'" for name in names)
            + ". Fix 'sheet:' in the mapping and run again."
        )
    for sheet in workbook.worksheets:
        if getattr(sheet, "sheet_state", "visible") == "visible":
            return sheet
    raise InputError(f"{path.name} has no visible sheet. Set 'sheet:' in the mapping.")


# --- CSV ---------------------------------------------------------------------------


def _open_csv(path: Path, mapping: Mapping) -> Table:
    encoding = mapping.encoding or detect_encoding(path)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(
            f"The mapping's encoding '{encoding}' is not known. Use a name such as "
            "utf-8, utf-8-sig or cp1252."
        ) from None
    # Excel's "CSV UTF-8" starts with a byte-order mark even when utf-8 is named.
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    delimiter = mapping.delimiter or _detect_delimiter(path, codec)
    log.debug("reading %s as %s, delimiter %r", path, encoding, delimiter)

    def records() -> Iterator[tuple[int, list[str]]]:
        try:
            with path.open(encoding=codec, newline="") as handle:
                reader = csv.reader(handle, delimiter=delimiter, strict=False)
                yield from enumerate(reader, start=1)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path.name} is not valid {encoding} text (byte {exc.start}). Set "
                "'encoding:' in the mapping to the file's real encoding and run again."
            ) from None
        except csv.Error as exc:
            raise InputError(
                f"{path.name} is not a readable CSV file: {exc}."
            ) from None

    headers: list[str] = []
    header_row = mapping.header_row
    for number, record in records():
        if number == 1 and is_results_header(record):
            header_row = 1  # a results file fed back as input
        if number == header_row:
            headers = _trim_headers(list(record))
            break
    if not headers:
        raise InputError(
            f"Record {header_row} of {path.name} is empty, so there are no column "
            "names. Set header_row in the mapping to the record that holds them."
        )
    width = len(headers)

    def rows() -> Iterator[Row]:
        for number, record in records():
            if number <= header_row:
                continue
            cells = tuple(Cell(text, text) for text in record)
            if _is_blank(cells):
                continue
            problem = None
            extra = cells[width:]
            if not _is_blank(extra):
                problem = (
                    f"This row has {len(record)} cells but the header has {width}; "
                    "a delimiter inside an unquoted value may have split it. Quote "
                    "the value or fix the row."
                )
            yield Row(number, cells[:width], problem)

    return Table(path, headers, header_row, None, False, rows)


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without a byte-order mark) when the whole file decodes so.

    Otherwise Windows-1252, which is what Excel on Windows writes for "CSV" and which
    decodes any byte the way Latin-1 would for the printable range.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        head = handle.read(3)
        bom = head == codecs.BOM_UTF8
        chunk = b"" if bom else head
        try:
            while True:
                decoder.decode(chunk)
                chunk = handle.read(1 << 20)
                if not chunk:
                    decoder.decode(b"", final=True)
                    break
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig" if bom else "utf-8"


def _detect_delimiter(path: Path, encoding: str) -> str:
    """The candidate that splits the first lines into the most, consistent, columns."""
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
    text = sample.decode(encoding, errors="replace")
    if len(sample) == _SAMPLE_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]
    best, best_score = ",", 0
    for candidate in _DELIMITERS:
        widths = [
            len(record)
            for record in csv.reader(text.splitlines()[:50], delimiter=candidate)
            if record
        ]
        if not widths or widths[0] < 2:
            continue
        consistent = sum(1 for width in widths if width == widths[0])
        score = consistent * widths[0]
        if score > best_score:
            best, best_score = candidate, score
    return best
