"""Ambiguity is refused, not guessed: text dates and numbers that read two ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.convert import Marks, date_shape, number_marks
from tests.conftest import Kianda, invoke
from tests.fidelity_helpers import sync_to_emulator, write_mapping

DATE_MAPPING = """\
process: p
key: [Ref]
fields:
  ref: Ref
  start:
    column: Start
    type: {type}
{extra}"""

NUMBER_MAPPING = """\
process: p
key: [Ref]
fields:
  ref: Ref
  amount:
    column: Amount
    type: {type}
{extra}"""


def _csv(tmp_path: Path, column: str, values: list[str]) -> Path:
    source = tmp_path / "in.csv"
    lines = [f"Ref;{column}"] + [f"R{i};{v}" for i, v in enumerate(values, 1)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return source


def _validate(tmp_path: Path, template: str, values: list[str], **fmt: str) -> str:
    column = "Start" if "Start" in template else "Amount"
    source = _csv(tmp_path, column, values)
    fmt.setdefault("extra", "")
    mapping = write_mapping(tmp_path / "m.yaml", template.format(**fmt))
    result = invoke(["validate", str(mapping), str(source)])
    return f"{result.exit_code}|{result.output}"


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["date", "datetime"])
def test_scan_dates_reading_both_ways_stop_the_run(tmp_path: Path, kind: str) -> None:
    """03/04/2026 without input_format is a mapping error with examples, no rows."""
    out = _validate(tmp_path, DATE_MAPPING, ["03/04/2026", "05/06/2026"], type=kind)

    code, output = out.split("|", 1)
    assert code == "2"
    assert (
        "m.yaml, line 5: the column 'Start' holds dates typed as text that read both "
        "day first and month first, such as '03/04/2026' (row 2), '05/06/2026' "
        "(row 3)."
    ) in output
    assert "set input_format: '%d/%m/%Y' for the field if they are day first, or " in (
        output
    )
    assert "'%m/%d/%Y' if month first" in output
    assert not (tmp_path / "in.results.xlsx").exists()


def test_scan_dates_proving_day_first_name_the_format(tmp_path: Path) -> None:
    """A value that can only be day first is shown, with the input_format to set."""
    out = _validate(tmp_path, DATE_MAPPING, ["03/04/2026", "13/04/2026"], type="date")

    assert out.startswith("2|")
    assert "Others, such as '13/04/2026' (row 3), can only be day first" in out
    assert "set input_format: '%d/%m/%Y' for the field." in out


def test_scan_dates_proving_month_first_name_the_format(tmp_path: Path) -> None:
    """A value that can only be month first suggests the month-first format."""
    out = _validate(tmp_path, DATE_MAPPING, ["03.04.26", "12.31.26"], type="date")

    assert out.startswith("2|")
    assert "set input_format: '%m.%d.%y' for the field." in out


def test_scan_dates_mixing_both_orders_say_so(tmp_path: Path) -> None:
    """A column holding both orders is named as mixed, with examples of each."""
    values = ["03/04/2026", "13/04/2026", "04/13/2026"]
    out = _validate(tmp_path, DATE_MAPPING, values, type="date")

    assert out.startswith("2|")
    assert "Some can only be day first ('13/04/2026' (row 3))" in out
    assert "some only month first ('04/13/2026' (row 4)), so the column mixes both" in (
        out
    )


def test_scan_dates_with_input_format_are_read(tmp_path: Path) -> None:
    """With input_format the same values are read as the user declared."""
    source = _csv(tmp_path, "Start", ["03/04/2026", "13/04/2026"])
    mapping = write_mapping(
        tmp_path / "m.yaml",
        DATE_MAPPING.format(type="date", extra='    input_format: "%d/%m/%Y"\n'),
    )

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 0, result.output
    assert held["R1"]["start"]["value"] == "2026-04-03"
    assert held["R2"]["start"]["value"] == "2026-04-13"


def test_scan_iso_dates_need_no_input_format(tmp_path: Path) -> None:
    """ISO text dates are unambiguous and read without input_format."""
    source = _csv(tmp_path, "Start", ["2026-04-03", "2026-12-31T09:30:00"])
    mapping = write_mapping(
        tmp_path / "m.yaml", DATE_MAPPING.format(type="date", extra="")
    )

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 0, result.output
    assert [held[k]["start"]["value"] for k in ("R1", "R2")] == [
        "2026-04-03",
        "2026-12-31",
    ]


def test_scan_one_way_text_date_is_an_invalid_row_with_its_format(
    tmp_path: Path,
) -> None:
    """A text date that reads one way only is an invalid row naming its format."""
    out = _validate(tmp_path, DATE_MAPPING, ["2026-04-03", "25/12/2026"], type="date")

    assert out.startswith("1|")
    assert (
        "Row 3: 'Start' holds '25/12/2026', which is not a date in ISO form "
        "(2026-03-04). Make the cell a real Excel date, or set input_format: "
        "'%d/%m/%Y' for the field."
    ) in out


def test_scan_same_day_and_month_is_not_ambiguous(tmp_path: Path) -> None:
    """03/03/2026 is the same date either way, so it alone stops nothing."""
    out = _validate(tmp_path, DATE_MAPPING, ["03/03/2026"], type="date")

    assert out.startswith("1|")
    assert "Row 2: 'Start' holds '03/03/2026'" in out


# --- numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["decimal", "integer", "percent"])
@pytest.mark.parametrize("value", ["1.234", "1,234", "$2,500"])
def test_scan_numbers_reading_both_ways_stop_the_run(
    tmp_path: Path, kind: str, value: str
) -> None:
    """1.234 with no separators set is a mapping error asking for them."""
    out = _validate(tmp_path, NUMBER_MAPPING, [value, "7"], type=kind)

    assert out.startswith("2|"), out
    assert (
        f"m.yaml, line 5: the column 'Amount' holds numbers typed as text such as "
        f"'{value}' (row 2), which read as thousands or as decimals"
    ) in out
    assert "kianda-sync does not guess: set decimal_separator: '.'" in out


def test_scan_numbers_with_decimal_comma_evidence_suggest_it(tmp_path: Path) -> None:
    """Values that prove a decimal comma make the message name those separators."""
    out = _validate(tmp_path, NUMBER_MAPPING, ["1.234", "12,5"], type="decimal")

    assert out.startswith("2|")
    assert "Others, such as '12,5' (row 3), use a decimal comma" in out
    assert "set decimal_separator: ',' and thousands_separator: '.'" in out


def test_scan_numbers_mixing_conventions_say_so(tmp_path: Path) -> None:
    """A column with both a decimal point and a decimal comma is named as mixed."""
    out = _validate(tmp_path, NUMBER_MAPPING, ["1.234", "2.5", "3,75"], type="decimal")

    assert out.startswith("2|")
    assert "Some use a decimal point ('2.5' (row 3))" in out
    assert "and some a decimal comma ('3,75' (row 4))" in out


def test_scan_numbers_with_decimal_point_evidence_are_read(tmp_path: Path) -> None:
    """When other values prove the decimal point, 1,234 is a thousand: sent exactly."""
    source = _csv(tmp_path, "Amount", ["1,234", "2.5", "1,234.50"])
    mapping = write_mapping(
        tmp_path / "m.yaml", NUMBER_MAPPING.format(type="decimal", extra="")
    )

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 0, result.output
    assert [held[k]["amount"]["value"] for k in ("R1", "R2", "R3")] == [
        "1234",
        "2.5",
        "1234.50",
    ]


def test_scan_numbers_with_separators_set_are_read(tmp_path: Path) -> None:
    """Set separators remove the doubt: 1.234 is what the mapping says."""
    source = _csv(tmp_path, "Amount", ["1.234", "12,5"])
    extra = '    decimal_separator: ","\n    thousands_separator: "."\n'
    mapping = write_mapping(
        tmp_path / "m.yaml", NUMBER_MAPPING.format(type="decimal", extra=extra)
    )

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 0, result.output
    assert held["R1"]["amount"]["value"] == "1234"
    assert held["R2"]["amount"]["value"] == "12.5"


def test_scan_number_cells_are_never_ambiguous(tmp_path: Path) -> None:
    """Real number cells are read exactly; only text can be ambiguous."""
    from tests.fidelity_helpers import write_xlsx

    source = write_xlsx(tmp_path / "in.xlsx", [["Ref", "Amount"], ["R1", 1.234]])
    mapping = write_mapping(
        tmp_path / "m.yaml", NUMBER_MAPPING.format(type="decimal", extra="")
    )

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 0, result.output
    assert held["R1"]["amount"]["value"] == "1.234"


@pytest.mark.parametrize(
    ("text", "marks"),
    [
        ("1.234", Marks.EITHER),
        ("1,234", Marks.EITHER),
        ("0.123", Marks.POINT),
        ("2.5", Marks.POINT),
        ("1,234.50", Marks.POINT),
        ("(1,234.50)", Marks.POINT),
        ("1.234,50", Marks.COMMA),
        ("1 500,00 €", Marks.COMMA),
        ("1.234.567", Marks.COMMA),
        ("1234", Marks.NONE),
        ("15%", Marks.NONE),
        ("abc", Marks.OTHER),
    ],
)
def test_number_marks_classify_text(text: str, marks: Marks) -> None:
    """Each text shape says which decimal convention can read it."""
    assert number_marks(text) == marks


@pytest.mark.parametrize(
    ("text", "readings"),
    [
        ("03/04/2026", (True, True, False, "%d/%m/%Y")),
        ("13/04/2026", (True, False, False, "%d/%m/%Y")),
        ("04/13/2026", (False, True, False, "%d/%m/%Y")),
        ("31/02/2026", (False, False, False, "%d/%m/%Y")),
        ("3-4-26 09:30", (True, True, False, "%d-%m-%y %H:%M")),
        ("2026/03/04", (False, False, True, "%Y/%m/%d")),
    ],
)
def test_date_shape_lists_the_readings(
    text: str, readings: tuple[bool, bool, bool, str]
) -> None:
    """A numeric date's possible readings and its strptime shape."""
    shape = date_shape(text)

    assert shape is not None
    assert (
        shape.day_first,
        shape.month_first,
        shape.year_first,
        shape.input_format,
    ) == (readings)


def test_scan_stops_a_real_run_before_any_request(
    tmp_path: Path, kianda: Kianda
) -> None:
    """With Kianda configured, an ambiguous column still means no request at all."""
    source = _csv(tmp_path, "Start", ["03/04/2026"])
    mapping = write_mapping(
        tmp_path / "m.yaml", DATE_MAPPING.format(type="date", extra="")
    )

    result = invoke(["run", str(mapping), str(source)], kianda.env())

    assert result.exit_code == 2
    assert "read both day first and month first" in result.output
    assert kianda.store.request_log == []
    assert not (tmp_path / "in.results.xlsx").exists()
