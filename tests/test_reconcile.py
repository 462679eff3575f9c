"""kianda-sync reconcile: the sample read back from the emulator and compared."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from sync.outcome import ReconcileSummary, RowState
from sync.reconciliation import reconcile
from sync.report import verdict
from sync.settings import Settings
from tests.conftest import SAMPLE_MAPPING, SAMPLE_XLSX, Kianda, invoke


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the sample workbook in the test's folder."""
    return Path(shutil.copy(SAMPLE_XLSX, tmp_path / "requests.xlsx"))


def _sheet(path: Path, name: str) -> list[tuple[object, ...]]:
    return list(openpyxl.load_workbook(path)[name].iter_rows(values_only=True))


def _summary(path: Path) -> dict[str, str]:
    lines = _sheet(path, "Summary")[2:]
    return {str(line[0]): str(line[1]) for line in lines if line[0] is not None}


def _ids(results: Path) -> dict[int, str]:
    """Instance IDs by source row, from a results workbook."""
    lines = _sheet(results, "Results")
    header = list(lines[0])
    row, instance = header.index("Source Row"), header.index("Instance ID")
    return {int(str(line[row])): str(line[instance]) for line in lines[1:]}


def test_reconcile_synced_sample_is_clean(kianda: Kianda, sample: Path) -> None:
    """Right after a run, every valid row is in sync and the exit code is 0."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    reads_before = kianda.store.count("GET")

    result = invoke(["reconcile", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert result.exit_code == 0, result.output
    assert (
        "42 in sync, 0 differ, 0 missing in Kianda, 0 never synced, "
        "3 invalid in the sheet" in result.output
    )
    assert kianda.store.count("GET") - reads_before == 42
    assert kianda.store.count("PATCH") + kianda.store.count("PUT") == 0
    report = sample.with_name("requests.reconcile.xlsx")
    summary = _summary(report)
    assert summary["Verdict"] == (
        "In sync: Kianda holds what the sheet says for every valid row "
        "(3 rows invalid in the sheet, not compared)."
    )
    assert summary["Rows in sync"] == "42"
    assert summary["Fields differing"] == "0"
    counts = {line[0]: line[1] for line in _sheet(report, "Summary")[2:] if line[0]}
    assert (counts["Rows"], counts["Rows in sync"], counts["Fields differing"]) == (
        45,
        42,
        0,
    )  # numbers, not text
    differences = _sheet(report, "Differences")
    assert (
        differences[1][5] == "No differences: every instance checked matches the sheet."
    )
    assert len(differences) == 2
    book = openpyxl.load_workbook(report)
    assert [sheet.title for sheet in book] == ["Summary", "Differences", "Rows"]
    texts = [
        str(v)
        for sheet in book
        for line in sheet.iter_rows(values_only=True)
        for v in line
    ]
    assert not any(kianda.token in text for text in texts)


def test_reconcile_names_exactly_what_changed(kianda: Kianda, sample: Path) -> None:
    """Two fields changed in Kianda and one instance removed are the three findings."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    ids = _ids(sample.with_name("requests.results.xlsx"))
    kianda.store.set_field(ids[2], "course", "Excel for Managers", "Excel for Managers")
    kianda.store.set_field(ids[6], "department", "Finance", "fin")
    kianda.store.remove(ids[10])

    result = invoke(["reconcile", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert result.exit_code == 1
    assert (
        "Not in sync: 2 rows with 2 fields that differ and 1 instance missing in "
        "Kianda." in result.output
    )
    report = sample.with_name("requests.reconcile.xlsx")
    assert _sheet(report, "Differences")[1:] == [
        (
            2,
            "TR-2026-0001",
            ids[2],
            "course",
            "Course",
            "Project Management Fundamentals (PMP Prep)",
            "Excel for Managers",
        ),
        (
            6,
            "TR-2026-0005",
            ids[6],
            "department",
            "Department",
            "IT (value: it)",
            "Finance (value: fin)",
        ),
        (
            10,
            "TR-2026-0009",
            ids[10],
            "(the whole instance)",
            None,
            "(this row)",
            "missing: Kianda has no instance with this ID",
        ),
    ]
    states = {line[0]: line[3] for line in _sheet(report, "Rows")[1:]}
    assert {n: s for n, s in states.items() if s != "in sync"} == {
        2: "differs",
        6: "differs",
        10: "missing in Kianda",
        13: "invalid in the sheet",
        24: "invalid in the sheet",
        37: "invalid in the sheet",
    }
    assert list(states.values()).count("in sync") == 39


def test_reconcile_leaves_out_fields_run_would_not_send(
    kianda: Kianda, sample: Path
) -> None:
    """A field left empty (empty: keep) is not compared, whatever Kianda holds."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    ids = _ids(sample.with_name("requests.results.xlsx"))
    book = openpyxl.load_workbook(sample)
    assert book["Requests"]["J2"].value is None  # Notes is empty on row 2
    kianda.store.set_field(ids[2], "notes", "Added in Kianda", "Added in Kianda")

    result = invoke(["reconcile", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert result.exit_code == 0
    assert "42 in sync" in result.output


def test_reconcile_before_any_run_finds_rows_never_synced(
    kianda: Kianda, sample: Path
) -> None:
    """With no ledger and no Instance IDs, valid rows are never synced; none is read."""
    result = invoke(["reconcile", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert result.exit_code == 1
    assert "0 in sync, 0 differ, 0 missing in Kianda, 42 never synced" in result.output
    assert "Not in sync: 42 rows never synced." in result.output
    assert kianda.store.request_log == []
    assert not kianda.ledger.exists()


def test_reconcile_calls_unconfirmed_creates_unknown_not_never_synced(
    kianda: Kianda, sample: Path
) -> None:
    """A row whose create was sent and never confirmed may well be in Kianda: the
    report calls it 'unknown' with the way out, never 'never synced' (which would
    invite creating it a second time)."""
    faults = kianda.emulator.faults
    faults.lose_create_answer = 0.25
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    faults.lose_create_answer = 0.0
    lost = faults.lost_answers

    result = invoke(["reconcile", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert lost > 0
    assert result.exit_code == 1
    assert (
        f"{42 - lost} in sync, 0 differ, 0 missing in Kianda, 0 never synced, "
        f"{lost} unknown, 3 invalid in the sheet" in result.output
    )
    assert f"Not in sync: {lost} rows whose create Kianda never confirmed." in (
        result.output
    )
    rows = _sheet(sample.with_name("requests.reconcile.xlsx"), "Rows")
    header = list(rows[0])
    state, message = header.index("Reconcile Status"), header.index("Message")
    unknown = [line for line in rows[1:] if line[state] == "unknown"]
    assert len(unknown) == lost
    assert str(unknown[0][message]).endswith(
        "then kianda-sync run --retry-unknown creates only the rows still without an "
        "ID."
    )


def test_reconcile_reads_the_ledger_without_changing_it(
    kianda: Kianda, sample: Path
) -> None:
    """The ledger file is byte for byte the same after a reconcile."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    before = hashlib.sha256(kianda.ledger.read_bytes()).hexdigest()

    invoke(["reconcile", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    assert hashlib.sha256(kianda.ledger.read_bytes()).hexdigest() == before


def test_reconcile_uses_the_instance_id_column(kianda: Kianda, sample: Path) -> None:
    """A sheet with an Instance ID column is checked by those IDs, ledger or not."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    ids = _ids(sample.with_name("requests.results.xlsx"))
    book = openpyxl.load_workbook(sample)
    sheet = book["Requests"]
    sheet["K1"] = "Instance ID"
    for number, instance_id in ids.items():
        sheet.cell(number, 11, instance_id or None)
    book.save(sample)
    mapping = Path("mapping.yaml")
    text = SAMPLE_MAPPING.read_text(encoding="utf-8")
    mapping.write_text(text + "\ninstance_id_column: Instance ID\n", encoding="utf-8")
    empty_ledger = str(Path("other-ledger.sqlite3").resolve())

    result = invoke(
        ["reconcile", str(mapping), str(sample), "-o", "report.xlsx"],
        kianda.env(KIANDA_LEDGER=empty_ledger),
    )

    assert result.exit_code == 0, result.output
    assert "42 in sync" in result.output
    assert Path("report.xlsx").exists()
    assert not Path(empty_ledger).exists()


def test_reconcile_built_in_emulator_sees_what_run_created(sample: Path) -> None:
    """reconcile --emulator checks the instances an earlier run --emulator created."""
    ledger = Path("state", "ledger.sqlite3").resolve()
    common = [str(SAMPLE_MAPPING), str(sample), "--emulator", "--ledger", str(ledger)]
    invoke(["run", *common])

    result = invoke(["reconcile", *common])

    assert result.exit_code == 0, result.output
    assert "built-in Kianda emulator" in result.output
    assert "42 in sync" in result.output


def test_reconcile_without_configuration_names_the_variables(sample: Path) -> None:
    """Without KIANDA_DOMAIN and credentials, reconcile stops before reading a row."""
    result = invoke(["reconcile", str(SAMPLE_MAPPING), str(sample)])

    assert result.exit_code == 2
    assert "KIANDA_DOMAIN" in result.output
    assert "--emulator" in result.output
    assert not sample.with_name("requests.reconcile.xlsx").exists()


def test_reconcile_wrong_token_stops_without_a_report(
    kianda: Kianda, sample: Path
) -> None:
    """A refused token stops the check with exit code 3 and writes no report."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())

    result = invoke(
        ["reconcile", str(SAMPLE_MAPPING), str(sample)],
        kianda.env(KIANDA_TOKEN="not-the-right-token"),
    )

    assert result.exit_code == 3
    assert "HTTP 401" in result.output
    assert "no report was written" in result.output
    assert "not-the-right-token" not in result.output
    assert not sample.with_name("requests.reconcile.xlsx").exists()


def test_reconcile_field_kianda_refuses_is_not_checked(
    kianda: Kianda, sample: Path
) -> None:
    """A read Kianda refuses (an unknown field name) leaves the row not checked."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    mapping = Path("mapping.yaml")
    text = SAMPLE_MAPPING.read_text(encoding="utf-8")
    mapping.write_text(text + "  budgetCode: {value: B-1}\n", encoding="utf-8")

    result = invoke(["reconcile", str(mapping), str(sample)], kianda.env())

    assert result.exit_code == 1
    assert "Not in sync: 42 rows not checked." in result.output
    rows = _sheet(sample.with_name("requests.reconcile.xlsx"), "Rows")
    assert rows[1][3] == "not checked"
    assert str(rows[1][6]).startswith(
        "Kianda refused the request (HTTP 400): Field 'budgetCode' does not exist "
        "in process 'training-request'."
    )


def test_reconcile_python_api_returns_the_findings(
    kianda: Kianda, sample: Path
) -> None:
    """reconcile() returns counts and differences a program can act on."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    ids = _ids(sample.with_name("requests.results.xlsx"))
    kianda.store.set_field(ids[3], "cost", "999", "999")
    settings = Settings(
        domain=kianda.emulator.url, token=kianda.token, ledger=kianda.ledger
    )

    summary = reconcile(SAMPLE_MAPPING, sample, settings=settings)

    assert summary.exit_code == 1
    assert summary.states[RowState.IN_SYNC] == 41
    assert summary.states[RowState.DIFFERS] == 1
    assert [(d.row, d.field, d.sheet, d.kianda) for d in summary.differences] == [
        (3, "cost", ("1250.5", "1250.5"), ("999", "999"))
    ]
    assert [check.row for check in summary.findings] == [3]
    assert summary.report_path == sample.with_name("requests.reconcile.xlsx")


def test_reconcile_python_api_returns_the_summary(tmp_path: Path) -> None:
    """sync.reconcile and sync.run_sync work from code and return their summaries."""
    import sync

    ledger = tmp_path / "l.sqlite3"
    ran = sync.run_sync(
        SAMPLE_MAPPING,
        SAMPLE_XLSX,
        emulator=True,
        ledger=ledger,
        output=tmp_path / "r.xlsx",
    )
    checked = sync.reconcile(
        SAMPLE_MAPPING,
        SAMPLE_XLSX,
        emulator=True,
        ledger=ledger,
        output=tmp_path / "c.xlsx",
    )

    assert (ran.exit_code, ran.rows, checked.exit_code) == (1, 45, 0)
    assert (tmp_path / "c.xlsx").exists()


def test_reconcile_of_a_sheet_with_no_valid_row_is_not_in_sync(tmp_path: Path) -> None:
    """Every row invalid means nothing was compared: not 'in sync', and exit 1, so
    a cron job alerting on drift does not take a broken sheet for a clean one."""
    now = dt.datetime.now(dt.UTC)
    summary = ReconcileSummary(
        run_id="r",
        input_path=tmp_path / "in.xlsx",
        mapping_path=tmp_path / "m.yaml",
        report_path=tmp_path / "r.xlsx",
        started=now,
        states=Counter({RowState.INVALID: 45}),
    )

    assert summary.in_sync is False
    assert summary.exit_code == 1
    assert verdict(summary) == (
        "Nothing compared: all 45 rows of the sheet are invalid. Run kianda-sync "
        "validate on it to see why."
    )
