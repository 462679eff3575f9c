"""Tests of turning a row's cells into FieldsMappings text and value, or problems."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from sync import numfmt
from sync.convert import (
    ConvertedRow,
    Slug,
    clean_text,
    convert_row,
    parse_number,
    row_key,
)
from sync.mapping import BoundMapping, FieldSpec, FieldType, bind, load_mapping
from sync.reader import EMPTY, Cell, CellError, Row, Uncalculated


def cell(value: object, number_format: str | None = None) -> Cell:
    """A cell as the reader makes it: the value and the text Excel shows for it."""
    if value is None:
        return EMPTY
    return Cell(value, numfmt.display(value, number_format), number_format)


def bound_mapping(
    fields: dict[str, Any], headers: list[str], **top: Any
) -> BoundMapping:
    """Write a mapping file with these fields, load it and bind it to the headers."""
    path = Path("mapping.yaml")  # the hermetic fixture runs each test in tmp_path
    document = {"process": "staff", "key": ["Ref"], **top, "fields": fields}
    path.write_text(
        yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return bind(load_mapping(path), headers, "input.xlsx")


def convert_one(
    spec: dict[str, Any], value: Cell, *, row: int = 2, **top: Any
) -> ConvertedRow:
    """Convert a row of key R-1 and one cell read by the field ``spec``."""
    column = spec.get("column", "Value")
    bound = bound_mapping({"field": spec}, ["Ref", column], **top)
    return convert_row(bound, Row(row, (Cell("R-1", "R-1"), value)))


def sent(result: ConvertedRow) -> list[tuple[str, str, str]]:
    """The FieldsMappings a row sends, as (fieldname, text, value)."""
    return [(field.fieldname, field.text, field.value) for field in result.fields]


def problems(result: ConvertedRow) -> list[tuple[int, str | None, Slug]]:
    """A row's problems as (Source Row, column, slug)."""
    return [
        (result.number, problem.column, problem.slug) for problem in result.problems
    ]


def messages(result: ConvertedRow) -> list[str]:
    """A row's problem messages, as its Sync Message will show them."""
    return [problem.message for problem in result.problems]


# --- text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "value", "expected"),
    [
        ({}, "  Ann Smith  ", "Ann Smith"),
        ({}, "\u00a0Ann\u00a0Smith\u00a0", "Ann Smith"),
        ({}, "\tline one\nline two\r\n", "line one\nline two"),
        ({}, "00123", "00123"),
        ({"trim": False}, "  Ann  ", "  Ann  "),
        ({"upper": True}, " ab-12 ", "AB-12"),
        ({"lower": True}, "AB-12", "ab-12"),
        ({"max_length": 5}, " 12345 ", "12345"),
        ({"pattern": r"[A-Z]{2}-\d+"}, "AB-12", "AB-12"),
    ],
    ids=[
        "trims-spaces",
        "nbsp-becomes-space",
        "inner-line-break-kept",
        "leading-zeros",
        "trim-false",
        "upper",
        "lower",
        "max-length-after-trim",
        "pattern",
    ],
)
def test_convert_text_sends_cleaned_text(
    options: dict[str, Any], value: str, expected: str
) -> None:
    """Text is trimmed, NBSPs become spaces and case options apply."""
    result = convert_one({"column": "Name", **options}, cell(value))
    assert sent(result) == [("field", expected, expected)]


@pytest.mark.parametrize(
    ("options", "value", "slug", "message"),
    [
        (
            {"max_length": 3},
            "ABCD",
            Slug.TOO_LONG,
            "'Code' holds 4 characters; at most 3 are allowed.",
        ),
        (
            {"pattern": r"[A-Z]{2}-\d+"},
            "ab-12",
            Slug.BAD_PATTERN,
            "'Code' holds 'ab-12', which does not match the pattern '[A-Z]{2}-\\d+'.",
        ),
    ],
    ids=["too-long", "pattern-mismatch"],
)
def test_convert_text_refuses_bad_text(
    options: dict[str, Any], value: str, slug: Slug, message: str
) -> None:
    """Text too long or not matching the pattern makes the row invalid."""
    result = convert_one({"column": "Code", **options}, cell(value))
    assert (sent(result), problems(result), messages(result)) == (
        [],
        [(2, "Code", slug)],
        [message],
    )


@pytest.mark.parametrize(
    "value",
    ["NA", "N/A", "null", "None", "nan", "-"],
    ids=["NA", "N-A", "null", "None", "nan", "dash"],
)
def test_convert_text_na_words_are_data(value: str) -> None:
    """Words that look like missing values are data, sent as typed."""
    result = convert_one({"column": "Notes"}, cell(value))
    assert sent(result) == [("field", value, value)]


@pytest.mark.parametrize(
    ("value", "number_format", "expected"),
    [
        (1042.0, "General", "1042"),
        (123, "00000", "00123"),
        (0.1, "General", "0.1"),
        (True, "General", "TRUE"),
        (dt.datetime(2026, 3, 4), "dd/mm/yyyy", "04/03/2026"),
    ],
    ids=["whole-float", "zero-padded", "decimal", "boolean", "date"],
)
def test_convert_text_sends_typed_cells_as_shown(
    value: object, number_format: str, expected: str
) -> None:
    """A text field sends a typed cell's text as Excel shows it."""
    result = convert_one({"column": "Badge"}, cell(value, number_format))
    assert sent(result) == [("field", expected, expected)]


# --- numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "value", "expected"),
    [
        ({}, cell(3.0), "3"),
        ({}, cell(12), "12"),
        ({}, cell(123, "00000"), "123"),
        ({}, cell("1,500"), "1500"),
        ({}, cell(" -7 "), "-7"),
        ({}, cell("1,500.00"), "1500"),
        ({"decimal_separator": ","}, cell("1.500"), "1500"),
        ({}, cell(12345678901234567890), "12345678901234567890"),
    ],
    ids=[
        "whole-float",
        "int",
        "zero-padded-number",
        "grouped-text",
        "negative-text",
        "zero-decimals",
        "comma-locale",
        "long",
    ],
)
def test_convert_integer_sends_whole_numbers(
    options: dict[str, Any], value: Cell, expected: str
) -> None:
    """An integer is sent as plain digits, never '3.0'."""
    spec = {"column": "Days", "type": "integer", **options}
    assert sent(convert_one(spec, value)) == [("field", expected, expected)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (cell(2.5), "'Days' holds '2.5', not a whole number."),
        (cell("2.5"), "'Days' holds '2.5', not a whole number."),
        (cell("two"), "'Days' holds 'two', not a number."),
        (cell(True), "'Days' holds TRUE, not a number."),
        (
            cell(dt.datetime(2026, 3, 4), "dd/mm/yyyy"),
            "'Days' holds the date 04/03/2026.",
        ),
    ],
    ids=["fraction", "fraction-text", "word", "boolean", "date"],
)
def test_convert_integer_refuses_non_integers(value: Cell, message: str) -> None:
    """A value that is not a whole number makes the row invalid, naming it."""
    result = convert_one({"column": "Days", "type": "integer"}, value)
    assert (sent(result), problems(result), messages(result)) == (
        [],
        [(2, "Days", Slug.BAD_NUMBER)],
        [message],
    )


COMMA_LOCALE = {"decimal_separator": ",", "thousands_separator": "."}


@pytest.mark.parametrize(
    ("options", "value", "expected"),
    [
        ({}, cell(0.1), "0.1"),
        ({}, cell(0.1 + 0.2), "0.30000000000000004"),
        ({}, cell(1234.5, "#,##0.00"), "1234.5"),
        ({}, cell(1e-7), "0.0000001"),
        ({}, cell(1.5e22), "15000000000000000000000"),
        ({}, cell(42), "42"),
        ({}, cell("1,500.00"), "1500.00"),
        (COMMA_LOCALE, cell("1.234,50"), "1234.50"),
        ({"decimal_separator": ","}, cell("1 500,00 €"), "1500.00"),
        ({}, cell("$1,500.00"), "1500.00"),
        ({}, cell("USD 99.90"), "99.90"),
        ({}, cell("(250.00)"), "-250.00"),
        ({}, cell("-$3.5"), "-3.5"),
        ({}, cell("0.10"), "0.10"),
        (
            {},
            cell("(1234567890123456789012345.6789)"),
            "-1234567890123456789012345.6789",
        ),
    ],
    ids=[
        "float-tenth",
        "float-noise-kept-exact",
        "formatted-number-exact",
        "tiny-no-exponent",
        "huge-no-exponent",
        "int",
        "grouped-text",
        "comma-locale",
        "space-grouped-euro",
        "dollar",
        "currency-code",
        "accounting-negative",
        "minus-dollar",
        "trailing-zero-kept",
        "long-accounting-negative",
    ],
)
def test_convert_decimal_sends_exact_plain_numbers(
    options: dict[str, Any], value: Cell, expected: str
) -> None:
    """A decimal is sent exactly, in plain notation with a point."""
    spec = {"column": "Amount", "type": "decimal", **options}
    assert sent(convert_one(spec, value)) == [("field", expected, expected)]


@pytest.mark.parametrize(
    ("options", "value", "message"),
    [
        ({}, "12abc", "'Amount' holds '12abc', not a number."),
        (
            {},
            "1,5",
            "'Amount' holds '1,5', which is not a number written with ',' between "
            "thousands and '.' before decimals.",
        ),
        (
            COMMA_LOCALE,
            "1.5",
            "'Amount' holds '1.5', which is not a number written with '.' between "
            "thousands and ',' before decimals.",
        ),
        ({}, "1.2.3", "'Amount' holds '1.2.3', not a number."),
    ],
    ids=["letters", "comma-as-decimal", "point-in-comma-locale", "two-points"],
)
def test_convert_decimal_refuses_non_numbers(
    options: dict[str, Any], value: str, message: str
) -> None:
    """Text that is not a number in the field's notation makes the row invalid."""
    spec = {"column": "Amount", "type": "decimal", **options}
    result = convert_one(spec, cell(value))
    assert (problems(result), messages(result)) == (
        [(2, "Amount", Slug.BAD_NUMBER)],
        [message],
    )


@pytest.mark.parametrize(
    ("options", "value", "expected"),
    [
        ({}, cell(0.15, "0%"), "15"),
        ({}, cell(0.155, "0.0%"), "15.5"),
        ({}, cell(1, "0%"), "100"),
        ({}, cell(0.07, "0.00%"), "7"),
        ({}, cell("15%"), "15"),
        ({}, cell(" 15 % "), "15"),
        ({"decimal_separator": ","}, cell("12,5%"), "12.5"),
        ({}, cell(15, "General"), "15"),
        ({}, cell(0.15, "General"), "0.15"),
    ],
    ids=[
        "percent-cell",
        "percent-cell-decimals",
        "whole-percent-cell",
        "float-noise-percent-cell",
        "percent-text",
        "spaced-percent-text",
        "comma-percent-text",
        "plain-number-is-points",
        "plain-fraction-is-points",
    ],
)
def test_convert_percent_sends_points(
    options: dict[str, Any], value: Cell, expected: str
) -> None:
    """A percentage is sent as points: 0.15 shown as 15% and '15%' both send 15."""
    spec = {"column": "Rate", "type": "percent", **options}
    assert sent(convert_one(spec, value)) == [("field", expected, expected)]


# --- dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "value", "expected"),
    [
        ({}, cell(dt.datetime(2026, 3, 4), "dd/mm/yyyy"), "2026-03-04"),
        ({}, cell(dt.datetime(2026, 3, 4, 23, 59), "dd/mm/yyyy hh:mm"), "2026-03-04"),
        ({}, cell(dt.date(2026, 3, 4)), "2026-03-04"),
        ({}, cell(46085), "2026-03-04"),
        ({}, cell(46037.75), "2026-01-15"),
        ({"input_format": "%d/%m/%Y"}, cell("04/03/2026"), "2026-03-04"),
        ({"input_format": "%Y-%m-%d"}, cell("2026-03-04"), "2026-03-04"),
        ({}, cell("2026-03-04"), "2026-03-04"),
        ({"format": "%d.%m.%Y"}, cell(dt.datetime(2026, 3, 4)), "04.03.2026"),
    ],
    ids=[
        "date-cell",
        "late-evening-stays-same-day",
        "date-value",
        "serial",
        "serial-with-time-dropped",
        "day-first-text",
        "iso-text-with-format",
        "iso-text",
        "output-format",
    ],
)
def test_convert_date_sends_calendar_day(
    options: dict[str, Any], value: Cell, expected: str
) -> None:
    """A date is sent as YYYY-MM-DD, the day in the cell, from any source."""
    spec = {"column": "Start Date", "type": "date", **options}
    assert sent(convert_one(spec, value)) == [("field", expected, expected)]


@pytest.mark.parametrize(
    ("options", "value", "message"),
    [
        (
            {"input_format": "%d/%m/%Y"},
            "31/02/2026",
            "'Start Date' holds '31/02/2026', which is not a date written as "
            "%d/%m/%Y (for example 04/03/2026).",
        ),
        (
            {},
            "next Monday",
            "'Start Date' holds 'next Monday', which is not a date in ISO form "
            "(2026-03-04). Make the cell a real Excel date, or set input_format for "
            "the field (for example '%d/%m/%Y').",
        ),
    ],
    ids=["no-such-day", "free-text"],
)
def test_convert_date_refuses_bad_dates(
    options: dict[str, Any], value: str, message: str
) -> None:
    """Text that is not a date makes the row invalid, with an example to follow."""
    spec = {"column": "Start Date", "type": "date", **options}
    result = convert_one(spec, cell(value))
    assert (problems(result), messages(result)) == (
        [(2, "Start Date", Slug.BAD_DATE)],
        [message],
    )


@pytest.mark.parametrize(
    ("options", "value", "expected"),
    [
        (
            {"timezone": "Europe/Berlin"},
            cell(dt.datetime(2026, 1, 15, 9, 0)),
            "2026-01-15T09:00:00+01:00",
        ),
        (
            {"timezone": "Europe/Berlin"},
            cell(dt.datetime(2026, 7, 15, 9, 0)),
            "2026-07-15T09:00:00+02:00",
        ),
        (
            {"timezone": "Europe/Berlin", "input_format": "%d/%m/%Y %H:%M"},
            cell("15/07/2026 09:00"),
            "2026-07-15T09:00:00+02:00",
        ),
        (
            {"timezone": "Europe/Berlin"},
            cell(46085.375),
            "2026-03-04T09:00:00+01:00",
        ),
        ({}, cell(dt.datetime(2026, 7, 15, 9, 0)), "2026-07-15T09:00:00+00:00"),
        (
            {"timezone": "Europe/Berlin"},
            cell("2026-07-15T09:00:00Z"),
            "2026-07-15T09:00:00+00:00",
        ),
    ],
    ids=[
        "berlin-winter",
        "berlin-summer",
        "berlin-text",
        "berlin-serial",
        "no-zone-is-utc",
        "text-offset-wins",
    ],
)
def test_convert_datetime_sends_offset(
    options: dict[str, Any], value: Cell, expected: str
) -> None:
    """A date-time is sent as ISO 8601 with the offset of its time zone that day."""
    spec = {"column": "Starts At", "type": "datetime", **options}
    assert sent(convert_one(spec, value)) == [("field", expected, expected)]


# --- booleans and choices ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (cell(True), ("Yes", "true")),
        (cell(False), ("No", "false")),
        (cell("TRUE"), ("Yes", "true")),
        (cell("false"), ("No", "false")),
        (cell("Yes"), ("Yes", "true")),
        (cell("NO"), ("No", "false")),
        (cell("y"), ("Yes", "true")),
        (cell("N"), ("No", "false")),
        (cell("1"), ("Yes", "true")),
        (cell("0"), ("No", "false")),
        (cell(1), ("Yes", "true")),
        (cell(0.0), ("No", "false")),
        (cell(" yes\u00a0"), ("Yes", "true")),
    ],
    ids=[
        "bool-true",
        "bool-false",
        "TRUE",
        "false",
        "Yes",
        "NO",
        "y",
        "N",
        "text-1",
        "text-0",
        "number-1",
        "number-0",
        "padded-yes",
    ],
)
def test_convert_boolean_reads_variants(value: Cell, expected: tuple[str, str]) -> None:
    """Every yes/no spelling sends true_text/false_text and 'true'/'false'."""
    spec = {
        "column": "Approved",
        "type": "boolean",
        "true_text": "Yes",
        "false_text": "No",
    }
    assert sent(convert_one(spec, value)) == [("field", *expected)]


def test_convert_boolean_default_texts() -> None:
    """Without true_text/false_text, text and value are both 'true'/'false'."""
    result = convert_one({"column": "Approved", "type": "boolean"}, cell("y"))
    assert sent(result) == [("field", "true", "true")]


@pytest.mark.parametrize(
    "value",
    ["maybe", "2", "oui"],
    ids=["maybe", "two", "french"],
)
def test_convert_boolean_refuses_other_words(value: str) -> None:
    """A word that is not yes/no makes the row invalid, listing what is accepted."""
    result = convert_one({"column": "Approved", "type": "boolean"}, cell(value))
    assert (problems(result), messages(result)) == (
        [(2, "Approved", Slug.BAD_BOOLEAN)],
        [f"'Approved' holds '{value}'; expected yes/no, true/false, y/n or 1/0."],
    )


DEPARTMENTS = {"Human Resources": "hr", "Finance": "fin"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Finance", ("Finance", "fin")),
        (" Human Resources ", ("Human Resources", "hr")),
        ("human resources", ("human resources", "hr")),
    ],
    ids=["exact", "trimmed", "other-case"],
)
def test_convert_choice_maps_text_to_code(
    value: str, expected: tuple[str, str]
) -> None:
    """A choice sends the sheet's text as text and the mapped code as value."""
    spec = {"column": "Department", "type": "choice", "choices": DEPARTMENTS}
    assert sent(convert_one(spec, cell(value))) == [("field", *expected)]


def test_convert_choice_refuses_unknown_text() -> None:
    """An unknown choice makes the row invalid, listing the allowed texts."""
    spec = {"column": "Department", "type": "choice", "choices": DEPARTMENTS}
    result = convert_one(spec, cell("Legal"))
    assert (problems(result), messages(result)) == (
        [(2, "Department", Slug.UNKNOWN_CHOICE)],
        [
            "'Department' holds 'Legal', which is not one of 'Human Resources', "
            "'Finance'."
        ],
    )


# --- empty cells, constants, templates ---------------------------------------------


@pytest.mark.parametrize(
    ("options", "top", "value", "expected"),
    [
        ({}, {}, cell(None), []),
        ({}, {}, cell("   "), []),
        ({}, {}, cell("\u00a0\t\n"), []),
        ({"empty": "clear"}, {}, cell(None), [("field", "", "")]),
        ({}, {"empty": "clear"}, cell(" "), [("field", "", "")]),
        ({"empty": "keep"}, {"empty": "clear"}, cell(None), []),
        ({"default": "n/a"}, {}, cell(None), [("field", "n/a", "n/a")]),
        (
            {"type": "integer", "default": 5},
            {"empty": "clear"},
            cell(""),
            [("field", "5", "5")],
        ),
    ],
    ids=[
        "nothing-not-sent",
        "spaces-not-sent",
        "nbsp-tab-newline-not-sent",
        "field-clear",
        "mapping-clear",
        "field-keep-beats-mapping-clear",
        "default",
        "default-beats-clear",
    ],
)
def test_convert_empty_cell_follows_policy(
    options: dict[str, Any], top: dict[str, Any], value: Cell, expected: list[Any]
) -> None:
    """An empty cell is left out, cleared, or replaced by the default."""
    result = convert_one({"column": "Notes", **options}, value, **top)
    assert (sent(result), problems(result)) == (expected, [])


def test_convert_empty_required_cell_is_invalid() -> None:
    """An empty required cell makes the row invalid, naming the column."""
    result = convert_one({"column": "Notes", "required": True}, cell(" "), row=9)
    assert (sent(result), problems(result), messages(result)) == (
        [],
        [(9, "Notes", Slug.MISSING_VALUE)],
        ["'Notes' is empty but required."],
    )


def test_convert_constant_value_is_sent() -> None:
    """A field with value: sends that constant whatever the row holds."""
    bound = bound_mapping(
        {"source": {"value": "excel-import"}, "batch": {"value": 42}}, ["Ref"]
    )
    result = convert_row(bound, Row(2, (Cell("R-1", "R-1"),)))
    assert sent(result) == [
        ("source", "excel-import", "excel-import"),
        ("batch", "42", "42"),
    ]


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Ann", "Smith", [("title", "Ann Smith", "Ann Smith")]),
        (" Ann ", "\u00a0Smith", [("title", "Ann Smith", "Ann Smith")]),
        ("Ann", "", [("title", "Ann", "Ann")]),
        ("", " ", []),
    ],
    ids=["both", "trimmed-parts", "one-empty", "all-empty-not-sent"],
)
def test_convert_template_combines_columns(
    first: str, last: str, expected: list[tuple[str, str, str]]
) -> None:
    """A template fills in several columns' cleaned texts."""
    bound = bound_mapping(
        {"title": {"template": "{First Name} {Last Name}"}},
        ["Ref", "First Name", "Last Name"],
    )
    row = Row(2, (Cell("R-1", "R-1"), cell(first), cell(last)))
    assert sent(convert_row(bound, row)) == expected


def test_convert_row_problems_name_column_and_value() -> None:
    """Each bad cell is a problem naming its column and value; good fields convert."""
    bound = bound_mapping(
        {
            "name": {"column": "Name"},
            "days": {"column": "Days", "type": "integer"},
            "start": {"column": "Start", "type": "date"},
        },
        ["Ref", "Name", "Days", "Start"],
    )
    row = Row(7, (cell("R-7"), cell("Ann"), cell("three"), cell("soon")))
    result = convert_row(bound, row)
    assert (result.ok, sent(result), problems(result), messages(result)) == (
        False,
        [("name", "Ann", "Ann")],
        [(7, "Days", Slug.BAD_NUMBER), (7, "Start", Slug.BAD_DATE)],
        [
            "'Days' holds 'three', not a number.",
            "'Start' holds 'soon', which is not a date in ISO form (2026-03-04). Make "
            "the cell a real Excel date, or set input_format for the field (for "
            "example '%d/%m/%Y').",
        ],
    )


@pytest.mark.parametrize(
    ("value", "slug", "message"),
    [
        (
            Cell(Uncalculated("=A2*2"), "=A2*2"),
            Slug.UNCALCULATED,
            "'Total' holds a formula =A2*2 whose result was never saved in the file. "
            "Open the file in Excel, let it calculate, save it and run again.",
        ),
        (
            Cell(CellError("#DIV/0!"), "#DIV/0!"),
            Slug.EXCEL_ERROR,
            "'Total' shows the Excel error #DIV/0!. Fix the formula in the sheet.",
        ),
    ],
    ids=["uncalculated-formula", "excel-error"],
)
def test_convert_row_refuses_formula_troubles(
    value: Cell, slug: Slug, message: str
) -> None:
    """A formula with no saved result or an Excel error is never sent."""
    result = convert_one({"column": "Total", "type": "decimal"}, value)
    assert (sent(result), problems(result), messages(result)) == (
        [],
        [(2, "Total", slug)],
        [message],
    )


def test_convert_row_empty_key_is_a_problem() -> None:
    """A row with an empty key cannot be matched later and is invalid."""
    bound = bound_mapping({"name": {"column": "Name"}}, ["Ref", "Name"])
    result = convert_row(bound, Row(4, (cell(" "), cell("Ann"))))
    assert (result.key, problems(result), messages(result)) == (
        None,
        [(4, "Ref", Slug.MISSING_KEY)],
        [
            "The key column 'Ref' is empty, so this row could not be matched on a "
            "later run. Fill it in."
        ],
    )


def test_convert_row_carries_reader_problem() -> None:
    """A row the reader found malformed is invalid with the reader's message."""
    bound = bound_mapping({"name": {"column": "Name"}}, ["Ref", "Name"])
    row = Row(3, (cell("R-3"), cell("Ann")), problem="This row has 3 cells.")
    result = convert_row(bound, row)
    assert (problems(result), messages(result)) == (
        [(3, None, Slug.MALFORMED_ROW)],
        ["This row has 3 cells."],
    )


def test_convert_row_reads_instance_id() -> None:
    """The instance ID column's trimmed text identifies the row's instance."""
    bound = bound_mapping(
        {"name": {"column": "Name"}},
        ["Ref", "Name", "Instance ID"],
        instance_id_column="Instance ID",
    )
    result = convert_row(bound, Row(2, (cell("R-2"), cell("Ann"), cell(" abc-123 "))))
    assert (result.key, result.instance_id, sent(result)) == (
        "R-2",
        "abc-123",
        [("name", "Ann", "Ann")],
    )


def test_row_key_joins_parts_as_shown() -> None:
    """A key of several columns joins their cleaned texts with ' / '."""
    bound = bound_mapping(
        {"name": {"column": "Name"}}, ["Region", "Ref", "Name"], key=["Region", "Ref"]
    )
    row = Row(2, (cell(" EU "), cell(123, "00000"), cell("Ann")))
    assert row_key(bound, row) == "EU / 00123"


@pytest.mark.parametrize(
    ("text", "trim", "expected"),
    [
        ("  a\u00a0b  ", True, "a b"),
        ("\u00a0a\nb\r\n", True, "a\nb"),
        ("  a\u00a0b  ", False, "  a\u00a0b  "),
    ],
    ids=["trims-and-nbsp", "keeps-inner-break", "trim-off"],
)
def test_clean_text_trims_blanks(text: str, trim: bool, expected: str) -> None:
    """Blanks are trimmed at both ends and inner NBSPs become spaces."""
    assert clean_text(text, FieldSpec(column="Notes", trim=trim)) == expected


# --- properties --------------------------------------------------------------------


@given(st.decimals(allow_nan=False, allow_infinity=False))
@example(Decimal("1234567.891"))
@example(Decimal("-1234567890123456789012345.6789"))
def test_parse_number_reads_grouped_decimals(number: Decimal) -> None:
    """A decimal written with thousands grouping reads back as the same decimal."""
    spec = FieldSpec(column="Amount", type=FieldType.DECIMAL)
    text = format(number, ",f")
    assert parse_number(text, spec, "'Amount'") == number
