"""``kianda-sync validate``: mapping errors with lines, then every row's problems."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Kianda, invoke
from tests.fidelity_helpers import results_rows, write_mapping

MAPPING = """\
process: p
key: [Ref]
fields:
  ref:
    column: Ref
  qty:
    column: Qty
    type: integer
    required: true
  day:
    column: Day
    type: date
"""

CSV = (
    "Ref,Qty,Day\nA,3,2026-03-04\nB,,2026-03-05\nC,2.5,tomorrow\nA,4,2026-03-06\nD,1,\n"
)


def _files(tmp_path: Path, mapping: str = MAPPING) -> tuple[Path, Path]:
    source = tmp_path / "in.csv"
    source.write_text(CSV, encoding="utf-8")
    return write_mapping(tmp_path / "m.yaml", mapping), source


def test_validate_prints_every_row_problem_and_exits_1(tmp_path: Path) -> None:
    """Each invalid row is printed with its number and reason; exit code 1."""
    mapping, source = _files(tmp_path)

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 1
    printed = [line for line in result.output.splitlines() if line.startswith("Row ")]
    assert printed == [
        "Row 2: The key 'A' is also on row 5; rows with the same key are not sent, "
        "since it is not clear which one is right. Keep one of them.",
        "Row 3: 'Qty' is empty but required.",
        "Row 4: 'Qty' holds '2.5', not a whole number. 'Day' holds 'tomorrow', which "
        "is not a date in ISO form (2026-03-04). Make the cell a real Excel date, or "
        "set input_format for the field (for example '%d/%m/%Y').",
        "Row 5: The key 'A' is also on row 2; rows with the same key are not sent, "
        "since it is not clear which one is right. Keep one of them.",
    ]
    assert "Checked 5 rows of" in result.output
    assert "1 ready, 4 invalid" in result.output


def test_validate_results_say_ready_or_invalid(tmp_path: Path) -> None:
    """The results workbook lists every row as ready or invalid, with the reason."""
    mapping, source = _files(tmp_path)

    invoke(["validate", str(mapping), str(source), "-o", str(tmp_path / "r.xlsx")])

    rows = results_rows(tmp_path / "r.xlsx")
    assert {n: r["Sync Status"] for n, r in rows.items()} == {
        2: "invalid",
        3: "invalid",
        4: "invalid",
        5: "invalid",
        6: "ready",
    }
    assert rows[3]["Sync Message"] == "'Qty' is empty but required."
    assert rows[6]["Sync Action"] is None


def test_validate_all_ready_exits_0(tmp_path: Path) -> None:
    """A clean file exits 0 and prints no row lines."""
    mapping, source = _files(tmp_path)
    source.write_text("Ref,Qty,Day\nA,3,2026-03-04\n", encoding="utf-8")

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 0
    assert not [line for line in result.output.splitlines() if line.startswith("Row ")]


def test_validate_mapping_errors_name_file_and_line(tmp_path: Path) -> None:
    """Unknown keys, bad types and missing columns carry the mapping's line numbers."""
    bad = MAPPING.replace("    required: true", "    requird: true").replace(
        "type: date", "type: when"
    )
    mapping, source = _files(tmp_path, bad)

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 2
    assert "m.yaml, line 9: 'requird' is not a known key. Did you mean 'required'?" in (
        result.output
    )
    assert "m.yaml, line 12: fields.day.type: Input should be" in result.output
    assert not (tmp_path / "in.results.xlsx").exists()


def test_validate_missing_column_names_the_nearest_header(tmp_path: Path) -> None:
    """A column not in the sheet is named with the nearest real header and its line."""
    mapping, source = _files(tmp_path, MAPPING.replace("column: Qty", "column: Qtty"))

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 2
    assert (
        "m.yaml, line 7: the column 'Qtty' is not in the header row (row 1) of "
        "in.csv. The nearest header is 'Qty'."
    ) in result.output


def test_validate_never_contacts_kianda(tmp_path: Path, kianda: Kianda) -> None:
    """Even with a workspace configured, validate sends no request at all."""
    mapping, source = _files(tmp_path)

    result = invoke(["validate", str(mapping), str(source)], kianda.env())

    assert result.exit_code == 1
    assert kianda.store.request_log == []
