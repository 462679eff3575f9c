"""The real-world cases in tests/cases: each run sends what expected.json says.

Each case folder is a copy of a reported failure of spreadsheet loaders (see its
case.md). The run goes through the command line against the emulator over HTTP, with
a fresh ledger, and is checked field by field against what Kianda holds afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sync.emulator import Emulator, EmulatorStore, Faults, load_processes
from tests.conftest import invoke

CASES = Path(__file__).parent / "cases"


def _runs() -> list[Any]:
    params = []
    for folder in sorted(p for p in CASES.iterdir() if p.is_dir()):
        expected = json.loads((folder / "kianda" / "expected.json").read_text())
        variants = expected.get("env_variants") or [{}]
        for name in expected["inputs"]:
            for env in variants:
                label = "-".join([folder.name, name, *env.values()])
                params.append(pytest.param(folder, name, env, id=label))
    return params


def _drop_after_commit(keys: list[str], key_field: str) -> Any:
    """The emulator fault of case 27: store the create, then lose its answer."""
    pending = set(keys)

    def rule(fields: dict[str, tuple[str, str]]) -> bool:
        key = fields.get(key_field, ("", ""))[1]
        if key in pending:
            pending.discard(key)
            return True
        return False

    return rule


def _same(kind: str, got: str, want: str) -> bool:
    if kind == "decimal":
        return Decimal(got) == Decimal(want)
    if kind == "instant":
        return dt.datetime.fromisoformat(got) == dt.datetime.fromisoformat(want)
    return got == want


@pytest.mark.parametrize(("folder", "input_name", "extra_env"), _runs())
def test_case_sends_what_a_user_meant(
    folder: Path,
    input_name: str,
    extra_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kianda ends up holding exactly the expected fields, and the results say so."""
    expected = json.loads((folder / "kianda" / "expected.json").read_text())
    expected["rows"] = [
        row for row in expected["rows"] if row.get("input", input_name) == input_name
    ]
    work = tmp_path / "case"
    shutil.copytree(folder, work)
    source = work / input_name
    before = source.read_bytes()
    for name, value in extra_env.items():
        monkeypatch.setenv(name, value)

    token = secrets.token_urlsafe(16)
    store = EmulatorStore()
    load_processes(store, work / "kianda" / "mapping.yaml")
    faults = Faults()
    options = expected.get("server_options", {})
    if "drop_after_commit_key" in options:
        faults.lose_create_answer_if = _drop_after_commit(
            options["drop_after_commit_key"], expected["key_field"]
        )
    results = tmp_path / "results.xlsx"
    with Emulator(store, token=token, faults=faults) as emulator:
        env = {
            "KIANDA_DOMAIN": emulator.url,
            "KIANDA_TOKEN": token,
            "KIANDA_LEDGER": str(tmp_path / "ledger.sqlite3"),
        }
        args = ["run", str(work / "kianda" / "mapping.yaml"), str(source)]
        result = invoke([*args, "-o", str(results)], env)

    output = result.output.lower()
    assert result.exit_code == expected["exit_code"], result.output
    assert source.read_bytes() == before
    for word in expected.get("output_contains", []):
        assert word.lower() in output
    if not expected["requests_expected"]:
        assert store.count(path_prefix="/api/") == 0
        assert not results.exists()
        return

    # What Kianda holds: one instance per created/unknown row, nothing else.
    key_field = expected["key_field"]
    held = {
        inst["fields"][key_field]["value"]: inst["fields"]
        for inst in store.instances(expected["process"]).values()
    }
    assert len(held) == len(store.instances(expected["process"]))
    stored_rows = [
        r for r in expected["rows"] if r["sync_status"] in ("created", "unknown")
    ]
    assert sorted(held) == sorted(r["key"] for r in stored_rows)
    for row in stored_rows:
        fields = held[row["key"]]
        for name, want in row["fields"].items():
            if want == "NOT_SENT":
                assert name not in fields, (row["source_row"], name)
                continue
            got = fields[name]
            kind = row["compare"].get(name, "exact")
            assert _same(kind, got["text"], want["text"]), (row["source_row"], name)
            assert _same(kind, got["value"], want["value"]), (row["source_row"], name)

    # What the results workbook says.
    sheet = openpyxl.load_workbook(results)["Results"]
    lines = list(sheet.iter_rows())
    header = [c.value for c in lines[0]]
    by_row = {str(line[header.index("Source Row")].value): line for line in lines[1:]}
    listed = {int(n) for n in by_row}
    wanted = {r["source_row"] for r in expected["rows"]}
    assert wanted <= listed
    assert listed - wanted <= set(expected.get("blank_rows", []))
    for row in expected["rows"]:
        line = by_row[str(row["source_row"])]
        status = line[header.index("Sync Status")].value
        assert status == row["sync_status"], (row["source_row"], line)
        message = str(line[header.index("Sync Message")].value or "").lower()
        for word in row.get("message_contains", []):
            assert word.lower() in message, (row["source_row"], message)
        if status in ("created", "unknown"):
            assert line[header.index("Sync Action")].value == "create"
        if status == "created":
            cell = line[header.index("Instance ID")]
            assert cell.data_type == "s"
            assert held[row["key"]][key_field]["value"] == row["key"]
            assert store.get(cell.value)["fields"][key_field]["value"] == row["key"]
    for want in expected.get("results_cells", []):
        cell = by_row[str(want["source_row"])][header.index(want["column"])]
        assert (cell.data_type, cell.value) == ("s", want["text"])
    forbidden = set(expected.get("results_forbidden_text", []))
    for line in lines:
        for cell in line:
            assert cell.data_type != "f"
            assert cell.value not in forbidden
