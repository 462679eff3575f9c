"""Tests of reading xlsx and CSV inputs into rows that keep what the user typed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.errors import InputError
from sync.mapping import Mapping, load_mapping
from sync.reader import CellError, Table, Uncalculated, detect_encoding, open_table


def mapping_of(tmp_path: Path, *top: str) -> Mapping:
    """A mapping reading Ref and Name, with extra top-level lines."""
    path = tmp_path / "mapping.yaml"
    lines = ["process: staff", "key: Ref", *top, "fields:", "  name: Name"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_mapping(path)


def write_xlsx(path: Path, rows: list[list[object]], title: str = "Staff") -> Path:
    """Save one sheet holding the rows, starting at A1."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def texts(table: Table) -> list[tuple[int, list[str]]]:
    """Each data row as (Source Row, the texts of its cells)."""
    return [(row.number, [cell.text for cell in row.cells]) for row in table.rows()]


def input_error(path: Path, mapping: Mapping) -> str:
    """The message of the InputError that opening (and reading) the file raises."""
    with pytest.raises(InputError) as info:
        list(open_table(path, mapping).rows())
    return str(info.value)


# --- workbooks ---------------------------------------------------------------------


def test_open_table_xlsx_keeps_leading_zeros(tmp_path: Path) -> None:
    """Text IDs and numbers formatted 00000 both keep their leading zeros."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Ref", "Name", "Badge"])
    sheet.append(["00123", "Ann", 42])
    sheet["C2"].number_format = "00000"
    book.save(tmp_path / "input.xlsx")
    table = open_table(tmp_path / "input.xlsx", mapping_of(tmp_path))
    assert texts(table) == [(2, ["00123", "Ann", "00042"])]


def test_open_table_xlsx_empty_cell_is_empty(tmp_path: Path) -> None:
    """An empty cell reads as no value and empty text, never 'nan' or 'None'."""
    path = write_xlsx(
        tmp_path / "input.xlsx", [["Ref", "Name", "Team"], ["1", None, "A"]]
    )
    [row] = open_table(path, mapping_of(tmp_path)).rows()
    cell = row.cell(1)
    assert (cell.value, cell.text, cell.is_empty) == (None, "", True)


def test_open_table_xlsx_reads_typed_cells_as_shown(tmp_path: Path) -> None:
    """Numbers, dates and booleans read with the text Excel shows for them."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Ref", "Name", "Count", "Start", "Active", "Rate"])
    sheet.append([1042.0, "Ann", 0.1, dt.datetime(2026, 3, 4), True, 0.15])
    sheet["D2"].number_format = "dd/mm/yyyy"
    sheet["F2"].number_format = "0%"
    book.save(tmp_path / "input.xlsx")
    table = open_table(tmp_path / "input.xlsx", mapping_of(tmp_path))
    assert texts(table) == [(2, ["1042", "Ann", "0.1", "04/03/2026", "TRUE", "15%"])]


def test_open_table_xlsx_source_rows_follow_the_sheet(tmp_path: Path) -> None:
    """With header_row 3, data rows keep the sheet's own numbers, skipping blanks."""
    path = write_xlsx(
        tmp_path / "input.xlsx",
        [
            ["Staff export"],
            [],
            ["Ref", "Name"],
            ["001", "Ann"],
            [None, None],
            ["   ", "\u00a0"],
            ["002", "Bob"],
        ],
    )
    table = open_table(path, mapping_of(tmp_path, "header_row: 3"))
    assert (table.headers, texts(table)) == (
        ["Ref", "Name"],
        [(4, ["001", "Ann"]), (7, ["002", "Bob"])],
    )


def test_open_table_xlsx_blank_row_does_not_end_data(tmp_path: Path) -> None:
    """Rows after a run of blank rows are still read."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Ref", "Name"])
    sheet.append(["001", "Ann"])
    sheet["A9"] = "002"
    sheet["B9"] = "Bob"
    book.save(tmp_path / "input.xlsx")
    table = open_table(tmp_path / "input.xlsx", mapping_of(tmp_path))
    assert texts(table) == [(2, ["001", "Ann"]), (9, ["002", "Bob"])]


def test_open_table_xlsx_picks_first_visible_sheet(tmp_path: Path) -> None:
    """Without sheet:, a hidden first sheet is passed over for the first visible one."""
    book = openpyxl.Workbook()
    hidden = book.active
    hidden.title = "Lookup"
    hidden.sheet_state = "hidden"
    hidden.append(["Code", "Label"])
    data = book.create_sheet("Staff")
    data.append(["Ref", "Name"])
    data.append(["001", "Ann"])
    book.save(tmp_path / "input.xlsx")
    table = open_table(tmp_path / "input.xlsx", mapping_of(tmp_path))
    assert (table.sheet, table.headers, texts(table)) == (
        "Staff",
        ["Ref", "Name"],
        [(2, ["001", "Ann"])],
    )


def test_open_table_xlsx_reads_named_sheet(tmp_path: Path) -> None:
    """With sheet:, that sheet is read even when it is not the first."""
    book = openpyxl.Workbook()
    book.active.append(["Other", "Stuff"])
    data = book.create_sheet("Requests")
    data.append(["Ref", "Name"])
    data.append(["007", "Cy"])
    book.save(tmp_path / "input.xlsx")
    table = open_table(tmp_path / "input.xlsx", mapping_of(tmp_path, "sheet: Requests"))
    assert (table.name, texts(table)) == (
        "input.xlsx (sheet 'Requests')",
        [(2, ["007", "Cy"])],
    )


def test_open_table_xlsx_missing_sheet_lists_sheets(tmp_path: Path) -> None:
    """A sheet: that does not exist is an InputError listing the real sheets."""
    book = openpyxl.Workbook()
    book.active.title = "Staff"
    book.create_sheet("Lookup")
    book.save(tmp_path / "input.xlsx")
    mapping = mapping_of(tmp_path, "sheet: Requests")
    assert input_error(tmp_path / "input.xlsx", mapping) == (
        "input.xlsx has no sheet named 'Requests'; its sheets are 'Staff', 'Lookup'. "
        "Fix 'sheet:' in the mapping and run again."
    )


def test_open_table_xlsx_empty_header_row_is_refused(tmp_path: Path) -> None:
    """A header_row with nothing in it is an InputError pointing at header_row."""
    path = write_xlsx(tmp_path / "input.xlsx", [["Ref", "Name"], ["001", "Ann"]])
    assert input_error(path, mapping_of(tmp_path, "header_row: 4")) == (
        "Row 4 of input.xlsx (sheet 'Staff') is empty, so there are no column "
        "names. Set header_row in the mapping to the row that holds them."
    )


def test_open_table_xlsx_uncalculated_formula_is_flagged(tmp_path: Path) -> None:
    """A formula saved without its result reads as Uncalculated, not as empty."""
    path = write_xlsx(
        tmp_path / "input.xlsx", [["Ref", "Name", "Double"], ["001", 21, "=B2*2"]]
    )
    [row] = open_table(path, mapping_of(tmp_path)).rows()
    cell = row.cell(2)
    assert (type(cell.value), cell.value, cell.text, cell.is_empty) == (
        Uncalculated,
        "=B2*2",
        "=B2*2",
        False,
    )


def test_open_table_xlsx_error_value_is_flagged(tmp_path: Path) -> None:
    """An Excel error value such as #N/A reads as a CellError with its text."""
    path = write_xlsx(tmp_path / "input.xlsx", [["Ref", "Name"], ["001", "#N/A"]])
    [row] = open_table(path, mapping_of(tmp_path)).rows()
    assert (type(row.cell(1).value), row.cell(1).text) == (CellError, "#N/A")


def test_open_table_xlsx_drops_empty_trailing_headers(tmp_path: Path) -> None:
    """Empty header cells at the right end are formatting residue, not columns."""
    path = write_xlsx(
        tmp_path / "input.xlsx", [["Ref", "Name", None, " "], ["001", "Ann", None]]
    )
    table = open_table(path, mapping_of(tmp_path))
    assert (table.headers, texts(table)) == (["Ref", "Name"], [(2, ["001", "Ann"])])


# --- CSV ---------------------------------------------------------------------------


def test_open_table_csv_empty_cell_is_empty(tmp_path: Path) -> None:
    """An empty CSV field reads as empty text, never 'nan'."""
    path = tmp_path / "input.csv"
    path.write_bytes(b"Ref,Name,Team\n00123,,A\n")
    [row] = open_table(path, mapping_of(tmp_path)).rows()
    assert ([cell.text for cell in row.cells], row.cell(1).is_empty) == (
        ["00123", "", "A"],
        True,
    )


@pytest.mark.parametrize(
    ("data", "top", "expected_encoding"),
    [
        ("Ref,Name\n001,Zoë Café\n".encode(), [], "utf-8"),
        ("Ref,Name\n001,Zoë Café\n".encode("utf-8-sig"), [], "utf-8-sig"),
        ("Ref,Name\n001,Zoë Café\n".encode("cp1252"), [], "cp1252"),
        ("Ref,Name\n001,Zoë Café\n".encode("cp1252"), ["encoding: cp1252"], "cp1252"),
        (
            "Ref,Name\n001,Zoë Café\n".encode("utf-8-sig"),
            ["encoding: utf-8"],
            "utf-8-sig",
        ),
    ],
    ids=["utf-8", "utf-8-bom", "cp1252", "cp1252-set", "utf-8-bom-set-as-utf-8"],
)
def test_open_table_csv_reads_encodings(
    tmp_path: Path, data: bytes, top: list[str], expected_encoding: str
) -> None:
    """UTF-8, UTF-8 with a BOM and Windows-1252 files all read the same text."""
    path = tmp_path / "input.csv"
    path.write_bytes(data)
    table = open_table(path, mapping_of(tmp_path, *top))
    assert (detect_encoding(path), table.headers, texts(table)) == (
        expected_encoding,
        ["Ref", "Name"],
        [(2, ["001", "Zoë Café"])],
    )


def test_open_table_csv_wrong_encoding_is_refused(tmp_path: Path) -> None:
    """A file that is not in the mapping's encoding is an InputError saying so."""
    path = tmp_path / "input.csv"
    path.write_bytes("Ref,Name\n001,Café\n".encode("cp1252"))
    assert input_error(path, mapping_of(tmp_path, "encoding: utf-8")) == (
        "input.csv is not valid utf-8 text (byte 16). Set 'encoding:' in the "
        "mapping to the file's real encoding and run again."
    )


def test_open_table_csv_unknown_encoding_is_refused(tmp_path: Path) -> None:
    """An encoding name Python does not know is an InputError naming it."""
    path = tmp_path / "input.csv"
    path.write_bytes(b"Ref,Name\n001,Ann\n")
    assert input_error(path, mapping_of(tmp_path, "encoding: klingon")) == (
        "The mapping's encoding 'klingon' is not known. Use a name such as "
        "utf-8, utf-8-sig or cp1252."
    )


@pytest.mark.parametrize(
    "delimiter",
    [",", ";", "\t", "|"],
    ids=["comma", "semicolon", "tab", "pipe"],
)
def test_open_table_csv_detects_delimiter(tmp_path: Path, delimiter: str) -> None:
    """The field separator is found from the file itself."""
    other = "," if delimiter != "," else ";"
    lines = [
        ["Ref", "Name", "Amount"],
        ["001", "Ann", f"1{other}5"],
        ["002", "Bob", "2"],
    ]
    path = tmp_path / "input.csv"
    path.write_text(
        "".join(delimiter.join(line) + "\r\n" for line in lines), encoding="utf-8"
    )
    table = open_table(path, mapping_of(tmp_path))
    assert (table.headers, texts(table)) == (
        ["Ref", "Name", "Amount"],
        [(2, ["001", "Ann", f"1{other}5"]), (3, ["002", "Bob", "2"])],
    )


def test_open_table_csv_delimiter_from_mapping(tmp_path: Path) -> None:
    """A delimiter: set in the mapping is used as given."""
    path = tmp_path / "input.csv"
    path.write_bytes(b"Ref;Name\n001;Ann, Jr\n")
    table = open_table(path, mapping_of(tmp_path, "delimiter: ';'"))
    assert texts(table) == [(2, ["001", "Ann, Jr"])]


def test_open_table_csv_quoted_newline_keeps_record_numbers(tmp_path: Path) -> None:
    """A quoted cell with line breaks is one record, so later rows keep numbering."""
    path = tmp_path / "input.csv"
    path.write_bytes(b'Ref,Name\n001,"Ann\nSmith\r\nJr"\n002,Bob\n')
    table = open_table(path, mapping_of(tmp_path))
    assert texts(table) == [(2, ["001", "Ann\nSmith\r\nJr"]), (3, ["002", "Bob"])]


def test_open_table_csv_skips_blank_records(tmp_path: Path) -> None:
    """Empty lines and lines of empty fields are not records but still count."""
    path = tmp_path / "input.csv"
    path.write_bytes(b"Ref,Name\n001,Ann\n\n,\n , \xc2\xa0\n002,Bob\n")
    table = open_table(path, mapping_of(tmp_path))
    assert texts(table) == [(2, ["001", "Ann"]), (6, ["002", "Bob"])]


def test_open_table_csv_header_row_below_a_title(tmp_path: Path) -> None:
    """With header_row 2, records are numbered counting the title line as 1."""
    path = tmp_path / "input.csv"
    path.write_bytes(b"Staff export,\nRef,Name\n001,Ann\n")
    table = open_table(path, mapping_of(tmp_path, "header_row: 2"))
    assert (table.headers, texts(table)) == (["Ref", "Name"], [(3, ["001", "Ann"])])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b"001,Ann,Smith\n",
            "This row has 3 cells but the header has 2; a delimiter inside an "
            "unquoted value may have split it. Quote the value or fix the row.",
        ),
        (b"001,Ann,,\n", None),
        (b"001\n", None),
    ],
    ids=["extra-cell", "empty-extra-cells", "short-row"],
)
def test_open_table_csv_flags_overlong_rows(
    tmp_path: Path, line: bytes, expected: str | None
) -> None:
    """A row with more filled cells than headers carries a problem; others do not."""
    path = tmp_path / "input.csv"
    path.write_bytes(b"Ref,Name\n" + line)
    [row] = open_table(path, mapping_of(tmp_path)).rows()
    assert (row.number, row.problem) == (2, expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "missing.csv",
            "The input file <dir>/missing.csv does not exist. Check the path and "
            "run again.",
        ),
        (
            "input.json",
            "The input file <dir>/input.json is a '.json' file; kianda-sync reads "
            ".xlsx, .xlsm, .xls, .ods and .csv. Save it in one of those formats and "
            "run again.",
        ),
    ],
    ids=["missing", "unsupported-suffix"],
)
def test_open_table_refuses_unusable_paths(
    tmp_path: Path, name: str, expected: str
) -> None:
    """A missing file or an unsupported kind is an InputError saying what to do."""
    if name != "missing.csv":
        (tmp_path / name).write_text("{}", encoding="utf-8")
    assert input_error(tmp_path / name, mapping_of(tmp_path)) == expected.replace(
        "<dir>", str(tmp_path)
    )


# --- properties --------------------------------------------------------------------

LEADING_ZERO_IDS = st.from_regex(r"0[0-9]{1,18}", fullmatch=True)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(LEADING_ZERO_IDS, min_size=1, max_size=4))
def test_open_table_keeps_digit_text_in_csv_and_xlsx(
    tmp_path: Path, ids: list[str]
) -> None:
    """Digit text with leading zeros reads back unchanged from CSV and xlsx."""
    mapping = mapping_of(tmp_path)
    csv_path = tmp_path / "input.csv"
    csv_path.write_text(
        "Ref,Name\n" + "".join(f"{ref},x\n" for ref in ids), encoding="utf-8"
    )
    xlsx_path = write_xlsx(
        tmp_path / "input.xlsx", [["Ref", "Name"], *([ref, "x"] for ref in ids)]
    )
    expected = [(number, [ref, "x"]) for number, ref in enumerate(ids, start=2)]
    assert [
        texts(open_table(csv_path, mapping)),
        texts(open_table(xlsx_path, mapping)),
    ] == [expected, expected]
