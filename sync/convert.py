"""Turn one row's cells into the FieldsMappings Kianda receives, or into problems.

Nothing here raises for bad data: a cell that does not convert becomes a ``Problem``
record naming the column and the value as the user sees it, and the row is invalid.
Values are always sent as JSON strings, exact: no float noise, no lost zeros.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import zoneinfo
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sync import numfmt
from sync.mapping import (
    BoundMapping,
    EmptyPolicy,
    FieldSpec,
    FieldType,
    render_template,
)
from sync.reader import Cell, CellError, Row, Uncalculated

_BLANK = " \t\r\n\u00a0"
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
_CURRENCY = re.compile(r"^[A-Z]{3}\s*|\s*[A-Z]{3}$|[$€£¥₹₩₽¤]")
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)


class Slug(StrEnum):
    """Stable names of row problems, for filtering and for tests."""

    MISSING_VALUE = "missing-value"
    BAD_NUMBER = "bad-number"
    BAD_DATE = "bad-date"
    BAD_BOOLEAN = "bad-boolean"
    UNKNOWN_CHOICE = "unknown-choice"
    TOO_LONG = "too-long"
    BAD_PATTERN = "bad-pattern"
    EXCEL_ERROR = "excel-error"
    UNCALCULATED = "uncalculated-formula"
    MISSING_KEY = "missing-key"
    DUPLICATE_KEY = "duplicate-key"
    MALFORMED_ROW = "malformed-row"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a row cannot be sent, in words an operations admin can act on."""

    slug: Slug
    message: str
    column: str | None = None


@dataclass(frozen=True, slots=True)
class FieldValue:
    """One FieldsMappings entry."""

    fieldname: str
    text: str
    value: str

    def as_json(self) -> dict[str, str]:
        """The entry as Kianda's API spells it."""
        return {"fieldname": self.fieldname, "text": self.text, "value": self.value}


@dataclass(slots=True)
class ConvertedRow:
    """A row after conversion: its identity, the fields to send, and any problems."""

    number: int
    key: str | None
    instance_id: str | None
    fields: list[FieldValue] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the row can be sent."""
        return not self.problems


class _Invalid(Exception):
    """A cell did not convert; carries the problem to record."""

    def __init__(self, slug: Slug, message: str) -> None:
        super().__init__(message)
        self.slug = slug
        self.message = message


def clean_text(text: str, spec: FieldSpec | None = None) -> str:
    """Trim blanks at both ends (unless ``trim: false``) and make NBSPs plain spaces."""
    if spec is not None and not spec.trim:
        return text
    return text.strip(_BLANK).replace("\u00a0", " ")


def row_key(bound: BoundMapping, row: Row) -> str | None:
    """The row's natural key as the user sees it, or None when every part is empty."""
    parts = [clean_text(row.cell(bound.index(c)).text) for c in bound.mapping.key]
    if not any(parts):
        return None
    return " / ".join(parts)


def convert_row(bound: BoundMapping, row: Row, date1904: bool = False) -> ConvertedRow:
    """Convert every mapped field of a row; problems are collected, not raised."""
    mapping = bound.mapping
    instance_id = row_instance_id(bound, row)

    result = ConvertedRow(row.number, row_key(bound, row), instance_id)
    if row.problem:
        result.problems.append(Problem(Slug.MALFORMED_ROW, row.problem))
    if mapping.key and result.key is None and instance_id is None:
        columns = ", ".join(f"'{c}'" for c in mapping.key)
        result.problems.append(
            Problem(
                Slug.MISSING_KEY,
                f"The key column {columns} is empty, so this row could not be matched "
                "on a later run. Fill it in.",
                mapping.key[0],
            )
        )

    for name, spec in mapping.fields.items():
        try:
            converted = _convert_field(bound, row, spec, date1904)
        except _Invalid as exc:
            column = spec.column or spec.template
            result.problems.append(Problem(exc.slug, exc.message, column))
            continue
        if converted is None:
            continue
        text, value = converted
        result.fields.append(FieldValue(name, text, value))
    return result


# Instance IDs share the duplicates table with keys, under a prefix no key can have.
_ID = "\x00id:"


def repeated_keys(bound: BoundMapping, rows: Iterable[Row]) -> dict[str, list[int]]:
    """Row numbers of every key, or instance ID, that appears more than once.

    Every key is counted in a private temporary SQLite database, which spills to
    disk, rather than in a dict: a file of any length is checked in bounded memory.
    """

    def entries() -> Iterator[tuple[str, int]]:
        for row in rows:
            key = row_key(bound, row)
            if key is not None:
                yield key, row.number
            instance_id = row_instance_id(bound, row)
            if instance_id is not None:
                yield _ID + instance_id, row.number

    repeated: dict[str, list[int]] = {}
    with closing(sqlite3.connect("")) as db:
        db.execute("CREATE TABLE seen (key TEXT NOT NULL, row INTEGER NOT NULL)")
        db.executemany("INSERT INTO seen VALUES (?, ?)", entries())
        for key, number in db.execute(
            "SELECT key, row FROM seen WHERE key IN "
            "(SELECT key FROM seen GROUP BY key HAVING COUNT(*) > 1) ORDER BY row"
        ):
            repeated.setdefault(key, []).append(number)
    return repeated


def convert_checked(
    bound: BoundMapping,
    row: Row,
    duplicates: dict[str, list[int]],
    date1904: bool = False,
) -> ConvertedRow:
    """Convert a row as ``convert_row`` does, and refuse it if its key is repeated.

    ``duplicates`` comes from ``repeated_keys`` over the whole file: rows sharing a
    key, or an instance ID, are all invalid, since it is not clear which one is right.
    """
    converted = convert_row(bound, row, date1904)

    def others(entry: str) -> str:
        return ", ".join(str(n) for n in duplicates[entry] if n != row.number)

    if converted.instance_id is not None and _ID + converted.instance_id in duplicates:
        converted.problems.insert(
            0,
            Problem(
                Slug.DUPLICATE_KEY,
                f"The Instance ID '{converted.instance_id}' is also on row "
                f"{others(_ID + converted.instance_id)}; two rows would overwrite one "
                "instance in turn. Keep the ID on the right row only.",
                bound.instance_id_column,
            ),
        )
    if converted.key is not None and converted.key in duplicates:
        converted.problems.insert(
            0,
            Problem(
                Slug.DUPLICATE_KEY,
                f"The key '{converted.key}' is also on row {others(converted.key)}; "
                "rows with the same key are not sent, since it is not clear which one "
                "is right. Keep one of them.",
            ),
        )
    return converted


def row_instance_id(bound: BoundMapping, row: Row) -> str | None:
    """The row's Instance ID cell, trimmed, when the sheet has that column."""
    if bound.instance_id_column is None:
        return None
    return clean_text(row.cell(bound.index(bound.instance_id_column)).text) or None


def _convert_field(
    bound: BoundMapping, row: Row, spec: FieldSpec, date1904: bool
) -> tuple[str, str] | None:
    """(text, value) for one field, None to leave it out, or raise _Invalid."""
    mapping = bound.mapping
    texts = {c: clean_text(row.cell(bound.index(c)).text, spec) for c in spec.columns()}

    if spec.column is None and spec.template is None:
        assert spec.value is not None
        value = render_template(spec.value, texts)
        text = render_template(spec.text, texts) if spec.text is not None else value
        return text, value

    if spec.column is not None:
        cell = row.cell(bound.index(spec.column))
        where = f"'{spec.column}'"
    else:
        assert spec.template is not None
        rendered = render_template(spec.template, texts)
        filled = any(texts.values())
        cell = Cell(rendered if filled else "", rendered if filled else "")
        where = f"the template '{spec.template}'"

    if isinstance(cell.value, Uncalculated):
        raise _Invalid(
            Slug.UNCALCULATED,
            f"{where} holds a formula {cell.text} whose result was never saved in the "
            "file. Open the file in Excel, let it calculate, save it and run again.",
        )
    if cell.is_empty:
        if spec.required:
            raise _Invalid(Slug.MISSING_VALUE, f"{where} is empty but required.")
        if spec.default is not None:
            cell = Cell(spec.default, spec.default)
        elif mapping.empty_policy(spec) is EmptyPolicy.CLEAR:
            return "", ""
        else:
            return None

    if isinstance(cell.value, CellError):
        raise _Invalid(
            Slug.EXCEL_ERROR,
            f"{where} shows the Excel error {cell.text}. Fix the formula in the sheet.",
        )

    text, value = _typed(spec, cell, where, date1904)
    if spec.text is not None:
        text = render_template(spec.text, texts)
    if spec.value is not None:
        value = render_template(spec.value, texts)
    return text, value


def _typed(spec: FieldSpec, cell: Cell, where: str, date1904: bool) -> tuple[str, str]:
    """Convert a non-empty cell according to the field's type."""
    shown = clean_text(cell.text, spec)
    match spec.type:
        case FieldType.TEXT:
            text = _text(spec, shown, where)
            return text, text
        case FieldType.INTEGER:
            number = _number(spec, cell, where)
            if number != number.to_integral_value():
                raise _Invalid(
                    Slug.BAD_NUMBER, f"{where} holds '{shown}', not a whole number."
                )
            text = str(int(number))
            return text, text
        case FieldType.DECIMAL:
            text = _plain(_number(spec, cell, where))
            return text, text
        case FieldType.PERCENT:
            text = _plain(_percent(spec, cell, where))
            return text, text
        case FieldType.DATE:
            day = _moment(spec, cell, where, date1904, want_time=False)
            text = day.strftime(spec.format or "%Y-%m-%d")
            return text, text
        case FieldType.DATETIME:
            moment = _moment(spec, cell, where, date1904, want_time=True)
            text = moment.strftime(spec.format) if spec.format else moment.isoformat()
            return text, text
        case FieldType.BOOLEAN:
            flag = _boolean(cell, shown, where)
            return (spec.true_text if flag else spec.false_text), str(flag).lower()
        case FieldType.CHOICE:
            return shown, _choice(spec, shown, where)
    raise AssertionError(spec.type)  # pragma: no cover - the enum is exhaustive


def _text(spec: FieldSpec, text: str, where: str) -> str:
    if spec.upper:
        text = text.upper()
    elif spec.lower:
        text = text.lower()
    if spec.max_length is not None and len(text) > spec.max_length:
        raise _Invalid(
            Slug.TOO_LONG,
            f"{where} holds {len(text)} characters; at most {spec.max_length} "
            "are allowed.",
        )
    if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
        raise _Invalid(
            Slug.BAD_PATTERN,
            f"{where} holds '{text}', which does not match the pattern "
            f"'{spec.pattern}'.",
        )
    return text


def _plain(number: Decimal) -> str:
    """A decimal in plain notation, never with an exponent."""
    text = format(number, "f")
    return "0" if text in ("-0", "-0.0") else text


def _number(spec: FieldSpec, cell: Cell, where: str) -> Decimal:
    """The exact number in a cell: number cells as stored, text as written."""
    value = cell.value
    if isinstance(value, bool):
        raise _Invalid(Slug.BAD_NUMBER, f"{where} holds {cell.text}, not a number.")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(numfmt.general(value))
    if isinstance(value, dt.date | dt.time):
        raise _Invalid(Slug.BAD_NUMBER, f"{where} holds the date {cell.text}.")
    return parse_number(clean_text(cell.text), spec, where)


def parse_number(text: str, spec: FieldSpec, where: str) -> Decimal:
    """Read a number typed as text: grouping, currency signs and (negatives) allowed."""
    decimal_sep = spec.decimal_separator
    thousands = spec.thousands_separator
    if thousands is None:
        thousands = "," if decimal_sep == "." else "."

    negative, body = _number_body(text, keep_apostrophe=thousands == "'")
    if thousands:
        whole, _, fraction = body.partition(decimal_sep)
        groups = whole.split(thousands)
        grouped = len(groups) > 1
        if thousands in fraction or (
            grouped
            and not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]))
        ):
            raise _Invalid(
                Slug.BAD_NUMBER,
                f"{where} holds '{text}', which is not a number written with "
                f"'{thousands}' between thousands and '{decimal_sep}' before decimals.",
            )
        body = body.replace(thousands, "")
    body = body.replace(decimal_sep, ".")

    if not _PLAIN_NUMBER.match(body):
        raise _Invalid(Slug.BAD_NUMBER, f"{where} holds '{text}', not a number.")
    try:
        number = Decimal(body)
    except InvalidOperation:  # pragma: no cover - the pattern above rules it out
        raise _Invalid(Slug.BAD_NUMBER, f"{where} holds '{text}'.") from None
    return number.copy_negate() if negative else number


def _number_body(text: str, *, keep_apostrophe: bool = False) -> tuple[bool, str]:
    """(negative, digits and marks) of a number typed as text, without its dressing.

    Accounting brackets, a sign, currency signs or codes and the spaces (or
    apostrophes) some locales group thousands with are removed.
    """
    body = text.strip()
    negative = body.startswith("(") and body.endswith(")")
    if negative:
        body = body[1:-1]
    body = _CURRENCY.sub("", body).strip()
    if body.startswith("-"):
        negative, body = not negative, body[1:].strip()
    spaces = r"[ \u00a0\u202f]" if keep_apostrophe else r"[ \u00a0\u202f']"
    return negative, re.sub(spaces, "", body)


class Marks(StrEnum):
    """What a number typed as text says about its decimal and thousands marks."""

    NONE = "none"
    """Digits only: reads the same under any convention."""
    EITHER = "either"
    """Like ``1.234`` or ``1,234``: a thousand or a fraction, depending on the file."""
    POINT = "point"
    """Only a decimal point reads it, like ``2.5`` or ``1,234.50``."""
    COMMA = "comma"
    """Only a decimal comma reads it, like ``2,5`` or ``1.234,50``."""
    OTHER = "other"
    """Not a number in either convention."""


_EITHER = re.compile(r"^[1-9]\d{0,2}[.,]\d{3}$")
_POINT = re.compile(r"^(\d{1,3}(,\d{3})+(\.\d+)?|\d*\.\d+)$")
_COMMA = re.compile(r"^(\d{1,3}(\.\d{3})+(,\d+)?|\d*,\d+)$")


def number_marks(text: str) -> Marks:
    """Which decimal convention a number typed as text can be read with."""
    body = _number_body(text.strip().removesuffix("%").strip())[1]
    if body.isdigit():
        return Marks.NONE
    if _EITHER.match(body):
        return Marks.EITHER
    if _POINT.match(body):
        return Marks.POINT
    if _COMMA.match(body):
        return Marks.COMMA
    return Marks.OTHER


@dataclass(frozen=True, slots=True)
class DateShape:
    """A date typed as text with numbers only, such as ``03/04/2026 09:30``."""

    day_first: bool
    """It is a real date read as day/month/year."""
    month_first: bool
    """It is a real date read as month/day/year."""
    same: bool
    """Day and month are equal, so both readings give one date."""
    year_first: bool
    input_format: str
    """Its strptime format, day first (``month_first_format`` swaps the two)."""


_NUMERIC_DATE = re.compile(
    r"^(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    r"(?:(?P<gap>[ T])(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?$"
)


def date_shape(text: str) -> DateShape | None:
    """The readings of a numeric date typed as text; None for anything else."""
    found = _NUMERIC_DATE.match(text.strip())
    if found is None:
        return None
    a, b, c, sep = found["a"], found["b"], found["c"], found["sep"]
    clock = ""
    if found["h"] is not None:
        clock = found["gap"] + "%H:%M" + (":%S" if found["s"] is not None else "")
    if len(a) == 4:
        ok = _real_date(int(a), int(b), int(c))
        fmt = f"%Y{sep}%m{sep}%d{clock}"
        return DateShape(False, False, False, ok, fmt)
    if len(c) not in (2, 4):
        return None
    year = int(c) if len(c) == 4 else 2000 + int(c)
    fmt = f"%d{sep}%m{sep}{'%Y' if len(c) == 4 else '%y'}{clock}"
    return DateShape(
        _real_date(year, int(b), int(a)),
        _real_date(year, int(a), int(b)),
        int(a) == int(b),
        False,
        fmt,
    )


def month_first_format(day_first_format: str) -> str:
    """The same shape read month first: ``%d/%m/%Y`` -> ``%m/%d/%Y``."""
    return day_first_format.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _percent(spec: FieldSpec, cell: Cell, where: str) -> Decimal:
    """Percentage points: 0.15 shown as 15% is 15; the text '15%' is 15.

    A number cell without a number format (read from .xls or .ods, whose reader
    gives none) could be 0.15 shown as 15% or 15 points: that is refused.
    """
    if isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
        if cell.number_format is None:
            raise _Invalid(
                Slug.BAD_NUMBER,
                f"{where} holds the number {cell.text}, and this file type does not "
                "say whether it is shown as a percentage. Type it as text such as "
                "15%, or save the file as .xlsx and run again.",
            )
        number = _number(spec, cell, where)
        if numfmt.is_percent_format(cell.number_format):
            number = (number * 100).normalize()
            number = (
                number.quantize(Decimal(1))
                if number == number.to_integral()
                else number
            )
        return number
    text = clean_text(cell.text)
    return parse_number(text.removesuffix("%").strip(), spec, where)


def _moment(
    spec: FieldSpec, cell: Cell, where: str, date1904: bool, *, want_time: bool
) -> dt.datetime:
    """The date or date-time a cell holds, aware when a time is wanted."""
    value = cell.value
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        epoch = _EPOCH_1904 if date1904 else _EPOCH_1900
        moment = epoch + dt.timedelta(days=float(value))
        moment = moment.replace(microsecond=0)
    else:
        moment = _parse_date_text(spec, clean_text(cell.text), where)

    if not want_time:
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(spec.timezone or "UTC"))
    return moment


def _parse_date_text(spec: FieldSpec, text: str, where: str) -> dt.datetime:
    if spec.input_format:
        try:
            return dt.datetime.strptime(text, spec.input_format)
        except ValueError:
            example = dt.datetime(2026, 3, 4, 9, 30).strftime(spec.input_format)
            raise _Invalid(
                Slug.BAD_DATE,
                f"{where} holds '{text}', which is not a date written as "
                f"{spec.input_format} (for example {example}).",
            ) from None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    shape = date_shape(text)
    if shape is not None and shape.year_first + shape.day_first + shape.month_first:
        fmt = shape.input_format
        if shape.month_first and not shape.day_first:
            fmt = month_first_format(fmt)
        hint = f"input_format: '{fmt}' for the field"
    else:
        hint = "input_format for the field (for example '%d/%m/%Y')"
    raise _Invalid(
        Slug.BAD_DATE,
        f"{where} holds '{text}', which is not a date in ISO form (2026-03-04). Make "
        f"the cell a real Excel date, or set {hint}.",
    )


def _boolean(cell: Cell, shown: str, where: str) -> bool:
    value = cell.value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = shown.casefold()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _Invalid(
        Slug.BAD_BOOLEAN,
        f"{where} holds '{shown}'; expected yes/no, true/false, y/n or 1/0.",
    )


def _choice(spec: FieldSpec, shown: str, where: str) -> str:
    assert spec.choices is not None
    if shown in spec.choices:
        return spec.choices[shown]
    folded = [
        code
        for text, code in spec.choices.items()
        if text.casefold() == shown.casefold()
    ]
    if len(folded) == 1:
        return folded[0]
    allowed = ", ".join(f"'{text}'" for text in spec.choices)
    raise _Invalid(
        Slug.UNKNOWN_CHOICE, f"{where} holds '{shown}', which is not one of {allowed}."
    )
