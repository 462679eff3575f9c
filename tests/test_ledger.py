"""The SQLite ledger on its own: schema upgrades, scopes, read-only use."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from sync.convert import FieldValue
from sync.errors import LedgerError
from sync.ledger import (
    _SCHEMA_V1,
    SCHEMA_VERSION,
    KeyEntry,
    KeyState,
    Ledger,
    RunRow,
    fingerprint,
)
from sync.reader import Cell


def _start_run(ledger: Ledger, headers: list[str]) -> None:
    """Record run 'r1' of process 'p' from x.csv."""
    ledger.start_run(
        "r1",
        process="p",
        input_path=Path("x.csv"),
        checksum="abc",
        mapping=Path("m.yaml"),
        headers=headers,
        command="run",
    )


def test_ledger_upgrades_a_version_1_file_in_place(tmp_path: Path) -> None:
    """A ledger written by the first schema keeps its entries after the upgrade."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA_V1)
    db.execute("INSERT INTO meta VALUES ('schema', '1')")
    db.execute(
        "INSERT INTO keys VALUES ('https://a.kianda.com', 'p', 'K1', 'done', "
        "'p-7', 'r0', '2026-01-01')"
    )
    db.commit()
    db.close()

    with Ledger(path, "https://a.kianda.com") as ledger:
        entry = ledger.lookup("p", "K1")
        _start_run(ledger, ["A"])

    version = sqlite3.connect(path).execute("SELECT value FROM meta").fetchone()
    assert entry == KeyEntry(KeyState.DONE, "p-7", "r0")
    assert version == (str(SCHEMA_VERSION),)


def test_ledger_refuses_a_newer_schema(tmp_path: Path) -> None:
    """A ledger from a newer kianda-sync is not touched."""
    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA_V1)
    db.execute("INSERT INTO meta VALUES ('schema', '99')")
    db.commit()
    db.close()

    with pytest.raises(LedgerError) as caught:
        Ledger(path, "scope")

    assert "newer kianda-sync (schema 99)" in str(caught.value)


def test_ledger_scopes_never_mix(tmp_path: Path) -> None:
    """The same key in two workspaces (or the emulator) has separate entries."""
    path = tmp_path / "l.sqlite3"
    with Ledger(path, "https://test.kianda.com") as ledger:
        ledger.record_instance("p", "K1", "p-1", "r1")
    with Ledger(path, "emulator") as ledger:
        ledger.record_instance("p", "K1", "p-99", "r2")
    with Ledger(path, "https://prod.kianda.com") as ledger:
        assert ledger.lookup("p", "K1") is None
    with Ledger(path, "https://test.kianda.com") as ledger:
        assert ledger.lookup("p", "K1") == KeyEntry(KeyState.DONE, "p-1", "r1")


def test_ledger_pending_mark_survives_reopening(tmp_path: Path) -> None:
    """A durable pending mark is there after the process reopens the file."""
    path = tmp_path / "l.sqlite3"
    with Ledger(path, "s") as ledger, ledger.durable():
        ledger.mark_pending("p", "K9", "r1")

    with Ledger(path, "s", read_only=True) as ledger:
        assert ledger.lookup("p", "K9") == KeyEntry(KeyState.PENDING, None, "r1")


def test_ledger_read_only_does_not_create_a_file(tmp_path: Path) -> None:
    """Opening a missing ledger read-only reads as empty and writes nothing."""
    path = tmp_path / "none" / "l.sqlite3"

    with Ledger(path, "s", read_only=True) as ledger:
        assert ledger.lookup("p", "K") is None

    assert not path.parent.exists()


def test_fingerprint_ignores_field_order() -> None:
    """Two payloads with the same fields in another order have one fingerprint."""
    a = [FieldValue("x", "1", "1"), FieldValue("y", "2", "2")]

    assert fingerprint(a, "p") == fingerprint(list(reversed(a)), "p")
    assert fingerprint(a, "p") != fingerprint(a[:1], "p")
    assert fingerprint(a, "p") != fingerprint(a, "q")


def test_ledger_reads_run_rows_kept_as_text_by_earlier_versions(tmp_path: Path) -> None:
    """Rows an earlier version kept as plain text come back as text cells; typed
    cells kept now come back typed, with their number format."""
    path = tmp_path / "l.sqlite3"
    with Ledger(path, "https://a.kianda.com") as ledger:
        _start_run(ledger, ["A", "B"])
        when = dt.datetime(2027, 10, 25)
        typed = [Cell(when, "25/10/2027", "dd/mm/yyyy"), Cell(1250.5, "1,250.50")]
        with ledger.batch():
            ledger.record_row("r1", 1, RunRow(3, typed, "p-1", "create", "created", ""))
            ledger._db.execute(
                "INSERT INTO run_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ("r1", 0, 2, '["25/10/2027", "x"]', "p-0", "create", "created", ""),
            )
        rows = list(ledger.run_rows("r1"))

    assert [r.cells for r in rows] == [
        [Cell("25/10/2027", "25/10/2027"), Cell("x", "x")],
        typed,
    ]
