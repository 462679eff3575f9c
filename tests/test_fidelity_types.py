"""Types: each mapping ``type:`` and option sends exactly what the user meant."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from sync.convert import ConvertedRow, Slug, convert_row
from sync.mapping import Mapping, bind
from sync.reader import Cell, Row, open_table
from tests.fidelity_helpers import write_xlsx


def _convert(spec: dict[str, Any], *cells: Cell, **top: Any) -> ConvertedRow:
    """Convert one row whose columns are Ref, then A, B, ... for the given cells."""
    headers = ["Ref"] + [chr(ord("A") + i) for i in range(len(cells))]
    spec = {"column": "A", **spec}
    mapping = Mapping.model_validate(
        {"process": "p", "key": ["Ref"], "fields": {"f": spec}, **top}
    )
    bound = bind(mapping, headers, "in.xlsx")
    return convert_row(bound, Row(2, (Cell("R1", "R1"), *cells)))


def _sent(spec: dict[str, Any], *cells: Cell, **top: Any) -> tuple[str, str] | None:
    converted = _convert(spec, *cells, **top)
    assert converted.ok, converted.problems
    found = [(f.text, f.value) for f in converted.fields if f.fieldname == "f"]
    return found[0] if found else None


def _problem(spec: dict[str, Any], *cells: Cell) -> tuple[Slug, str]:
    converted = _convert(spec, *cells)
    assert len(converted.problems) == 1, converted.problems
    return converted.problems[0].slug, converted.problems[0].message


def _text(value: str) -> Cell:
    return Cell(value, value)


# --- text, as Excel shows it -------------------------------------------------------


def test_text_keeps_what_excel_shows_for_numbers(tmp_path: Path) -> None:
    """123 is "123", 0.1 is "0.1", 00000-formatted 789 is "00789", long IDs whole."""
    source = write_xlsx(
        tmp_path / "in.xlsx",
        [
            ["Ref", "A"],
            ["r1", 123],
            ["r2", 0.1],
            ["r3", 789],
            ["r4", "1234567890123456789"],
            ["r5", 1.5],
            ["r6", 0.15],
        ],
        formats={"B4": "00000", "B6": "0.00", "B7": "0%"},
    )
    mapping = Mapping.model_validate(
        {"process": "p", "key": ["Ref"], "fields": {"f": "A"}}
    )
    table = open_table(source, mapping)
    bound = bind(mapping, table.headers, table.name)

    sent = [convert_row(bound, row).fields[0].value for row in table.rows()]

    assert sent == ["123", "0.1", "00789", "1234567890123456789", "1.50", "15%"]


@pytest.mark.parametrize(
    ("options", "typed", "sent"),
    [
        ({}, "  Ann\u00a0Lee \u00a0", "Ann Lee"),
        ({"trim": False}, "  Ann ", "  Ann "),
        ({"upper": True}, "ann", "ANN"),
        ({"lower": True}, "ANN", "ann"),
        ({}, "Line one\nLine two", "Line one\nLine two"),
        ({}, "NA", "NA"),
        ({}, "null", "null"),
    ],
    ids=["trim", "no-trim", "upper", "lower", "line-breaks", "NA", "null"],
)
def test_text_options(options: dict[str, Any], typed: str, sent: str) -> None:
    """Trimming, case options, inner line breaks; NA and null are data."""
    assert _sent(options, _text(typed)) == (sent, sent)


def test_text_max_length_and_pattern_make_rows_invalid() -> None:
    """Too long or not matching the pattern is an invalid row naming the limit."""
    assert _problem({"max_length": 3}, _text("ABCD")) == (
        Slug.TOO_LONG,
        "'A' holds 4 characters; at most 3 are allowed.",
    )
    assert _problem({"pattern": r"E\d{3}"}, _text("E12")) == (
        Slug.BAD_PATTERN,
        "'A' holds 'E12', which does not match the pattern 'E\\d{3}'.",
    )


# --- numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        (Cell(3, "3"), "3"),
        (Cell(3.0, "3"), "3"),
        (_text("1,500"), "1500"),
        (_text("(250)"), "-250"),
        (_text("$1,500"), "1500"),
    ],
)
def test_integer_sends_whole_numbers_without_point(typed: Cell, sent: str) -> None:
    """An integer is "3", never "3.0"; grouping and accounting negatives are read."""
    assert _sent({"type": "integer"}, typed) == (sent, sent)


def test_integer_refuses_fractions() -> None:
    """2.5 in an integer field is invalid, showing the value."""
    assert _problem({"type": "integer"}, Cell(2.5, "2.5")) == (
        Slug.BAD_NUMBER,
        "'A' holds '2.5', not a whole number.",
    )


@pytest.mark.parametrize(
    ("typed", "options", "sent"),
    [
        (Cell(0.1, "0.1"), {}, "0.1"),
        (Cell(1234.5, "1,234.50"), {}, "1234.5"),
        (Cell(12345678901.25, "12345678901.25"), {}, "12345678901.25"),
        (Cell(1e-7, "1E-07"), {}, "0.0000001"),
        (_text("1,234.50"), {}, "1234.50"),
        (_text("1.234,50"), {"decimal_separator": ","}, "1234.50"),
        (_text("1 234,50 €"), {"decimal_separator": ","}, "1234.50"),
        (_text("EUR 99,95"), {"decimal_separator": ","}, "99.95"),
        (_text("1'234.5"), {"thousands_separator": "'"}, "1234.5"),
        (_text("-0"), {}, "0"),
    ],
)
def test_decimal_is_exact_plain_notation(
    typed: Cell, options: dict[str, Any], sent: str
) -> None:
    """Decimals are exact, never in exponent form, with separators as set."""
    assert _sent({"type": "decimal", **options}, typed) == (sent, sent)


@pytest.mark.parametrize(
    "typed", ["1.234,50", "12,5", "1,23,456", "1..2", "12abc", "1234,567"]
)
def test_decimal_malformed_text_is_invalid_not_misread(typed: str) -> None:
    """Text the default convention cannot read whole is invalid, never part-read."""
    slug, message = _problem({"type": "decimal"}, _text(typed))

    assert slug is Slug.BAD_NUMBER
    assert f"'A' holds '{typed}'" in message


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        (Cell(0.15, "15%", "0%"), "15"),
        (Cell(0.125, "12.50%", "0.00%"), "12.5"),
        (_text("15%"), "15"),
        (Cell(15, "15", "General"), "15"),
    ],
)
def test_percent_sends_points(typed: Cell, sent: str) -> None:
    """A percent-formatted 0.15 and the text 15% are both 15 points."""
    assert _sent({"type": "percent"}, typed) == (sent, sent)


def test_percent_number_without_format_is_refused() -> None:
    """An .xls/.ods number has no format, so 0.15 might mean 15%: not guessed."""
    assert _problem({"type": "percent"}, Cell(0.15, "0.15")) == (
        Slug.BAD_NUMBER,
        "'A' holds the number 0.15, and this file type does not say whether it is "
        "shown as a percentage. Type it as text such as 15%, or save the file as "
        ".xlsx and run again.",
    )


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "options", "sent"),
    [
        (Cell(dt.datetime(2026, 3, 4), "04/03/2026"), {}, "2026-03-04"),
        (Cell(dt.date(2026, 3, 4), "2026-03-04"), {}, "2026-03-04"),
        (Cell(46085, "46085"), {}, "2026-03-04"),
        (_text("2026-03-04"), {}, "2026-03-04"),
        (_text("4.3.2026"), {"input_format": "%d.%m.%Y"}, "2026-03-04"),
        (Cell(dt.date(2026, 3, 4), "4 Mar"), {"format": "%d/%m/%Y"}, "04/03/2026"),
    ],
)
def test_date_sends_the_calendar_day(
    typed: Cell, options: dict[str, Any], sent: str
) -> None:
    """Real dates, serial numbers and declared text formats give the same day."""
    assert _sent({"type": "date", **options}, typed) == (sent, sent)


def test_date_text_not_matching_input_format_is_invalid() -> None:
    """A text that does not fit input_format shows the format and an example."""
    assert _problem(
        {"type": "date", "input_format": "%d/%m/%Y"}, _text("2026-13-01")
    ) == (
        Slug.BAD_DATE,
        "'A' holds '2026-13-01', which is not a date written as %d/%m/%Y "
        "(for example 04/03/2026).",
    )


@pytest.mark.parametrize(
    ("options", "sent"),
    [
        ({}, "2026-03-04T09:30:00+00:00"),
        ({"timezone": "Europe/Dublin"}, "2026-03-04T09:30:00+00:00"),
        ({"timezone": "Europe/Berlin"}, "2026-03-04T09:30:00+01:00"),
        ({"timezone": "America/New_York"}, "2026-03-04T09:30:00-05:00"),
    ],
)
def test_datetime_naive_values_take_the_mapping_zone(
    options: dict[str, Any], sent: str
) -> None:
    """A naive date-time is in the field's timezone (UTC unless set), with offset."""
    cell = Cell(dt.datetime(2026, 3, 4, 9, 30), "04/03/2026 09:30")

    assert _sent({"type": "datetime", **options}, cell) == (sent, sent)


# --- booleans, choices, templates, constants -----------------------------------------


@pytest.mark.parametrize(
    ("typed", "flag"),
    [
        (Cell(True, "TRUE"), "true"),
        (Cell(False, "FALSE"), "false"),
        (_text("Yes"), "true"),
        (_text("n"), "false"),
        (_text("Y"), "true"),
        (_text("no"), "false"),
        (_text("TRUE"), "true"),
        (_text("0"), "false"),
        (Cell(1, "1"), "true"),
    ],
)
def test_boolean_variants(typed: Cell, flag: str) -> None:
    """TRUE/FALSE, yes/no, y/n and 1/0 in any case are booleans."""
    options = {"type": "boolean", "true_text": "Yes", "false_text": "No"}

    assert _sent(options, typed) == ("Yes" if flag == "true" else "No", flag)


def test_boolean_other_text_is_invalid() -> None:
    """Anything else is invalid and lists what is accepted."""
    assert _problem({"type": "boolean"}, _text("maybe")) == (
        Slug.BAD_BOOLEAN,
        "'A' holds 'maybe'; expected yes/no, true/false, y/n or 1/0.",
    )


def test_choice_maps_text_and_refuses_unknown() -> None:
    """A choice sends the sheet text and its code; an unknown text lists the allowed."""
    spec = {"type": "choice", "choices": {"Human Resources": "hr", "Finance": "fin"}}

    assert _sent(spec, _text("Finance")) == ("Finance", "fin")
    assert _sent(spec, _text("finance")) == ("finance", "fin")
    assert _problem(spec, _text("IT")) == (
        Slug.UNKNOWN_CHOICE,
        "'A' holds 'IT', which is not one of 'Human Resources', 'Finance'.",
    )


def test_template_combines_columns_and_overrides_apply() -> None:
    """A template joins columns; text:/value: overrides set each part."""
    first, last = _text("Ada"), _text("Lovelace")

    assert _sent({"column": None, "template": "{A} {B}"}, first, last) == (
        "Ada Lovelace",
        "Ada Lovelace",
    )
    assert _sent(
        {"column": None, "value": "emp-{A}", "text": "{A} {B}"}, first, last
    ) == (
        "Ada Lovelace",
        "emp-Ada",
    )
    assert _sent({"value": "{A}-{B}"}, first, last) == ("Ada", "Ada-Lovelace")


# --- empty cells ---------------------------------------------------------------------


def test_empty_cells_follow_keep_clear_required_default() -> None:
    """An empty cell is left out, sent empty, given its default, or invalid."""
    blank = _text("  \u00a0")

    assert _sent({}, blank) is None
    assert _sent({"empty": "clear"}, blank) == ("", "")
    assert _sent({}, blank, empty="clear") == ("", "")
    assert _sent({"default": 0, "type": "integer"}, blank) == ("0", "0")
    assert _problem({"required": True}, blank) == (
        Slug.MISSING_VALUE,
        "'A' is empty but required.",
    )
