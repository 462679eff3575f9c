"""The main job end to end: the sample workbook synced into the emulator over HTTP."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import SAMPLE_CSV, SAMPLE_MAPPING, SAMPLE_XLSX, Kianda, invoke

INVALID_ROWS = {13, 24, 37}


def _results(path: Path) -> dict[int, dict[str, str]]:
    """The Results sheet as {Source Row: {column: text}}."""
    sheet = openpyxl.load_workbook(path)["Results"]
    lines = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in lines[0]]
    table = {}
    for line in lines[1:]:
        record = {
            h: "" if v is None else str(v) for h, v in zip(header, line, strict=True)
        }
        table[int(record["Source Row"])] = record
    return table


def _sheet_rows(path: Path) -> dict[int, dict[str, object]]:
    """The sample's data rows as {row number: {header: typed value}}."""
    sheet = openpyxl.load_workbook(path)["Requests"]
    lines = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in lines[0]]
    return {
        number: dict(zip(header, line, strict=True))
        for number, line in enumerate(lines[1:], start=2)
    }


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the sample workbook in the test's folder."""
    return Path(shutil.copy(SAMPLE_XLSX, tmp_path / "requests.xlsx"))


def test_run_sample_creates_every_valid_row_once(kianda: Kianda, sample: Path) -> None:
    """Each valid row becomes one instance holding exactly its mapped text and value."""
    before = sample.read_bytes()

    result = invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert result.exit_code == 1
    assert "42 created" in result.output
    assert "3 invalid" in result.output
    assert sample.read_bytes() == before
    results = _results(sample.with_name("requests.results.xlsx"))
    sheet = _sheet_rows(sample)
    assert set(results) == set(sheet)
    instances = kianda.store.instances("training-request")
    assert len(instances) == 42
    assert kianda.store.count("POST", "/api/instances/create") == 42

    for number, record in results.items():
        if number in INVALID_ROWS:
            assert (record["Sync Status"], record["Sync Action"]) == ("invalid", "none")
            assert record["Instance ID"] == ""
            continue
        assert (record["Sync Status"], record["Sync Action"]) == ("created", "create")
        fields = instances[record["Instance ID"]]["fields"]
        typed = sheet[number]
        start = typed["Start Date"]
        assert fields["requestRef"]["value"] == typed["Request Ref"]
        assert fields["employeeId"]["value"] == typed["Employee ID"]
        assert fields["employeeName"]["value"] == (
            f"{typed['First Name']} {typed['Last Name']}"
        )
        assert fields["startDate"]["value"] == start.date().isoformat()
        assert fields["approved"] == {
            "text": typed["Approved"],
            "value": "true" if typed["Approved"] == "Yes" else "false",
        }
        assert fields["source"] == {"text": "excel-import", "value": "excel-import"}
        assert ("notes" in fields) == (typed["Notes"] is not None)


def test_run_sample_keeps_leading_zeros_and_accents(
    kianda: Kianda, sample: Path
) -> None:
    """IDs keep their zeros, names their accents, and the results echo them as text."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    results = _results(sample.with_name("requests.results.xlsx"))
    first = results[2]
    assert first["Employee ID"] == "001506"
    assert first["First Name"] == "José"
    sheet = openpyxl.load_workbook(sample.with_name("requests.results.xlsx"))["Results"]
    date_cell, cost_cell = sheet["G2"], sheet["H2"]
    assert (date_cell.value, date_cell.number_format) == (
        dt.datetime(2027, 10, 25),
        "DD/MM/YYYY",
    )
    assert (cost_cell.value, cost_cell.number_format) == (1250.5, "#,##0.00")
    fields = kianda.store.get(first["Instance ID"])["fields"]
    assert fields["employeeId"] == {"text": "001506", "value": "001506"}
    assert fields["employeeName"]["value"] == "José García"
    assert fields["department"] == {"text": "Finance", "value": "fin"}
    assert fields["cost"]["value"] == "1250.5"


def test_run_sample_invalid_rows_say_why(kianda: Kianda, sample: Path) -> None:
    """An empty required cell and a repeated key are reported on their rows."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    results = _results(sample.with_name("requests.results.xlsx"))
    assert results[13]["Sync Message"] == "'Employee ID' is empty but required."
    assert "'TR-2026-0023' is also on row 37" in results[24]["Sync Message"]
    assert "'TR-2026-0023' is also on row 24" in results[37]["Sync Message"]


def test_run_twice_creates_nothing_new(kianda: Kianda, sample: Path) -> None:
    """A second run of the same file sends no request; every row is unchanged."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    first = _results(sample.with_name("requests.results.xlsx"))
    requests_before = kianda.store.count(path_prefix="/api/")

    result = invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert result.exit_code == 1
    assert "0 created, 0 updated, 42 unchanged, 3 invalid" in result.output
    assert kianda.store.count(path_prefix="/api/") == requests_before
    second = _results(sample.with_name("requests.results.xlsx"))
    assert {n: r["Instance ID"] for n, r in second.items()} == {
        n: r["Instance ID"] for n, r in first.items()
    }


def test_run_changed_row_is_updated_by_id(kianda: Kianda, sample: Path) -> None:
    """A row edited after the first run is patched on its instance, not created."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    instance_id = _results(sample.with_name("requests.results.xlsx"))[5]["Instance ID"]
    book = openpyxl.load_workbook(sample)
    book["Requests"]["F5"] = "Advanced Negotiation"
    book.save(sample)

    result = invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert "0 created, 1 updated, 41 unchanged" in result.output
    assert kianda.store.count("PATCH") == 1
    assert kianda.store.request_log[-1] == (
        "PATCH",
        f"/api/instances/{instance_id}/update",
    )
    held = kianda.store.get(instance_id)
    assert held is not None
    assert held["fields"]["course"]["value"] == "Advanced Negotiation"
    assert held["version"] == 2
    assert len(kianda.store.instances()) == 42


def test_run_instance_id_column_is_honoured(kianda: Kianda, sample: Path) -> None:
    """A results workbook fed back as input updates the instances its IDs name."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    results = sample.with_name("requests.results.xlsx")
    mapping = Path("mapping.yaml")
    text = SAMPLE_MAPPING.read_text(encoding="utf-8").replace(
        "sheet: Requests", "sheet: Results\ninstance_id_column: Instance ID"
    )
    mapping.write_text(text, encoding="utf-8")
    book = openpyxl.load_workbook(results)
    book["Results"]["F2"] = "Changed course"
    book.save(results)
    target = _results(results)[2]["Instance ID"]

    result = invoke(
        ["run", str(mapping), str(results), "-o", "again.xlsx"],
        kianda.env(KIANDA_LEDGER=str(Path("other-ledger.sqlite3").resolve())),
    )

    assert "0 created, 42 updated" in result.output
    assert kianda.store.get(target)["fields"]["course"]["value"] == "Changed course"
    assert len(kianda.store.instances()) == 42


def test_run_csv_twin_matches_workbook(kianda: Kianda, tmp_path: Path) -> None:
    """The CSV twin of the sample sends the same fields as the workbook."""
    csv_copy = Path(shutil.copy(SAMPLE_CSV, tmp_path / "requests.csv"))

    result = invoke(["run", str(SAMPLE_MAPPING), str(csv_copy)], kianda.env())

    assert result.exit_code == 1
    assert "42 created" in result.output
    results = _results(csv_copy.with_name("requests.results.xlsx"))
    assert results[13]["Sync Status"] == "invalid"
    held = kianda.store.get(results[2]["Instance ID"])
    assert held is not None
    assert held["fields"]["employeeId"]["value"] == "001506"
    assert held["fields"]["startDate"]["value"] == "2027-10-25"
    assert held["fields"]["cost"]["value"] == "1250.50"


def test_run_wrong_token_stops_with_one_message(kianda: Kianda, sample: Path) -> None:
    """A refused token ends the run with exit code 3 and one clear message."""
    env = kianda.env(KIANDA_TOKEN="not-the-right-token")

    result = invoke(["run", str(SAMPLE_MAPPING), str(sample)], env)

    assert result.exit_code == 3
    assert result.output.count("HTTP 401") == 1
    assert "Set a fresh KIANDA_TOKEN" in result.output
    assert "not-the-right-token" not in result.output
    assert kianda.store.instances() == {}
    results = _results(sample.with_name("requests.results.xlsx"))
    statuses = {r["Sync Status"] for n, r in results.items() if n not in INVALID_ROWS}
    assert statuses == {"not attempted"}


def test_run_missing_column_stops_before_any_request(
    kianda: Kianda, sample: Path
) -> None:
    """A mapping naming a missing column exits 2 and names the nearest header."""
    mapping = Path("mapping.yaml")
    text = SAMPLE_MAPPING.read_text(encoding="utf-8")
    mapping.write_text(text.replace("column: Course", "column: Course Name"), "utf-8")

    result = invoke(["run", str(mapping), str(sample)], kianda.env())

    assert result.exit_code == 2
    assert "the column 'Course Name' is not in the header row" in result.output
    assert "The nearest header is 'Course'" in result.output
    line = text.splitlines().index("    column: Course") + 1
    assert f"mapping.yaml, line {line}:" in result.output
    assert kianda.store.request_log == []
    assert not sample.with_name("requests.results.xlsx").exists()


def test_run_without_configuration_names_the_variables(sample: Path) -> None:
    """Without KIANDA_DOMAIN and credentials the run stops before reading any row."""
    result = invoke(["run", str(SAMPLE_MAPPING), str(sample)])

    assert result.exit_code == 2
    assert "KIANDA_DOMAIN" in result.output
    assert "KIANDA_TOKEN" in result.output
    assert "--emulator" in result.output
    assert not sample.with_name("requests.results.xlsx").exists()


def test_run_built_in_emulator_remembers_between_runs(
    sample: Path, tmp_path: Path
) -> None:
    """--emulator keeps its instances beside the ledger; a second run is unchanged."""
    ledger = tmp_path / "state" / "ledger.sqlite3"
    args = [
        "run",
        str(SAMPLE_MAPPING),
        str(sample),
        "--emulator",
        "--ledger",
        str(ledger),
    ]

    first = invoke(args)
    second = invoke(args)

    assert "built-in Kianda emulator" in first.output
    assert "42 created" in first.output
    assert "0 created, 0 updated, 42 unchanged" in second.output
    assert ledger.with_name("ledger.emulator.json").exists()


def test_validate_sends_nothing_and_marks_rows_ready(sample: Path) -> None:
    """validate needs no configuration and says ready or invalid for every row."""
    result = invoke(["validate", str(SAMPLE_MAPPING), str(sample)])

    assert result.exit_code == 1
    assert "42 ready" in result.output
    results = _results(sample.with_name("requests.validate.xlsx"))
    assert {r["Sync Status"] for r in results.values()} == {"ready", "invalid"}
    assert results[13]["Sync Status"] == "invalid"


def test_run_dry_run_sends_nothing(kianda: Kianda, sample: Path) -> None:
    """--dry-run plans each row but sends no request and writes no ledger entry."""
    result = invoke(
        ["run", str(SAMPLE_MAPPING), str(sample), "--dry-run"], kianda.env()
    )

    assert result.exit_code == 1
    assert "42 ready" in result.output
    assert kianda.store.request_log == []
    results = _results(sample.with_name("requests.dry-run.xlsx"))
    assert results[2]["Sync Action"] == "create"


def test_run_results_fed_back_change_nothing(kianda: Kianda, sample: Path) -> None:
    """The results workbook, run again with the same mapping, is all unchanged."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    results = sample.with_name("requests.results.xlsx")
    requests_before = kianda.store.count(path_prefix="/api/")

    again = invoke(
        ["run", str(SAMPLE_MAPPING), str(results), "-o", "again.xlsx"], kianda.env()
    )

    assert "0 created, 0 updated, 42 unchanged, 3 invalid" in again.output
    assert kianda.store.count(path_prefix="/api/") == requests_before
