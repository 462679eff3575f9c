"""``kianda-sync init``: a starter mapping that names, types and keys every column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sync.mapping import FieldType, load_mapping
from sync.starter import field_name
from tests.conftest import SAMPLE_XLSX, invoke
from tests.fidelity_helpers import write_ods, write_xlsx


def _init(*args: str) -> str:
    result = invoke(["init", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _types(path: Path) -> dict[str, tuple[str | None, FieldType]]:
    mapping = load_mapping(path)
    return {name: (spec.column, spec.type) for name, spec in mapping.fields.items()}


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Employee ID", "employeeId"),
        ("Start Date", "startDate"),
        ("First  name", "firstName"),
        ("Cost (€)", "cost"),
        ("Approved?", "approved"),
        ("Café Owner", "cafeOwner"),
        ("2nd Contact", "field2ndContact"),
        ("e-mail", "eMail"),
        ("REF", "ref"),
        ("%", "field"),
    ],
)
def test_starter_field_name_is_camel_case_of_the_header(header: str, name: str) -> None:
    """Field names are camelCase of the title, as Kianda's designer makes them."""
    assert field_name(header) == name


def test_starter_guesses_types_key_and_header_row(tmp_path: Path) -> None:
    """Types come from the values; IDs stay text; the unique column is the key."""
    rows: list[list[object]] = [
        ["Leave requests, March"],
        [],
        ["Employee ID", "Request No", "Days", "Rate", "Start", "Paid", "Share", "Card"],
    ]
    for n in range(1, 4):
        rows.append(
            [
                f"00{n}",
                1000 + n,
                n,
                n + 0.5,
                dt.datetime(2026, 3, n),
                ["Yes", "no", "Y"][n - 1],
                n / 10,
                "4000123412341234",
            ]
        )
    rows[3][0] = rows[4][0]  # Employee ID repeats, so Request No is the key
    source = write_xlsx(
        tmp_path / "leave.xlsx", rows, formats={f"G{r}": "0%" for r in (4, 5, 6)}
    )

    text = _init(str(source), "--process", "leave-request")
    mapping_path = tmp_path / "m.yaml"
    mapping_path.write_text(text, encoding="utf-8")
    mapping = load_mapping(mapping_path)

    assert (mapping.process, mapping.sheet, mapping.header_row) == (
        "leave-request",
        "Data",
        3,
    )
    assert mapping.key == ["Request No"]
    assert _types(mapping_path) == {
        "employeeId": ("Employee ID", FieldType.TEXT),
        "requestNo": ("Request No", FieldType.INTEGER),
        "days": ("Days", FieldType.INTEGER),
        "rate": ("Rate", FieldType.DECIMAL),
        "start": ("Start", FieldType.DATE),
        "paid": ("Paid", FieldType.BOOLEAN),
        "share": ("Share", FieldType.PERCENT),
        "card": ("Card", FieldType.TEXT),
    }
    assert text.startswith("# yaml-language-server: $schema=")


def test_starter_mapping_validates_its_own_input(tmp_path: Path) -> None:
    """The sample's starter mapping loads and checks the sample without errors."""
    mapping_path = tmp_path / "m.yaml"
    mapping_path.write_text(_init(str(SAMPLE_XLSX)), encoding="utf-8")

    result = invoke(
        [
            "validate",
            str(mapping_path),
            str(SAMPLE_XLSX),
            "-o",
            str(tmp_path / "r.xlsx"),
        ]
    )

    assert result.exit_code == 1, result.output
    assert "43 ready, 2 invalid" in result.output
    assert load_mapping(mapping_path).process == "training-requests"


def test_starter_csv_text_dates_get_their_input_format(tmp_path: Path) -> None:
    """Text dates that prove day first get input_format; ambiguous ones stay text."""
    source = tmp_path / "in.csv"
    source.write_text(
        "Ref;Start;Review;Amount;Total\n"
        "A;03/04/2026;03/04/2026;1.234;1,5\n"
        "B;13/04/2026;05/06/2026;2.345;2,25\n",
        encoding="utf-8",
    )

    text = _init(str(source))
    mapping_path = tmp_path / "m.yaml"
    mapping_path.write_text(text, encoding="utf-8")
    mapping = load_mapping(mapping_path)

    start = mapping.fields["start"]
    assert (start.type, start.input_format) == (FieldType.DATE, "%d/%m/%Y")
    assert mapping.fields["review"].type is FieldType.TEXT
    assert (
        "    # dates typed as text that read both day first and month first: to send "
        "dates, set type: date and input_format: '%d/%m/%Y' or '%m/%d/%Y'"
    ) in text
    assert mapping.fields["amount"].type is FieldType.TEXT
    total = mapping.fields["total"]
    assert (total.type, total.decimal_separator, total.thousands_separator) == (
        FieldType.DECIMAL,
        ",",
        ".",
    )
    assert "sheet:" not in text


def test_starter_reports_blank_repeated_and_tool_columns(tmp_path: Path) -> None:
    """Unnamed and repeated headers become comments; Instance ID is recognised."""
    source = write_ods(
        tmp_path / "in.ods",
        {
            "Data": [
                ["Ref", "Notes", None, "Notes", "Instance ID", "Sync Status"],
                ["A", "x", "y", "z", "i-1", "created"],
            ]
        },
    )

    text = _init(str(source))
    mapping_path = tmp_path / "m.yaml"
    mapping_path.write_text(text, encoding="utf-8")
    mapping = load_mapping(mapping_path)

    assert "  # column C has no header, so it cannot be mapped" in text
    assert "  # 'Notes' (column B) appears 2 times: rename it in the sheet" in text
    assert mapping.instance_id_column == "Instance ID"
    assert list(mapping.fields) == ["ref"]


def test_starter_quotes_headers_yaml_would_misread(tmp_path: Path) -> None:
    """Headers such as 'Yes', 'No: 1' or '#' round-trip through the YAML unchanged."""
    headers = ["Ref #", "Yes", "No: 1", "[x]", "null", "'q'"]
    source = write_xlsx(tmp_path / "in.xlsx", [headers, ["a", "b", "c", "d", "e", "f"]])
    mapping_path = tmp_path / "m.yaml"
    mapping_path.write_text(_init(str(source)), encoding="utf-8")

    mapping = load_mapping(mapping_path)

    assert [spec.column for spec in mapping.fields.values()] == headers


def test_starter_sheet_option_reads_that_sheet(tmp_path: Path) -> None:
    """--sheet picks a sheet other than the first visible one."""
    source = write_ods(
        tmp_path / "in.ods",
        {"First": [["A"], ["1"]], "Second": [["Code", "Label"], ["X1", "x"]]},
    )

    text = _init(str(source), "--sheet", "Second")

    assert "sheet: Second" in text
    assert "    column: Code" in text
