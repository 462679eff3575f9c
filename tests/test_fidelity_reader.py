"""Reading: every format, sheet choice, header row, merged and odd headers, dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from sync.errors import InputError
from sync.mapping import Mapping
from sync.reader import open_table
from tests.conftest import invoke
from tests.fidelity_helpers import (
    results_rows,
    sync_to_emulator,
    write_mapping,
    write_ods,
    write_xlsx,
)

DATA = Path(__file__).parent / "data"
XLS = DATA / "input.xls"


def _mapping(**extra: object) -> Mapping:
    data: dict[str, object] = {"process": "p", "key": ["Ref"], "fields": {"ref": "Ref"}}
    return Mapping.model_validate({**data, **extra})


def _texts(path: Path, mapping: Mapping) -> list[tuple[int, list[str]]]:
    table = open_table(path, mapping)
    return [(row.number, [cell.text for cell in row.cells]) for row in table.rows()]


# --- .xls and .ods -------------------------------------------------------------------


def test_reader_xls_reads_first_visible_sheet_with_header_below_a_title() -> None:
    """An .xls file skips its hidden first sheet and keeps IDs, numbers and dates."""
    table = open_table(XLS, _mapping(header_row=3))

    rows = list(table.rows())

    assert table.sheet == "Requests"
    assert table.headers[:3] == ["Request Ref", "Employee ID", "Cost"]
    assert [row.number for row in rows] == [4, 5, 7]
    first = rows[0].cells
    assert [c.text for c in first[:4]] == ["TR-1", "000123", "0.1", "3"]
    assert first[4].value == dt.date(2026, 3, 4)
    assert (first[5].value, first[5].text) == (True, "TRUE")
    assert first[6].text == "1234567890123456"
    assert rows[1].cells[7].text == "Café"


def test_run_xls_sends_each_cell_as_typed(tmp_path: Path) -> None:
    """A run over an .xls file sends text, exact numbers, dates and booleans."""
    mapping = write_mapping(
        tmp_path / "m.yaml",
        "process: legacy\nheader_row: 3\nkey: [Request Ref]\nfields:\n"
        "  ref: Request Ref\n  employeeId: Employee ID\n"
        "  cost: {column: Cost, type: decimal}\n  days: {column: Days, type: integer}\n"
        "  start: {column: Start Date, type: date}\n"
        "  approved: {column: Approved, type: boolean}\n  reference: Reference\n",
    )
    source = tmp_path / "input.xls"
    source.write_bytes(XLS.read_bytes())

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 0, result.output
    assert {k: v["value"] for k, v in held["TR-1"].items()} == {
        "ref": "TR-1",
        "employeeId": "000123",
        "cost": "0.1",
        "days": "3",
        "start": "2026-03-04",
        "approved": "true",
        "reference": "1234567890123456",
    }
    assert held["TR-2"]["cost"]["value"] == "1234.5"
    assert sorted(held) == ["TR-1", "TR-2", "TR-3"]


def test_reader_ods_reads_typed_cells_past_hidden_sheet(tmp_path: Path) -> None:
    """An .ods file gives typed values, the first visible sheet and real row numbers."""
    source = write_ods(
        tmp_path / "in.ods",
        {
            "Old": [["Ref"], ["X"]],
            "Data": [
                [None, "Exported 2026-03-01"],
                [None, "Ref", "Amount", "Start", "Done"],
                [None, "00042", 0.1, dt.date(2026, 12, 31), False],
                [None, None, None, None, None],
                [None, "00043", 1234567.25, dt.date(2026, 1, 2), True],
            ],
        },
        hidden=["Old"],
    )
    table = open_table(source, _mapping(header_row=2))

    rows = list(table.rows())

    assert (table.sheet, table.headers) == (
        "Data",
        ["", "Ref", "Amount", "Start", "Done"],
    )
    assert [row.number for row in rows] == [3, 5]
    assert [c.text for c in rows[0].cells] == [
        "",
        "00042",
        "0.1",
        "2026-12-31",
        "FALSE",
    ]
    assert rows[1].cells[2].text == "1234567.25"


def test_reader_unknown_suffix_names_the_readable_formats(tmp_path: Path) -> None:
    """A file kianda-sync cannot read stops with the list of formats it can."""
    source = tmp_path / "in.numbers"
    source.write_bytes(b"x")

    with pytest.raises(
        InputError, match=r"reads \.xlsx, \.xlsm, \.xls, \.ods and \.csv"
    ):
        open_table(source, _mapping())


def test_reader_broken_xls_is_an_input_error(tmp_path: Path) -> None:
    """A file named .xls that is not one stops with a sentence, not a traceback."""
    source = tmp_path / "in.xls"
    source.write_bytes(b"not a workbook")

    with pytest.raises(InputError, match=r"cannot be opened as a \.xls workbook"):
        open_table(source, _mapping())


# --- the 1900 and 1904 date systems ----------------------------------------------


@pytest.mark.parametrize("epoch", [None, CALENDAR_MAC_1904], ids=["1900", "1904"])
def test_run_date_systems_send_the_day_shown(tmp_path: Path, epoch: object) -> None:
    """Real dates and bare serial numbers give the day Excel shows, in each system."""
    serial = 46085 if epoch is None else 46085 - 1462  # 2026-03-04 in each system
    source = write_xlsx(
        tmp_path / "in.xlsx",
        [["Ref", "Start", "Serial"], ["A", dt.date(2026, 3, 4), serial]],
        epoch=epoch,
    )
    mapping = write_mapping(
        tmp_path / "m.yaml",
        "process: p\nkey: [Ref]\nfields:\n  ref: Ref\n"
        "  start: {column: Start, type: date}\n"
        "  serial: {column: Serial, type: date}\n",
    )

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 0, result.output
    assert held["A"]["start"]["value"] == "2026-03-04"
    assert held["A"]["serial"]["value"] == "2026-03-04"


# --- header rows -------------------------------------------------------------


def test_headers_mapped_merged_header_stops_before_any_request(tmp_path: Path) -> None:
    """A mapped header merged over two columns is refused: which one holds the data?"""
    source = write_xlsx(
        tmp_path / "in.xlsx",
        [["Ref", "Name", None], ["A", "Ada", "Lovelace"]],
        merges=["B1:C1"],
    )
    mapping = write_mapping(
        tmp_path / "m.yaml",
        "process: p\nkey: [Ref]\nfields:\n  ref: Ref\n  name: Name\n",
    )

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 2
    assert "m.yaml, line 5: the column 'Name' is the merged cell B1:C1" in result.output
    assert "spread over columns B and C" in result.output
    assert not (tmp_path / "in.results.xlsx").exists()


def test_headers_xls_merged_header_is_found_too(tmp_path: Path) -> None:
    """Merged header cells of an .xls file are reported the same way."""
    mapping = write_mapping(
        tmp_path / "m.yaml",
        "process: p\nsheet: Merged\nkey: [Ref]\nfields:\n  ref: Ref\n  name: Name\n",
    )

    result = invoke(
        ["validate", str(mapping), str(XLS), "-o", str(tmp_path / "r.xlsx")]
    )

    assert result.exit_code == 2
    assert "the column 'Name' is the merged cell A1:B1" in result.output


def test_headers_merged_name_above_header_row_is_explained(tmp_path: Path) -> None:
    """A name merged down from above the header row says so and how to fix it."""
    source = write_xlsx(
        tmp_path / "in.xlsx",
        [["Ref", "Contact", None], [None, "Email", "Phone"], ["A", "a@x", "1"]],
        merges=["A1:A2", "B1:C1"],
    )
    mapping = write_mapping(
        tmp_path / "m.yaml",
        "process: p\nheader_row: 2\nkey: [Ref]\nfields:\n  ref: Ref\n  email: Email\n",
    )

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 2
    assert (
        "the column 'Ref' is the merged cell A1:A2 of in.xlsx (sheet 'Data'), whose "
        "text is in row 1, above the header row (row 2)"
    ) in result.output


def test_headers_unmapped_oddities_are_warned_not_fatal(tmp_path: Path) -> None:
    """Unmapped merged, blank and repeated headers are reported; the rows go on."""
    source = write_xlsx(
        tmp_path / "in.xlsx",
        [
            ["Ref", "Notes", None, "Group", None, "Notes"],
            ["A", "n1", "x", "g", "h", "n2"],
        ],
        merges=["D1:E1"],
    )
    mapping = write_mapping(
        tmp_path / "m.yaml", "process: p\nkey: [Ref]\nfields:\n  ref: Ref\n"
    )

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 0, result.output
    assert "the header cell 'Group' is merged over D1:E1" in result.output
    assert "column C of the header row (row 1) has no name" in result.output
    assert "the header 'Notes' appears in columns B and F" in result.output
    assert results_rows(tmp_path / "in.validate.xlsx")[2]["Sync Status"] == "ready"


def test_headers_mapped_duplicate_stops(tmp_path: Path) -> None:
    """A mapped header that appears twice stops the run, naming both columns."""
    source = write_xlsx(
        tmp_path / "in.xlsx", [["Ref", "Notes", "Notes"], ["A", "1", "2"]]
    )
    mapping = write_mapping(
        tmp_path / "m.yaml", "process: p\nkey: [Ref]\nfields:\n  ref: Ref\n  n: Notes\n"
    )

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 2
    assert "the column 'Notes' appears 2 times" in result.output
    assert "(columns B, C)" in result.output


def test_reader_trailing_empty_columns_and_blank_rows_are_ignored(
    tmp_path: Path,
) -> None:
    """Formatting residue right of the table and blank rows are not data."""
    source = write_xlsx(
        tmp_path / "in.xlsx",
        [["Ref", "Name", None, None], ["A", "x", None, None], [None] * 4, ["B", "y"]],
    )

    assert _texts(source, _mapping()) == [(2, ["A", "x"]), (4, ["B", "y"])]


def test_reader_empty_header_row_says_set_header_row(tmp_path: Path) -> None:
    """An empty header row stops with the key to set."""
    source = write_xlsx(tmp_path / "in.xlsx", [[None], ["Ref"], ["A"]])

    with pytest.raises(InputError, match=r"Row 1 of in\.xlsx .* is empty.*header_row"):
        open_table(source, _mapping())


def test_reader_excel_error_cell_makes_its_row_invalid(tmp_path: Path) -> None:
    """A cell showing #N/A is not an empty cell: its row is invalid and says why."""
    source = write_xlsx(tmp_path / "in.xlsx", [["Ref", "Cost"], ["A", "x"], ["B", 5]])
    import openpyxl

    book = openpyxl.load_workbook(source)
    book["Data"]["B2"].value = "#N/A"
    book["Data"]["B2"].data_type = "e"
    book.save(source)
    mapping = write_mapping(
        tmp_path / "m.yaml",
        "process: p\nkey: [Ref]\nfields:\n  ref: Ref\n"
        "  cost: {column: Cost, type: decimal}\n",
    )

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 1
    assert "Row 2: 'Cost' shows the Excel error #N/A." in result.output


# --- CSV -------------------------------------------------------------------------


CSV_MAPPING = (
    "process: p\nkey: [Ref]\nfields:\n  ref: Ref\n  name: Name\n  city: City\n"
)


def test_csv_too_few_cells_reads_missing_ones_as_empty(tmp_path: Path) -> None:
    """A short record is fine: its missing cells are empty and left out."""
    source = tmp_path / "in.csv"
    source.write_text("Ref,Name,City\nA,Ann\nB,Bob,Cork\n", encoding="utf-8")
    mapping = write_mapping(tmp_path / "m.yaml", CSV_MAPPING)

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 0, result.output
    assert held["A"] == {
        "ref": {"text": "A", "value": "A"},
        "name": {"text": "Ann", "value": "Ann"},
    }
    assert held["B"]["city"]["value"] == "Cork"


def test_csv_too_many_cells_is_an_invalid_row(tmp_path: Path) -> None:
    """A record with more cells than headers is invalid, and the others go on."""
    source = tmp_path / "in.csv"
    source.write_text(
        "Ref,Name,City\nA,Smith, Ann,Cork\nB,Bob,Cork\n", encoding="utf-8"
    )
    mapping = write_mapping(tmp_path / "m.yaml", CSV_MAPPING)

    result, held = sync_to_emulator(mapping, source)

    assert result.exit_code == 1
    assert sorted(held) == ["B"]
    row = results_rows(tmp_path / "results.xlsx")[2]
    assert row["Sync Status"] == "invalid"
    assert row["Sync Message"].startswith("This row has 4 cells but the header has 3")


@pytest.mark.parametrize(
    "delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"]
)
def test_csv_delimiter_is_found(tmp_path: Path, delimiter: str) -> None:
    """Each common delimiter is found by itself, with commas inside cells kept."""
    lines = [["Ref", "Name", "City"], ["A", "Smith, Ann", "Cork"], ["B", "Bob", "Gort"]]
    if delimiter == ",":
        lines[1][1] = '"Smith, Ann"'
    source = tmp_path / "in.csv"
    source.write_text("\n".join(delimiter.join(r) for r in lines) + "\n", "utf-8")

    assert _texts(source, _mapping()) == [
        (2, ["A", "Smith, Ann", "Cork"]),
        (3, ["B", "Bob", "Gort"]),
    ]


def test_csv_delimiter_in_mapping_wins(tmp_path: Path) -> None:
    """``delimiter:`` in the mapping overrides the guess."""
    source = tmp_path / "in.csv"
    source.write_text("Ref|Name,Full\nA|Ann,Lee\n", encoding="utf-8")

    assert _texts(source, _mapping(delimiter="|")) == [(2, ["A", "Ann,Lee"])]


@pytest.mark.parametrize(
    ("encoding", "found"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("cp1252", "cp1252"),
        ("latin-1", "cp1252"),
    ],
)
def test_csv_encoding_is_found(tmp_path: Path, encoding: str, found: str) -> None:
    """UTF-8 with or without a BOM, Windows-1252 and Latin-1 all read right."""
    from sync.reader import detect_encoding

    text = "Ref,Name\nA,Zoë Müller\nB,Seán Ó Briain\n"
    source = tmp_path / "in.csv"
    source.write_bytes(text.encode(encoding))

    assert detect_encoding(source) == found
    table = open_table(source, _mapping())
    assert table.headers == ["Ref", "Name"]
    assert [r.cells[1].text for r in table.rows()] == ["Zoë Müller", "Seán Ó Briain"]


def test_csv_encoding_in_mapping_wins(tmp_path: Path) -> None:
    """``encoding:`` in the mapping reads a file no guess would (UTF-16 here)."""
    source = tmp_path / "in.csv"
    source.write_bytes("Ref,Name\nA,Zoë\n".encode("utf-16"))

    assert _texts(source, _mapping(encoding="utf-16")) == [(2, ["A", "Zoë"])]


def test_csv_quoted_newlines_and_quotes_keep_record_numbers(tmp_path: Path) -> None:
    """A cell with line breaks and quotes is one cell; later records keep numbers."""
    source = tmp_path / "in.csv"
    source.write_text(
        'Ref,Name\nA,"Line one\nLine ""two"""\nB,Bob\n', encoding="utf-8", newline=""
    )

    assert _texts(source, _mapping()) == [
        (2, ["A", 'Line one\nLine "two"']),
        (3, ["B", "Bob"]),
    ]


def test_csv_wrong_encoding_in_mapping_is_an_input_error(tmp_path: Path) -> None:
    """An encoding that does not fit the bytes stops with the key to fix."""
    source = tmp_path / "in.csv"
    source.write_bytes("Ref,Name\nA,Zoë\n".encode("cp1252"))
    mapping = write_mapping(tmp_path / "m.yaml", "encoding: utf-8\n" + CSV_MAPPING)

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 2
    assert "is not valid utf-8 text" in result.output
    assert "Set 'encoding:' in the mapping" in result.output
