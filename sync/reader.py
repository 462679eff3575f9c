"""Read an input file into rows of cells that keep what the user typed.

Each cell keeps its typed value (for a workbook: str, int, float, bool, datetime) and
the text Excel shows for it, so an ID typed ``000123`` stays ``000123`` and an empty
cell stays empty, never ``nan``. Rows carry the row number the user sees. A table can
be iterated more than once (each pass re-opens the file), so large inputs are
streamed rather than held in memory.

Which library reads what, and why:

- ``.xlsx``/``.xlsm``: openpyxl in read-only mode. python-calamine reads them several
  times faster (``benchmarks/read_speed.py`` measures both), but it gives no number
  formats, and the text a user sees depends on them: ``789`` formatted ``00000`` is
  the ID ``00789``, ``0.15`` formatted ``0%`` is ``15%``. calamine also reads an
  Excel error (``#N/A``) and a formula with no saved result as an empty string, so
  a broken cell would pass for an empty one. Exactness comes first.
- ``.xls``/``.ods``: python-calamine, the well-kept reader for those formats; their
  numbers are shown as Excel's General format shows them (see ``_calamine_cell``).
- ``.csv``: the standard library, with the encoding and delimiter found by
  themselves unless the mapping sets them.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import numfmt
from sync.errors import InputError
from sync.mapping import Mapping

log = logging.getLogger(__name__)

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
CALAMINE_SUFFIXES = (".xls", ".ods")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
_DELIMITERS = ",;\t|"
# csv's default of 131,072 characters per cell is less than a Kianda text area holds.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
_SAMPLE_BYTES = 64 * 1024
_BLANK = " \t\r\n\u00a0"
_MERGE = re.compile(
    rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"'
)


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
class Merge:
    """A merged range that covers a cell of the header row, and the text it shows."""

    top: int
    left: int
    bottom: int
    right: int
    text: str

    @property
    def ref(self) -> str:
        """The range as Excel names it, such as ``A1:B1``."""
        first, last = column_letter(self.left), column_letter(self.right)
        return f"{first}{self.top}:{last}{self.bottom}"


def column_letter(index: int) -> str:
    """Excel's column letter for a 0-based index (0 -> A, 26 -> AA)."""
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


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
    merged: tuple[Merge, ...] = ()
    """Merged ranges that cover a cell of the header row."""

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


@dataclass
class _Source:
    """An input opened far enough to list its stored rows, as often as needed."""

    sheet: str | None
    date1904: bool
    records: Callable[[], Iterator[tuple[int, list[Cell]]]]
    """Every stored row, the header included, with the number the user sees."""
    merges: Callable[[], list[tuple[int, int, int, int]]] = list
    """Merged ranges as (top row, left column, bottom row, right column)."""
    loose_width: bool = False
    """Whether cells past the header are a malformed row (CSV) or just ignored."""


def open_table(path: Path, mapping: Mapping) -> Table:
    """Open an input file for reading, or raise InputError saying why it cannot be."""
    source = _open_source(path, mapping)
    header_row = mapping.header_row
    above: dict[int, list[Cell]] = {}
    for number, cells in source.records():
        if number == 1 and is_results_header([cell.text for cell in cells]):
            header_row = 1  # a results file of ours, fed back as input
            log.info("%s is a kianda-sync results file: its header is row 1", path)
        if number > header_row:
            break
        above[number] = cells
    headers = _trim_headers([cell.text for cell in above.get(header_row, [])])
    where = f"Row {header_row} of {path.name}" + (
        f" (sheet '{source.sheet}')" if source.sheet else ""
    )
    if not headers:
        raise InputError(
            f"{where} is empty, so there are no column names. Set header_row in the "
            "mapping to the row that holds them."
        )
    merged = tuple(
        Merge(top, left, bottom, right, _text_at(above, top, left))
        for top, left, bottom, right in source.merges()
        if top <= header_row <= bottom
    )
    width = len(headers)

    def rows() -> Iterator[Row]:
        for number, raw in source.records():
            if number <= header_row:
                continue
            cells = tuple(raw[:width])
            if _is_blank(cells):
                continue
            problem = None
            if source.loose_width and not _is_blank(tuple(raw[width:])):
                problem = (
                    f"This row has {len(raw)} cells but the header has {width}; "
                    "a delimiter inside an unquoted value may have split it. Quote "
                    "the value or fix the row."
                )
            yield Row(number, cells, problem)

    log.debug("opened %s, sheet %s", path, source.sheet)
    return Table(path, headers, header_row, source.sheet, source.date1904, rows, merged)


def is_results_header(headers: list[str]) -> bool:
    """Whether a header row is that of a kianda-sync results file."""
    return {"Sync Status", "Source Row", "Instance ID"} <= set(headers)


def leading_rows(path: Path, mapping: Mapping, count: int) -> list[list[Cell]]:
    """The first ``count`` rows of the input as stored, header or not.

    Index 0 is row 1; a row with nothing in it is an empty list. Used to guess
    where the header is.
    """
    source = _open_source(path, mapping)
    found: list[list[Cell]] = [[] for _ in range(count)]
    for number, cells in source.records():
        if number > count:
            break
        found[number - 1] = cells
    return found


def _open_source(path: Path, mapping: Mapping) -> _Source:
    if not path.exists():
        raise InputError(
            f"The input file {path} does not exist. Check the path and run again."
        )
    suffix = path.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        return _openpyxl_source(path, mapping.sheet)
    if suffix in CALAMINE_SUFFIXES:
        return _calamine_source(path, mapping.sheet)
    if suffix in CSV_SUFFIXES:
        return _csv_source(path, mapping)
    raise InputError(
        f"The input file {path} is a '{suffix}' file; kianda-sync reads .xlsx, .xlsm, "
        ".xls, .ods and .csv. Save it in one of those formats and run again."
    )


def _text_at(rows: dict[int, list[Cell]], number: int, index: int) -> str:
    cells = rows.get(number, [])
    return cells[index].text if index < len(cells) else ""


def _is_blank(cells: tuple[Cell, ...]) -> bool:
    return all(cell.is_empty for cell in cells)


def _trim_headers(headers: list[str]) -> list[str]:
    """Drop empty header cells at the right end (formatting residue, not columns)."""
    while headers and not headers[-1].strip(_BLANK):
        headers.pop()
    return headers


def _pick_sheet(
    names: list[str], visible: list[bool], path: Path, wanted: str | None
) -> str:
    """The sheet the mapping names, or else the first visible one."""
    if wanted is not None:
        if wanted in names:
            return wanted
        raise InputError(
            f"{path.name} has no sheet named '{wanted}'; its sheets are "
            + ", ".join(f"'{name}'" for name in names)
            + ". Fix 'sheet:' in the mapping and run again."
        )
    for name, shown in zip(names, visible, strict=True):
        if shown:
            return name
    raise InputError(f"{path.name} has no visible sheet. Set 'sheet:' in the mapping.")


# --- .xlsx / .xlsm (openpyxl) ------------------------------------------------------


def _openpyxl_source(path: Path, wanted: str | None) -> _Source:
    workbook = _load_workbook(path)
    try:
        sheets = workbook.worksheets
        names = [sheet.title for sheet in sheets]
        if {"Results", "Summary"} <= set(names) and wanted not in names:
            wanted = "Results"  # a results workbook fed back with the export's mapping
        title = _pick_sheet(
            [sheet.title for sheet in sheets],
            [getattr(s, "sheet_state", "visible") == "visible" for s in sheets],
            path,
            wanted,
        )
        date1904 = bool(workbook.epoch.year == 1904)
        merged = _merged_ranges(workbook[title])
    finally:
        workbook.close()

    def records() -> Iterator[tuple[int, list[Cell]]]:
        book = _load_workbook(path)
        try:
            yield from _sheet_rows(book, book[title])
        finally:
            book.close()

    def merges() -> list[tuple[int, int, int, int]]:
        return merged

    return _Source(title, date1904, records, merges)


def _merged_ranges(sheet: Any) -> list[tuple[int, int, int, int]]:
    """The sheet's merged ranges, found in its XML (read-only sheets do not list them).

    The ``<mergeCells>`` element follows the cell data, so the part is scanned as
    bytes, which costs a small fraction of parsing it.
    """
    found: set[tuple[int, int, int, int]] = set()
    tail = b""
    with sheet._get_source() as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            block, tail = tail + chunk, (tail + chunk)[-256:]
            if b"mergeCell" not in block:
                continue
            for match in _MERGE.finditer(block):
                left, top, right, bottom = match.groups()
                found.add(
                    (
                        int(top),
                        _column_index(left.decode()),
                        int(bottom or top),
                        _column_index((right or left).decode()),
                    )
                )
    return sorted(found)


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


# --- .xls / .ods (python-calamine) -------------------------------------------------


def _calamine_source(path: Path, wanted: str | None) -> _Source:
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    with _load_calamine(path) as book:
        meta = book.sheets_metadata
        title = _pick_sheet(
            [sheet.name for sheet in meta],
            [
                s.visible == SheetVisibleEnum.Visible
                and s.typ == SheetTypeEnum.WorkSheet
                for s in meta
            ],
            path,
            wanted,
        )

    def records() -> Iterator[tuple[int, list[Cell]]]:
        with _load_calamine(path) as book:
            sheet = book.get_sheet_by_name(title)
            if sheet.start is None:
                return
            # Rows come from row 1; columns from the first column that holds data.
            pad = [EMPTY] * sheet.start[1]
            for number, raw in enumerate(sheet.iter_rows(), start=1):
                yield number, [*pad, *(_calamine_cell(value) for value in raw)]

    def merges() -> list[tuple[int, int, int, int]]:
        with _load_calamine(path) as book:
            ranges = book.get_sheet_by_name(title).merged_cell_ranges or []
        return [
            (top + 1, left, bottom + 1, right)
            for (top, left), (bottom, right) in ranges
        ]

    # calamine turns 1904-system dates into real dates itself; a plain serial
    # number in a date field is read with the 1900 system.
    return _Source(title, False, records, merges)


def _calamine_cell(value: object) -> Cell:
    """A cell from calamine, which gives values but no number formats.

    Numbers are shown as Excel's General format shows them; a whole number stored as
    a float is an int, as openpyxl gives it for .xlsx.
    """
    if value == "" or value is None:
        return EMPTY
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if isinstance(value, dt.timedelta):
        value = (dt.datetime.min + value).time()
    return Cell(value, numfmt.display(value, None))


def _load_calamine(path: Path) -> Any:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise InputError(
            f"The input file {path} cannot be opened as a {path.suffix} workbook "
            f"({exc}). Open it in Excel or LibreOffice, save it as .xlsx and run again."
        ) from None


# --- CSV ---------------------------------------------------------------------------


def _csv_source(path: Path, mapping: Mapping) -> _Source:
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
    log.debug("reading %s as %s, delimiter %r", path, codec, delimiter)

    def records() -> Iterator[tuple[int, list[Cell]]]:
        csv.field_size_limit(CSV_FIELD_LIMIT)
        try:
            with path.open(encoding=codec, newline="") as handle:
                reader = csv.reader(handle, delimiter=delimiter, strict=False)
                for number, record in enumerate(reader, start=1):
                    yield number, [Cell(text, text) for text in record]
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path.name} is not valid {encoding} text (byte {exc.start}). Set "
                "'encoding:' in the mapping to the file's real encoding and run again."
            ) from None
        except csv.Error as exc:
            raise InputError(
                f"{path.name} is not a readable CSV file: {exc}."
            ) from None

    return _Source(None, False, records, loose_width=True)


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without a byte-order mark) when the whole file decodes so.

    A UTF-16 byte-order mark (Excel's "Unicode Text") means UTF-16. Otherwise
    Windows-1252, which is what Excel on Windows writes for "CSV", unless the file is
    UTF-8 apart from a few bad bytes: mixed encodings cannot be read right either
    way, so that is refused with the place of the first bad byte.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        bom = head.startswith(codecs.BOM_UTF8)
        handle.seek(3 if bom else 0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset, seen_multibyte = (3 if bom else 0), bom
        while True:
            chunk = handle.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                if not seen_multibyte and not _has_multibyte(chunk[: exc.start]):
                    return "cp1252"
                raise InputError(
                    f"{path.name} is UTF-8 text except for a byte at position "
                    f"{offset + exc.start:,} ({_line_of(path, offset + exc.start)}), "
                    "so it mixes two encodings. Open it, save it again as 'CSV UTF-8', "
                    "and run again (or set 'encoding:' in the mapping)."
                ) from None
            if not chunk:
                break
            seen_multibyte = seen_multibyte or _has_multibyte(chunk)
            offset += len(chunk)
    return "utf-8-sig" if bom else "utf-8"


def _has_multibyte(data: bytes) -> bool:
    return any(byte >= 0x80 for byte in data)


def _line_of(path: Path, position: int) -> str:
    with path.open("rb") as handle:
        lines = handle.read(position).count(b"\n") + 1
    return f"line {lines}"


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
