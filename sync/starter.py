"""Write a starter mapping for an input file: ``kianda-sync init``.

Every header becomes a field named as Kianda's designer names fields (camelCase of
the title, ``Employee ID`` -> ``employeeId``), with a type guessed from the whole
column: real dates are ``date``, whole numbers ``integer``, other numbers
``decimal``, yes/no columns ``boolean``; IDs with leading zeros or 16 and more digits
stay ``text``, since a number would lose what makes them IDs. The key is the first
column filled and different on every row. The result loads with ``load_mapping`` as
it is, and is meant to be read and edited: the names on the left must be the field
names of the Kianda process.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sync.convert import Marks, date_shape, month_first_format, number_marks
from sync.mapping import Mapping, normalize_header
from sync.numfmt import is_percent_format
from sync.reader import (
    CALAMINE_SUFFIXES,
    WORKBOOK_SUFFIXES,
    Cell,
    CellError,
    Uncalculated,
    column_letter,
    leading_rows,
    open_table,
)
from sync.results import TOOL_COLUMNS
from sync.schema import shipped_schema_path

HEADER_SEARCH_ROWS = 20
_TRUTHY = frozenset({"true", "false", "yes", "no", "y", "n"})
_LONG_DIGITS = 16


@dataclass
class _Column:
    """What the values of one column look like."""

    header: str
    index: int
    kinds: Counter[str] = field(default_factory=Counter)
    values: set[str] = field(default_factory=set)
    filled: int = 0
    repeated: bool = False
    formats: Counter[str] = field(default_factory=Counter)

    def add(self, cell: Cell) -> None:
        if cell.is_empty:
            return
        self.filled += 1
        text = cell.text.strip()
        if text in self.values:
            self.repeated = True
        self.values.add(text)
        self.kinds[self._kind(cell, text)] += 1

    def _kind(self, cell: Cell, text: str) -> str:
        value = cell.value
        if isinstance(value, bool) or text.casefold() in _TRUTHY:
            return "boolean"
        if isinstance(value, dt.datetime):
            return "date" if value.time() == dt.time() else "datetime"
        if isinstance(value, dt.date):
            return "date"
        if isinstance(value, int | float):
            if text.startswith("0") and len(text) > 1 and text.isdigit():
                return "id"
            if is_percent_format(cell.number_format):
                return "percent"
            return "integer" if float(value).is_integer() else "decimal"
        if isinstance(value, CellError | Uncalculated) or not isinstance(value, str):
            return "text"
        return self._text_kind(text)

    def _text_kind(self, text: str) -> str:
        if text.isdigit():
            leading_zero = text.startswith("0") and len(text) > 1
            return "id" if leading_zero or len(text) >= _LONG_DIGITS else "integer"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return "date" if moment.time() == dt.time() else "datetime"
        shape = date_shape(text)
        if shape is not None and shape.year_first + shape.day_first + shape.month_first:
            order = "year" if shape.year_first else "either"
            if shape.day_first != shape.month_first and not shape.same:
                order = "day" if shape.day_first else "month"
            self.formats[shape.input_format] += 1
            return f"textdate-{order}"
        marks = number_marks(text)
        if marks in (Marks.POINT, Marks.COMMA, Marks.EITHER):
            return f"number-{marks.value}"
        return "text"


@dataclass(frozen=True)
class _Guess:
    """A field's type and the extra lines that go with it."""

    type: str
    options: tuple[tuple[str, str], ...] = ()
    comment: str = ""


def starter_mapping(
    input_path: Path, *, process: str | None = None, sheet: str | None = None
) -> str:
    """The text of a starter mapping file for ``input_path``."""
    probe = Mapping.model_validate(
        {"process": "starter", "key": ["-"], "fields": {"-": {"value": "-"}}}
    ).model_copy(update={"sheet": sheet})
    header_row = _guess_header_row(leading_rows(input_path, probe, HEADER_SEARCH_ROWS))
    table = open_table(input_path, probe.model_copy(update={"header_row": header_row}))
    columns = [_Column(header, i) for i, header in enumerate(table.headers)]
    rows = 0
    for row in table.rows():
        rows += 1
        for column in columns:
            column.add(row.cell(column.index))

    is_workbook = input_path.suffix.lower() in WORKBOOK_SUFFIXES + CALAMINE_SUFFIXES
    lines = [
        f"# yaml-language-server: $schema={shipped_schema_path()}",
        f"# Starter mapping for {input_path.name}, written by kianda-sync init.",
        "# Check every field: the names on the left must be the field names of the",
        "# Kianda process, and each type must be how the value should be sent.",
        "",
        f"process: {_scalar(process or _slug(input_path.stem))}"
        + ("" if process else "   # the Kianda process name: check it"),
    ]
    if is_workbook and table.sheet is not None:
        lines.append(f"sheet: {_scalar(table.sheet)}")
    if header_row != 1:
        lines.append(f"header_row: {header_row}")
    lines += _key_lines(columns, rows)
    names = [normalize_header(c.header) for c in columns]
    if "Instance ID" in names:
        lines.append("instance_id_column: Instance ID")
    lines += ["", "fields:"]
    lines += _field_lines(columns, names)
    return "\n".join(lines) + "\n"


def _guess_header_row(rows: list[list[Cell]]) -> int:
    """The first row of text filling at least half the widest row.

    A title above the table fills one cell; a header may have gaps, so it need not
    be the fullest row, but its cells are text, while data rows often hold numbers.
    """
    filled = [[cell for cell in row if not cell.is_empty] for row in rows]
    widest = max((len(cells) for cells in filled), default=0)
    for number, cells in enumerate(filled, start=1):
        if len(cells) >= max(2, (widest + 1) // 2) and all(
            isinstance(cell.value, str) for cell in cells
        ):
            return number
    return 1


def _key_lines(columns: list[_Column], rows: int) -> list[str]:
    for column in columns:
        header = normalize_header(column.header)
        usable = header and header not in TOOL_COLUMNS
        if usable and rows and column.filled == rows and not column.repeated:
            return [
                "key:                # filled and different on every row",
                f"  - {_scalar(header)}",
            ]
    first = next((c for c in columns if normalize_header(c.header)), columns[0])
    return [
        "# No column is filled and different on every row: list the column(s) that",
        "# together identify a row from one run to the next.",
        "key:",
        f"  - {_scalar(normalize_header(first.header))}",
    ]


def _field_lines(columns: list[_Column], names: list[str]) -> list[str]:
    lines: list[str] = []
    used: set[str] = set()
    counts = Counter(name for name in names if name)
    for column, header in zip(columns, names, strict=True):
        letter = column_letter(column.index)
        if not header:
            lines.append(f"  # column {letter} has no header, so it cannot be mapped")
            continue
        if counts[header] > 1:
            lines.append(
                f"  # '{header}' (column {letter}) appears {counts[header]} times: "
                "rename it in the sheet to map it"
            )
            continue
        if header in TOOL_COLUMNS:
            continue
        name = _unique(field_name(header), used)
        guess = _guess_type(column)
        lines.append(f"  {name}:")
        lines.append(f"    column: {_scalar(header)}")
        if guess.type != "text":
            lines.append(f"    type: {guess.type}")
        lines += [f"    {key}: {value}" for key, value in guess.options]
        if guess.comment:
            lines.append(f"    # {guess.comment}")
    return lines


def _guess_type(column: _Column) -> _Guess:
    kinds = set(column.kinds)
    if not kinds or "text" in kinds or "id" in kinds:
        return _Guess("text")
    if kinds == {"boolean"}:
        return _Guess("boolean")
    if kinds <= {"date", "datetime"}:
        return _Guess("datetime" if "datetime" in kinds else "date")
    if kinds <= {"date", "datetime"} | {k for k in kinds if k.startswith("textdate-")}:
        return _date_guess(column, kinds)
    if kinds == {"percent"}:
        return _Guess("percent")
    if kinds <= {"integer"}:
        return _Guess("integer")
    if kinds <= {"integer", "decimal", "number-point"}:
        return _Guess("decimal")
    if kinds <= {"integer", "number-comma"}:
        return _Guess(
            "decimal",
            (("decimal_separator", '","'), ("thousands_separator", '"."')),
        )
    if kinds <= {"integer", "number-either"}:
        return _Guess(
            "text",
            comment="numbers such as 1.234 read as a thousand or as a fraction: to "
            "send numbers, set type: decimal with decimal_separator and "
            "thousands_separator",
        )
    return _Guess("text")


def _date_guess(column: _Column, kinds: set[str]) -> _Guess:
    day_first = column.formats.most_common(1)[0][0]
    orders = {k.removeprefix("textdate-") for k in kinds if k.startswith("textdate-")}
    if orders <= {"year"} or (orders <= {"day", "either"} and "day" in orders):
        fmt = day_first
    elif orders <= {"month", "either"} and "month" in orders:
        fmt = month_first_format(day_first)
    else:
        return _Guess(
            "text",
            comment="dates typed as text that read both day first and month first: "
            f"to send dates, set type: date and input_format: '{day_first}' or "
            f"'{month_first_format(day_first)}'",
        )
    kind = "datetime" if "%H" in fmt or "datetime" in kinds else "date"
    return _Guess(kind, (("input_format", _scalar(fmt)),))


def field_name(header: str) -> str:
    """camelCase of a header, as Kianda's designer names a field from its title."""
    plain = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z0-9]+", plain)
    if not words:
        return "field"
    name = words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])
    return f"field{name[:1].upper()}{name[1:]}" if name[0].isdigit() else name


def _unique(name: str, used: set[str]) -> str:
    candidate, number = name, 2
    while candidate in used:
        candidate, number = f"{name}{number}", number + 1
    used.add(candidate)
    return candidate


def _slug(stem: str) -> str:
    words = re.findall(r"[a-z0-9]+", stem.lower())
    return "-".join(words) or "my-process"


def _scalar(text: str) -> str:
    """A YAML scalar for a string: plain when it reads back the same, else quoted."""
    try:
        plain = yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        plain = False
    if plain and "#" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)
