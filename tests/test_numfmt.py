"""Tests of Excel's display text for cell values under their number formats."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sync import numfmt


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1042.0, "1042"),
        (1042, "1042"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-7, "0.0000001"),
        (1.5e-10, "0.00000000015"),
        (123456789012.0, "123456789012"),
        (1e21, "1000000000000000000000"),
        (1.5e22, "15000000000000000000000"),
        (12345678901234567890, "12345678901234567890"),
        (-0.0, "0"),
        (True, "TRUE"),
        (False, "FALSE"),
    ],
    ids=[
        "whole-float",
        "int",
        "tenth",
        "negative",
        "float-sum-kept-exact",
        "small",
        "smaller",
        "long-id",
        "1e21",
        "beyond-1e21",
        "big-int",
        "negative-zero",
        "true",
        "false",
    ],
)
def test_general_writes_plain_numbers(value: float, expected: str) -> None:
    """General numbers come out in plain notation, never with '.0' or an exponent."""
    assert numfmt.general(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
@example(5e-324)
@example(1.7976931348623157e308)
@example(0.1)
def test_general_round_trips_finite_floats(value: float) -> None:
    """Every finite float reads back as itself from its General text, no exponent."""
    text = numfmt.general(value)
    assert (float(text), "e" in text.lower()) == (value, False)


@pytest.mark.parametrize(
    ("value", "number_format", "expected"),
    [
        (123, "00000", "00123"),
        (123.0, "00000", "00123"),
        (7, "000", "007"),
        (123456, "00000", "123456"),
        (1234.5, "#,##0.00", "1,234.50"),
        (-1234.5, "#,##0.00", "-1,234.50"),
        (1234567, "#,##0", "1,234,567"),
        (3.14159, "0.00", "3.14"),
        (2.5, "0", "3"),
        (0.15, "0%", "15%"),
        (0.1234, "0.00%", "12.34%"),
        (1042, "General", "1042"),
        (1042.0, None, "1042"),
        (0.1, "General", "0.1"),
        (1234.5, "[Red]#,##0.00;[Blue]-#,##0.00", "1,234.50"),
        (1234.5, "0.00E+00", "1234.5"),
    ],
    ids=[
        "zero-padded-id",
        "zero-padded-float",
        "three-digits",
        "wider-than-format",
        "grouped-decimals",
        "grouped-negative",
        "grouped-int",
        "fixed-decimals",
        "rounded-half-up",
        "percent",
        "percent-decimals",
        "general-int",
        "no-format",
        "general-float",
        "colour-sections",
        "scientific-falls-back",
    ],
)
def test_display_renders_number_formats(
    value: float, number_format: str | None, expected: str
) -> None:
    """A number shows as Excel shows it under its format, or plainly when unsure."""
    assert numfmt.display(value, number_format) == expected


@pytest.mark.parametrize(
    ("value", "number_format", "expected"),
    [
        (dt.datetime(2026, 3, 4), "dd/mm/yyyy", "04/03/2026"),
        (dt.datetime(2026, 3, 4), "mm-dd-yy", "03-04-26"),
        (dt.datetime(2026, 3, 4), "yyyy-mm-dd", "2026-03-04"),
        (dt.datetime(2026, 3, 4), "d-mmm-yy", "4-Mar-26"),
        (dt.datetime(2026, 3, 4), "[$-409]mmmm d, yyyy", "March 4, 2026"),
        (dt.datetime(2026, 3, 4, 9, 30), "yyyy-mm-dd h:mm:ss", "2026-03-04 9:30:00"),
        (dt.datetime(2026, 3, 4, 13, 5), "h:mm AM/PM", "1:05 PM"),
        (dt.datetime(2026, 3, 4, 0, 5), "hh:mm AM/PM", "12:05 AM"),
        (dt.time(9, 30), "h:mm", "9:30"),
        (dt.time(18, 0, 15), "hh:mm:ss", "18:00:15"),
        (dt.datetime(2026, 3, 4, 9, 5, 7), "General", "2026-03-04 09:05:07"),
        (dt.date(2026, 3, 4), None, "2026-03-04"),
    ],
    ids=[
        "day-first",
        "month-first",
        "iso",
        "month-name",
        "locale-tag",
        "date-time",
        "twelve-hour",
        "midnight-twelve-hour",
        "time",
        "time-seconds",
        "general-datetime",
        "date-no-format",
    ],
)
def test_display_renders_date_formats(
    value: dt.date | dt.time, number_format: str | None, expected: str
) -> None:
    """A date or time shows as Excel shows it under its date format."""
    assert numfmt.display(value, number_format) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("00123", "00123"),
        ("  spaced  ", "  spaced  "),
        ("NA", "NA"),
        (True, "TRUE"),
        (False, "FALSE"),
    ],
    ids=["none-is-empty", "text-kept", "spaces-kept", "na-kept", "true", "false"],
)
def test_display_keeps_text_and_booleans(value: object, expected: str) -> None:
    """Text passes through untouched, booleans read as Excel's TRUE/FALSE."""
    assert numfmt.display(value, "00000") == expected


@pytest.mark.parametrize(
    ("number_format", "expected"),
    [
        ("0%", True),
        ("0.00%", True),
        ("#,##0.0%;[Red]-#,##0.0%", True),
        ('0.00"%"', False),
        ("0\\%", False),
        ("0.00", False),
        ("General", False),
        (None, False),
    ],
    ids=[
        "percent",
        "percent-decimals",
        "percent-sections",
        "quoted-sign",
        "escaped-sign",
        "fixed",
        "general",
        "none",
    ],
)
def test_is_percent_format_spots_percentages(
    number_format: str | None, expected: bool
) -> None:
    """Only a format that really scales by 100 counts as a percentage."""
    assert numfmt.is_percent_format(number_format) is expected
