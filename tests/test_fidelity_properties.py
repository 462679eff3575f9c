"""Property tests: any text or number survives the trip through xlsx and CSV files."""

from __future__ import annotations

import csv
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from sync.convert import clean_text, convert_row
from sync.mapping import Mapping, bind
from sync.reader import open_table

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Any printable or white-space text a cell can hold. Carriage returns are left out:
# XML turns a raw CR into LF, and Excel itself stores one escaped as _x000D_.
cell_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: not ILLEGAL_CHARACTERS_RE.search(s) and not s.startswith("="))


def _sent(path: Path, fields: dict[str, Any]) -> list[dict[str, str]]:
    """What would be sent for each row of ``path``: field name -> value."""
    mapping = Mapping.model_validate({"process": "p", "key": ["Ref"], "fields": fields})
    table = open_table(path, mapping)
    bound = bind(mapping, table.headers, table.name)
    out = []
    for row in table.rows():
        converted = convert_row(bound, row, table.date1904)
        assert converted.ok, converted.problems
        out.append({f.fieldname: f.value for f in converted.fields})
    return out


def _xlsx(folder: str, values: list[object]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Ref", "Value"])
    for number, value in enumerate(values):
        sheet.append([f"R{number}", value])
    path = Path(folder) / "in.xlsx"
    book.save(path)
    return path


def _csv(folder: str, values: list[str]) -> Path:
    path = Path(folder) / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Ref", "Value"])
        writer.writerows([f"R{n}", value] for n, value in enumerate(values))
    return path


def _expected(texts: list[str], trim: bool) -> list[dict[str, str]]:
    kept = [text if not trim else clean_text(text) for text in texts]
    return [{"value": text} if text.strip(" \t\n\u00a0") else {} for text in kept]


@PROPERTY
@given(texts=st.lists(cell_text, min_size=1, max_size=15))
def test_property_text_round_trips_through_xlsx(texts: list[str]) -> None:
    """Text cells come back exactly; only the documented trimming is applied."""
    with tempfile.TemporaryDirectory() as folder:
        path = _xlsx(folder, list(texts))
        raw = _sent(path, {"value": {"column": "Value", "trim": False}})
        trimmed = _sent(path, {"value": "Value"})

    assert raw == _expected(texts, trim=False)
    assert trimmed == _expected(texts, trim=True)


@PROPERTY
@given(texts=st.lists(cell_text, min_size=1, max_size=15))
def test_property_text_round_trips_through_csv(texts: list[str]) -> None:
    """Quoted delimiters, quotes and line breaks in CSV cells come back exactly."""
    with tempfile.TemporaryDirectory() as folder:
        path = _csv(folder, texts)
        raw = _sent(path, {"value": {"column": "Value", "trim": False}})

    assert raw == _expected(texts, trim=False)


# Numbers as a user types them: Excel keeps at most 15 significant digits.
typed_numbers = st.decimals(allow_nan=False, allow_infinity=False).filter(
    lambda d: len(d.as_tuple().digits) <= 15 and -300 < d.adjusted() < 300
)


@PROPERTY
@given(numbers=st.lists(typed_numbers, min_size=1, max_size=15))
def test_property_number_cells_are_sent_exactly(numbers: list[Decimal]) -> None:
    """A typed number is sent as exactly that number, in plain notation: no noise."""
    with tempfile.TemporaryDirectory() as folder:
        path = _xlsx(folder, [float(n) for n in numbers])
        sent = _sent(path, {"value": {"column": "Value", "type": "decimal"}})
        shown = _sent(path, {"value": "Value"})

    for number, decimal, text in zip(numbers, sent, shown, strict=True):
        assert Decimal(decimal["value"]) == number
        assert "e" not in decimal["value"].lower()
        assert Decimal(text["value"]) == number


@PROPERTY
@given(numbers=st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=15))
def test_property_whole_number_cells_never_gain_a_point(numbers: list[int]) -> None:
    """Whole numbers are sent as integers and as text without ``.0``."""
    with tempfile.TemporaryDirectory() as folder:
        path = _xlsx(folder, list(numbers))
        sent = _sent(path, {"value": {"column": "Value", "type": "integer"}})
        shown = _sent(path, {"value": "Value"})

    assert [row["value"] for row in sent] == [str(n) for n in numbers]
    assert [row["value"] for row in shown] == [str(n) for n in numbers]


decimals = st.decimals(
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
    allow_nan=False,
    allow_infinity=False,
    places=4,
)


@PROPERTY
@given(
    numbers=st.lists(decimals, min_size=1, max_size=15),
    style=st.sampled_from(["plain", "grouped", "european"]),
)
def test_property_decimal_text_round_trips_through_csv(
    numbers: list[Decimal], style: str
) -> None:
    """Numbers typed as text in any declared convention come back as the same number."""
    formats = {
        "plain": (lambda d: format(d, "f"), {"decimal_separator": "."}),
        "grouped": (
            lambda d: format(d, ",f"),
            {"decimal_separator": ".", "thousands_separator": ","},
        ),
        "european": (
            lambda d: format(d, ",f").translate(str.maketrans(",.", ".,")),
            {"decimal_separator": ",", "thousands_separator": "."},
        ),
    }
    write, options = formats[style]
    with tempfile.TemporaryDirectory() as folder:
        path = _csv(folder, [write(n) for n in numbers])
        sent = _sent(path, {"value": {"column": "Value", "type": "decimal", **options}})

    assert [Decimal(row["value"]) for row in sent] == numbers
