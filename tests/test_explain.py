"""``kianda-sync explain``: one row's cells, conversions, match decision and request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sync.ledger import Ledger
from tests.conftest import SAMPLE_MAPPING, SAMPLE_XLSX, Kianda, invoke
from tests.fidelity_helpers import write_mapping


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the sample workbook in the test's folder."""
    return Path(shutil.copy(SAMPLE_XLSX, tmp_path / "requests.xlsx"))


def _body(output: str) -> dict[str, Any]:
    """The JSON request body printed after the 'Request' line."""
    start = output.index("\n{", output.index("Request"))
    body: dict[str, Any] = json.JSONDecoder().raw_decode(output[start + 1 :])[0]
    return body


def test_explain_shows_cells_conversions_and_create_body(
    sample: Path, tmp_path: Path
) -> None:
    """Row 5 shows its cells as read, each conversion, a create and its exact body."""
    env = {"KIANDA_LEDGER": str(tmp_path / "none.sqlite3")}

    result = invoke(["explain", str(SAMPLE_MAPPING), str(sample), "--row", "5"], env)

    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(
        "Row 5 of requests.xlsx (sheet 'Requests'), process 'training-request'"
    )
    assert (
        '  Employee ID (column B): text "003467", shown as "003467", number format "@"'
    ) in out
    assert (
        "  Start Date (column G): date-time 2026-05-29 00:00:00, shown as "
        '"29/05/2026", number format "DD/MM/YYYY"'
    ) in out
    assert '  Cost (column H): number 675.25, shown as "675.25"' in out
    assert "  Notes (column J): empty" in out
    assert (
        "  department (choice, from column 'Department'): sends text \"Finance\", "
        'value "fin"'
    ) in out
    assert (
        "  notes (text, from column 'Notes'): the cell is empty, so the field is left "
        "out (empty: keep)."
    ) in out
    assert "Match: Create a new instance: KIANDA_DOMAIN is not set" in out
    assert "Request: POST /api/instances/create" in out
    body = _body(out)
    assert body["processName"] == "training-request"
    assert body["FieldsMappings"][:2] == [
        {"fieldname": "requestRef", "text": "TR-2026-0004", "value": "TR-2026-0004"},
        {"fieldname": "employeeId", "text": "003467", "value": "003467"},
    ]
    assert not (tmp_path / "none.sqlite3").exists()


def test_explain_after_a_run_names_the_ledger_entry(
    sample: Path, kianda: Kianda
) -> None:
    """After a run, the row matches its instance through the ledger and is unchanged."""
    invoke(["run", str(SAMPLE_MAPPING), str(sample)], kianda.env())
    with Ledger(kianda.ledger, kianda.emulator.url) as ledger:
        entry = ledger.lookup("training-request", "TR-2026-0004")
    assert entry is not None

    result = invoke(
        ["explain", str(SAMPLE_MAPPING), str(sample), "--row", "5"], kianda.env()
    )

    assert result.exit_code == 0, result.output
    assert (
        f"Match: Update instance {entry.instance_id}: the ledger {kianda.ledger} "
        f"(workspace {kianda.emulator.url}, process 'training-request') remembers "
        f"that the key 'TR-2026-0004' is instance {entry.instance_id}"
    ) in result.output
    assert "so a run marks it unchanged and sends nothing" in result.output
    assert (
        f"Request (only with --force): PATCH /api/instances/{entry.instance_id}/update"
    ) in result.output
    assert _body(result.output)["ProcessName"] == "training-request"


def test_explain_uses_the_instance_id_cell_first(tmp_path: Path) -> None:
    """A filled Instance ID cell decides the match, before any ledger lookup."""
    source = tmp_path / "in.csv"
    source.write_text("Ref,Name,Instance ID\nA,Ann,inst-42\n", encoding="utf-8")
    mapping = write_mapping(
        tmp_path / "m.yaml",
        "process: p\nkey: [Ref]\ninstance_id_column: Instance ID\non_existing: put\n"
        "fields:\n  ref: Ref\n  name: Name\n",
    )

    result = invoke(["explain", str(mapping), str(source), "--row", "2"])

    assert result.exit_code == 0, result.output
    assert (
        "Match: Update instance inst-42: its 'Instance ID' cell holds the instance ID "
        "inst-42."
    ) in result.output
    assert "Request: PUT /api/instances/inst-42" in result.output
    assert _body(result.output) == {
        "ProcessName": "p",
        "FieldsMappings": [
            {"fieldname": "ref", "text": "A", "value": "A"},
            {"fieldname": "name", "text": "Ann", "value": "Ann"},
        ],
        "TriggerField": "",
    }


def test_explain_invalid_row_shows_why_and_no_request(sample: Path) -> None:
    """An invalid row lists its problems and sends nothing."""
    result = invoke(["explain", str(SAMPLE_MAPPING), str(sample), "--row", "24"])

    assert result.exit_code == 0, result.output
    assert "Row problems:\n  The key 'TR-2026-0023' is also on row 37" in result.output
    assert "Match: The row is invalid, so nothing is sent for it." in result.output
    assert "Request:" not in result.output


def test_explain_field_problem_is_shown_on_its_field(sample: Path) -> None:
    """A required cell left empty is shown as that field's problem."""
    result = invoke(["explain", str(SAMPLE_MAPPING), str(sample), "--row", "13"])

    assert (
        "  employeeId (text, from column 'Employee ID'): invalid. 'Employee ID' is "
        "empty but required."
    ) in result.output


def test_explain_pending_create_is_unknown(tmp_path: Path) -> None:
    """A create whose answer was lost is explained as unknown, not created again."""
    source = tmp_path / "in.csv"
    source.write_text("Ref,Name\nA,Ann\n", encoding="utf-8")
    mapping = write_mapping(
        tmp_path / "m.yaml", "process: p\nkey: [Ref]\nfields:\n  ref: Ref\n  n: Name\n"
    )
    ledger_path = tmp_path / "ledger.sqlite3"
    with Ledger(ledger_path, "emulator") as ledger:
        ledger.mark_pending("p", "A", "run-1")
    env = {"KIANDA_LEDGER": str(ledger_path)}

    result = invoke(
        ["explain", str(mapping), str(source), "--row", "2", "--emulator"], env
    )

    assert result.exit_code == 0, result.output
    assert "Match: Nothing is sent: the ledger" in result.output
    assert "whose answer never came back, so a run reports the row unknown" in (
        result.output
    )
    assert "Request:" not in result.output


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1", "Row 1 of requests.xlsx (sheet 'Requests') is not a data row"),
        (
            "900",
            "Row 900 of requests.xlsx (sheet 'Requests') is blank or past the last",
        ),
    ],
    ids=["header", "past-the-end"],
)
def test_explain_row_that_is_not_data_exits_2(
    sample: Path, row: str, message: str
) -> None:
    """A header or missing row number stops with a sentence saying which rows exist."""
    result = invoke(["explain", str(SAMPLE_MAPPING), str(sample), "--row", row])

    assert result.exit_code == 2
    assert message in result.output


def test_explain_emulator_scope_sees_an_emulator_run(
    sample: Path, tmp_path: Path
) -> None:
    """--emulator looks up the entries a run with --emulator made, not a domain's."""
    env = {"KIANDA_LEDGER": str(tmp_path / "ledger.sqlite3")}
    invoke(["run", str(SAMPLE_MAPPING), str(sample), "--emulator"], env)
    args = ["explain", str(SAMPLE_MAPPING), str(sample), "--row", "5"]

    with_emulator = invoke([*args, "--emulator"], env)
    with_domain = invoke(args, {**env, "KIANDA_DOMAIN": "https://acme.kianda.com"})

    assert "(workspace emulator, process 'training-request') remembers" in (
        with_emulator.output
    )
    assert "Match: Update instance" in with_emulator.output
    assert (
        "(workspace https://acme.kianda.com, process 'training-request') has no "
        "entry for the key 'TR-2026-0004'"
    ) in with_domain.output
    assert "Request: POST /api/instances/create" in with_domain.output
