"""Write-only worksheets that are safe to open and easy to read.

The results workbook and the reconciliation report share one look: a bold, frozen
header with an autofilter, columns as wide as their texts (within a cap), status
words on a traffic-light colour, and every text stored as text, so nothing a user
typed can run as a formula. Everything streams through openpyxl's write-only mode;
column widths must be known before the first row is written, so a sheet holds back
its first rows (a bounded number) to measure them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

EXCEL_CELL_LIMIT = 32_767
CUT_NOTE = " [cut: the full text is longer than an Excel cell can hold]"
# Rows a sheet holds back to measure its column widths before streaming the rest.
MEASURED_ROWS = 1_000
MIN_WIDTH = 6.0
MAX_WIDTH = 50.0
WRAPPED_WIDTH = 60.0
# Excel's default row height for its default font (Calibri 11), and its largest.
LINE_HEIGHT = 15.0
MAX_ROW_HEIGHT = 409.0
FONT = "Calibri"
# Characters XML 1.0 cannot hold; openpyxl refuses them, so they are shown as U+FFFD.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class Tone(Enum):
    """A traffic-light colour for a status word: fill and font, as Excel's styles."""

    GOOD = ("C6EFCE", "006100")
    NOTE = ("FFEB9C", "9C5700")
    BAD = ("FFC7CE", "9C0006")


@dataclass(frozen=True, slots=True)
class Mark:
    """Text (or a count) with a look: on a coloured background, like a row's status,
    or set to the right, like the number it was in the input."""

    text: str | int
    tone: Tone | None = None
    right: bool = False


@dataclass(frozen=True, slots=True)
class Typed:
    """An input's real date, time or number, kept as one in its own number format."""

    value: dt.date | dt.time | int | float
    number_format: str


Item = str | int | Mark | Typed
"""What a cell can hold: text (always stored as text), a count, a status, a typed
input value."""


def xlsx_text(text: str) -> str:
    """Text an .xlsx cell can hold: illegal characters replaced, overlong text cut."""
    text = _ILLEGAL.sub("\ufffd", text)
    if len(text) > EXCEL_CELL_LIMIT:
        text = text[: EXCEL_CELL_LIMIT - len(CUT_NOTE)] + CUT_NOTE
    return text


def text_width(text: str) -> float:
    """How many character widths the longest line of a text takes on screen."""
    return max((_line_width(line) for line in text.split("\n")), default=0.0)


def text_lines(text: str, width: float) -> int:
    """How many lines a text wraps to in a column ``width`` characters wide."""
    # A column's width counts digits; ordinary text is narrower, about 1.2 per digit.
    usable = max(1.0, (width - 1) * 1.2)
    return sum(
        max(1, math.ceil(_line_width(line) / usable)) for line in text.split("\n")
    )


def _line_width(line: str) -> float:
    if line.isascii():
        return float(len(line))
    return float(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line))


class _Look:
    """The styles of one workbook.

    A look that many cells share (a status colour, wrapped text, a date format) is
    registered once as a named style, and a cell takes it by name: that copies a
    ready style, where setting font, fill and alignment one by one would cost more
    than writing the cell.
    """

    def __init__(self, book: Any) -> None:
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        self.book = book
        self.header_font = Font(name=FONT, size=11, bold=True)
        self.header_fill = PatternFill("solid", start_color="D9E1F2")
        self.header_border = Border(bottom=Side(style="thin", color="8EA9DB"))
        self.title_font = Font(name=FONT, size=14, bold=True)
        self.label_font = Font(name=FONT, size=11, bold=True)
        self.wrap = Alignment(vertical="top", wrap_text=True)
        self._named: set[str] = set()

    def named(
        self,
        tone: Tone | None,
        align: str | None,
        number_format: str | None,
        horizontal: str | None = None,
    ) -> str | None:
        """The name of the style with this colour, alignment and number format."""
        parts = [tone.name.lower() if tone else "", align, horizontal, number_format]
        if not any(parts):
            return None
        name = "kianda-sync " + " ".join(p for p in parts if p)
        if name not in self._named:
            style = _named_style(name, tone, align, number_format, horizontal)
            self.book.add_named_style(style)
            self._named.add(name)
        return name


def _named_style(
    name: str,
    tone: Tone | None,
    align: str | None,
    number_format: str | None,
    horizontal: str | None,
) -> Any:
    from openpyxl.styles import Alignment, Font, NamedStyle, PatternFill

    style = NamedStyle(name=name, font=Font(name=FONT, size=11))
    if tone is not None:
        style.fill = PatternFill("solid", start_color=tone.value[0])
        style.font = Font(name=FONT, size=11, color=tone.value[1])
    if align is not None or horizontal is not None:
        style.alignment = Alignment(
            horizontal=horizontal,
            vertical="top" if align is not None else None,
            wrap_text=align == WRAP,
        )
    if number_format is not None:
        style.number_format = number_format
    return style


WRAP = "wrap"
TOP = "top"
_LOOKS: weakref.WeakKeyDictionary[Any, _Look] = weakref.WeakKeyDictionary()


def _look(book: Any) -> _Look:
    look = _LOOKS.get(book)
    if look is None:
        look = _LOOKS[book] = _Look(book)
    return look


def _cell(
    sheet: Any, item: Item, align: str | None = None, *, numbers: str | None = None
) -> Any:
    """A write-only cell for one item; text is always stored as text.

    ``numbers`` aligns a number; by default a count is centred (a row number, not a
    quantity) and a typed input value keeps Excel's alignment.
    """
    from openpyxl.cell import WriteOnlyCell

    tone = number_format = None
    value = item.text if isinstance(item, Mark) else item
    if isinstance(value, Typed):
        cell = WriteOnlyCell(sheet, value=value.value)
        number_format, horizontal = value.number_format, numbers
    elif isinstance(value, int):
        cell = WriteOnlyCell(sheet, value=value)
        horizontal = numbers or "center"
    else:
        cell = WriteOnlyCell(sheet, value=xlsx_text(value))
        cell.data_type = "s"  # text, even when it starts with '='
        horizontal = None
    if isinstance(item, Mark):
        tone = item.tone
        horizontal = "right" if item.right else horizontal
    name = _look(sheet.parent).named(tone, align, number_format, horizontal)
    if name is not None:
        cell.style = name
    return cell


def _item_text(item: Item) -> str:
    if isinstance(item, Typed):
        return item.number_format
    return str(item.text if isinstance(item, Mark) else item)


def _print_setup(sheet: Any, *, title_row: bool) -> None:
    """Print (and export to PDF) across the page: all columns on one page's width.

    A table prints with grid lines and its header row repeated on every page.
    """
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    if title_row:
        sheet.print_options.gridLines = True
        sheet.print_title_rows = "1:1"


class TableSheet:
    """A write-only sheet holding one table: a header row, then data rows."""

    def __init__(
        self,
        book: Any,
        title: str,
        header: Sequence[str],
        *,
        wrap: Collection[str] = (),
    ) -> None:
        self._sheet = book.create_sheet(title)
        self._header = list(header)
        self._wrap = [name in wrap for name in self._header]
        self._widths = [MIN_WIDTH for _ in self._header]
        self._held: list[Sequence[Item]] | None = []
        self._written = 0
        self.rows = 0

    def append(self, items: Sequence[Item]) -> None:
        """Add one data row (held back while the column widths are measured)."""
        self.rows += 1
        if self._held is None:
            self._write(items)
            return
        self._held.append(items)
        if len(self._held) >= MEASURED_ROWS:
            self._start()

    def close(self) -> None:
        """Write what is held back, and filter over every row written."""
        from openpyxl.utils import get_column_letter

        if self._held is not None:
            self._start()
        last = get_column_letter(max(len(self._header), 1))
        self._sheet.auto_filter.ref = f"A1:{last}{self.rows + 1}"

    def _start(self) -> None:
        """Size the columns from the rows held back, then write them out."""
        from openpyxl.utils import get_column_letter

        held, self._held = self._held or [], None
        for index, name in enumerate(self._header):
            seen = [
                text_width(_item_text(row[index])) for row in held if index < len(row)
            ]
            widest = max([text_width(name) * 1.15, *seen]) + 2
            cap = WRAPPED_WIDTH if self._wrap[index] else MAX_WIDTH
            self._widths[index] = round(min(cap, max(MIN_WIDTH, widest)), 1)
            letter = get_column_letter(index + 1)
            self._sheet.column_dimensions[letter].width = self._widths[index]
        self._sheet.freeze_panes = "A2"
        _print_setup(self._sheet, title_row=True)

        look = _look(self._sheet.parent)
        header = []
        for name in self._header:
            cell = _cell(self._sheet, name)
            cell.font, cell.fill = look.header_font, look.header_fill
            cell.border, cell.alignment = look.header_border, look.wrap
            header.append(cell)
        self._append(header, 1)
        for row in held:
            self._write(row)

    def _write(self, items: Sequence[Item]) -> None:
        """Write a row, as tall as its longest wrapped text needs.

        Only cells that wrap, and the cells of a row taller than one line, get an
        alignment: styling every cell would cost more than all the rest.
        """
        texts = [_item_text(item) for item in items]
        wraps = [
            bool(text) and (("\n" in text) or (i < len(self._wrap) and self._wrap[i]))
            for i, text in enumerate(texts)
        ]
        lines = max(
            [1]
            + [
                text_lines(text, self._widths[i])
                for i, text in enumerate(texts)
                if wraps[i] and i < len(self._widths)
            ]
        )
        top = TOP if lines > 1 else None
        cells = [
            _cell(self._sheet, item, WRAP if wraps[i] else top)
            for i, item in enumerate(items)
        ]
        self._append(cells, lines)

    def _append(self, cells: list[Any], lines: int) -> None:
        self._written += 1
        dimensions = self._sheet.row_dimensions
        if lines > 1:
            dimensions[self._written].height = min(MAX_ROW_HEIGHT, LINE_HEIGHT * lines)
        self._sheet.append(cells)
        dimensions.pop(self._written, None)  # written: keep memory bounded


def write_pairs(sheet: Any, heading: str, lines: Sequence[tuple[str, Item]]) -> None:
    """Fill a sheet with name/value lines under a heading, such as a run's summary."""
    look = _look(sheet.parent)
    label_width = max([MIN_WIDTH, *(text_width(name) * 1.15 + 3 for name, _ in lines)])
    value_width = 90.0
    sheet.column_dimensions["A"].width = round(label_width, 1)
    sheet.column_dimensions["B"].width = value_width
    _print_setup(sheet, title_row=False)
    heading_cell = _cell(sheet, heading)
    heading_cell.font = look.title_font
    sheet.row_dimensions[1].height = 22
    sheet.append([heading_cell])
    sheet.append([])
    for row, (name, value) in enumerate(lines, start=3):
        label = _cell(sheet, name, TOP)
        label.font = look.label_font
        height = text_lines(_item_text(value), value_width)
        if height > 1:
            sheet.row_dimensions[row].height = min(MAX_ROW_HEIGHT, LINE_HEIGHT * height)
        sheet.append([label, _cell(sheet, value, WRAP, numbers="left")])


def move_into_place(tmp: Path, path: Path, what: str, book: Any = None) -> None:
    """Save ``book`` (if given) to ``tmp``, then put it at ``path`` in one step.

    A half-written file never takes the place of a good one; a failure (most often
    Excel holding the file open) is an InputError that says what to do.
    """
    from sync.errors import InputError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if book is not None:
            book.save(tmp)
        tmp.replace(path)
    except OSError as exc:
        raise InputError(
            f"The {what} {path} cannot be written ({exc.strerror}). If it is open in "
            "Excel, close it; or choose another place with -o."
        ) from None
