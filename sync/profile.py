"""Look at whole columns before anything is sent, to refuse what would be a guess.

Some text cannot be read from one cell alone: ``03/04/2026`` is 3 April or March 4,
``1.234`` is a thousand or one point two. A column is read one way throughout, so
the engine shows every row to a ``ColumnScan`` during the pass it already makes over
the file, and ``check`` stops the run (a MappingError, before any request) when a
column's values leave the reading open, with examples and the mapping key to set.

The rules:

- A ``date``/``datetime`` column without ``input_format``: ISO text (2026-03-04) and
  real Excel dates are read. A numeric date such as ``03/04/2026`` that reads both
  day-first and month-first stops the run; the message suggests the format the
  other values prove (``13/04/2026`` can only be day first), or asks which one.
  A text date that reads only one way is an invalid row whose message gives the
  input_format to set, since one odd cell should not stop a whole file.
- An ``integer``/``decimal``/``percent`` column with neither ``decimal_separator``
  nor ``thousands_separator`` set: a text like ``1.234`` or ``1,234`` is accepted
  only when another value of the column proves the decimal point (``2.5``,
  ``1,234.50``). Otherwise, or when values prove a decimal comma, the run stops and
  asks for the separators.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.convert import Marks, date_shape, month_first_format, number_marks
from sync.errors import MappingError
from sync.mapping import BoundMapping, FieldSpec, FieldType
from sync.reader import CellError, Row, Uncalculated

_EXAMPLES = 3
_DATE_TYPES = (FieldType.DATE, FieldType.DATETIME)
_NUMBER_TYPES = (FieldType.INTEGER, FieldType.DECIMAL, FieldType.PERCENT)


@dataclass
class _Column:
    """What one watched field's text cells have shown so far."""

    name: str
    spec: FieldSpec
    index: int
    examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str, number: int, text: str) -> None:
        found = self.examples.setdefault(kind, [])
        if len(found) < _EXAMPLES:
            found.append((number, text))

    def has(self, kind: str) -> bool:
        return kind in self.examples

    def shown(self, kind: str) -> str:
        return ", ".join(f"'{text}' (row {n})" for n, text in self.examples[kind])


class ColumnScan:
    """Collects, row by row, what date and number text says about its columns."""

    def __init__(self, bound: BoundMapping) -> None:
        self.bound = bound
        self.columns: list[_Column] = []
        for name, spec in bound.mapping.fields.items():
            if spec.column is None or spec.template is not None:
                continue
            watched = (spec.type in _DATE_TYPES and spec.input_format is None) or (
                spec.type in _NUMBER_TYPES
                and not {"decimal_separator", "thousands_separator"}
                & spec.model_fields_set
            )
            if watched:
                self.columns.append(_Column(name, spec, bound.index(spec.column)))

    def add(self, row: Row) -> None:
        """Look at one row's watched cells."""
        for column in self.columns:
            cell = row.cell(column.index)
            value = cell.value
            if (
                not isinstance(value, str)
                or isinstance(value, CellError | Uncalculated)
                or cell.is_empty
            ):
                continue
            text = cell.text.strip(" \t\r\n\u00a0")
            if column.spec.type in _DATE_TYPES:
                _note_date(column, row.number, text)
            else:
                column.note(number_marks(text).value, row.number, text)

    def check(self) -> None:
        """Raise MappingError for every column whose reading is left open."""
        problems = [
            problem
            for column in self.columns
            if (problem := self._problem(column)) is not None
        ]
        if problems:
            raise MappingError(" ".join(problems))

    def _problem(self, column: _Column) -> str | None:
        mapping = self.bound.mapping
        where = (
            f"{mapping.where('fields', column.name)}: the column '{column.spec.column}'"
        )
        if column.spec.type in _DATE_TYPES:
            return _date_problem(column, where)
        return _number_problem(column, where)


def _note_date(column: _Column, number: int, text: str) -> None:
    shape = date_shape(text)
    if shape is None or shape.year_first or shape.same:
        return
    if shape.day_first and shape.month_first:
        column.note("either", number, text)
        column.formats[shape.input_format] = (
            column.formats.get(shape.input_format, 0) + 1
        )
    elif shape.day_first:
        column.note("day", number, text)
    elif shape.month_first:
        column.note("month", number, text)


def _date_problem(column: _Column, where: str) -> str | None:
    if not column.has("either"):
        return None
    day_first = max(column.formats, key=lambda fmt: column.formats[fmt])
    month_first = month_first_format(day_first)
    opening = (
        f"{where} holds dates typed as text that read both day first and month "
        f"first, such as {column.shown('either')}."
    )
    if column.has("day") and column.has("month"):
        return (
            f"{opening} Some can only be day first ({column.shown('day')}) and some "
            f"only month first ({column.shown('month')}), so the column mixes both. "
            "Make the column one order, or real Excel dates, then set input_format "
            "for the field."
        )
    if column.has("day"):
        return (
            f"{opening} Others, such as {column.shown('day')}, can only be day "
            f"first: if all are, set input_format: '{day_first}' for the field."
        )
    if column.has("month"):
        return (
            f"{opening} Others, such as {column.shown('month')}, can only be month "
            f"first: if all are, set input_format: '{month_first}' for the field."
        )
    return (
        f"{opening} kianda-sync does not guess: set input_format: '{day_first}' for "
        f"the field if they are day first, or '{month_first}' if month first."
    )


def _number_problem(column: _Column, where: str) -> str | None:
    if not column.has(Marks.EITHER.value) or (
        column.has(Marks.POINT.value) and not column.has(Marks.COMMA.value)
    ):
        return None
    opening = (
        f"{where} holds numbers typed as text such as "
        f"{column.shown(Marks.EITHER.value)}, which read as thousands or as "
        "decimals depending on the country."
    )
    if column.has(Marks.POINT.value):
        return (
            f"{opening} Some use a decimal point ({column.shown(Marks.POINT.value)}) "
            f"and some a decimal comma ({column.shown(Marks.COMMA.value)}). Make the "
            "column one style, then set decimal_separator and thousands_separator "
            "for the field."
        )
    if column.has(Marks.COMMA.value):
        return (
            f"{opening} Others, such as {column.shown(Marks.COMMA.value)}, use a "
            "decimal comma: if all do, set decimal_separator: ',' and "
            "thousands_separator: '.' for the field."
        )
    return (
        f"{opening} kianda-sync does not guess: set decimal_separator: '.' and "
        "thousands_separator: ',' for the field if 1,234.50 is how they are "
        "written, or decimal_separator: ',' and thousands_separator: '.' if "
        "1.234,50 is."
    )
