"""The SQLite ledger: the only memory of which row became which Kianda instance.

Kianda has no search and no idempotency key, so the ledger records, per workspace
(``scope``: the Kianda domain, or ``emulator``) and process, each row key's instance ID,
and per instance a fingerprint of the payload last sent. A create is written as
*pending*, durably (fsync), before its request goes out, and completed when the answer
arrives, so a crash in between leaves a trace: the row is reported ``unknown`` instead
of being created a second time. Completions are committed without waiting for the
disk; a power cut can at worst turn a just-completed row back into ``unknown``.

Runs and their rows are kept too, so any past run can be listed and its results
written again (row detail is kept for the last ``KEEP_RUN_ROWS`` runs per process).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sync.convert import FieldValue
from sync.errors import LedgerError
from sync.reader import Cell

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
KEEP_RUN_ROWS = 50

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    scope TEXT NOT NULL,
    process TEXT NOT NULL,
    row_key TEXT NOT NULL,
    state TEXT NOT NULL,
    instance_id TEXT,
    run_id TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, process, row_key)
);
CREATE TABLE IF NOT EXISTS sent (
    scope TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    run_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (scope, instance_id)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    process TEXT NOT NULL,
    input TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    mapping TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    counts TEXT,
    outcome TEXT
);
"""

# Each step takes the schema from version N to N + 1.
_MIGRATIONS = {
    1: """
    ALTER TABLE runs ADD COLUMN headers TEXT;
    ALTER TABLE runs ADD COLUMN command TEXT;
    CREATE TABLE run_rows (
        run_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        source_row INTEGER NOT NULL,
        cells TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        action TEXT NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (run_id, position)
    );
    CREATE INDEX runs_by_checksum ON runs (scope, process, input_sha256);
    """,
}


_RUN_COLUMNS = (
    "SELECT run_id, scope, process, input, input_sha256, mapping, started_at, "
    "ended_at, counts, outcome, command, headers FROM runs"
)


class KeyState(StrEnum):
    """Where a row key stands: its create is in flight (or was lost), or done."""

    PENDING = "pending"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """What the ledger knows of one row key."""

    state: KeyState
    instance_id: str | None
    run_id: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One past run, as ``history`` lists it."""

    run_id: str
    scope: str
    process: str
    input: str
    input_sha256: str
    mapping: str
    started_at: str
    ended_at: str | None
    counts: dict[str, int]
    outcome: str | None
    command: str | None
    headers: list[str]


@dataclass(frozen=True, slots=True)
class RunRow:
    """One row of a past run's results."""

    source_row: int
    cells: list[Cell]
    """The input cells as read: typed dates and numbers stay typed."""
    instance_id: str
    action: str
    status: str
    message: str


def _cell_json(cell: Cell) -> object:
    """A cell as the ledger keeps it: its text, or for a date or number the typed
    value and number format too, so results written again from the ledger hold
    the same values as the first time."""
    value = cell.value
    if isinstance(value, dt.date | dt.time) and type(value) in _KINDS:
        kind = _KINDS[type(value)]
        return {"t": cell.text, "f": cell.number_format, kind: value.isoformat()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"t": cell.text, "f": cell.number_format, "n": value}
    return cell.text


def _cell_from_json(kept: object) -> Cell:
    """The cell :func:`_cell_json` kept; older ledgers kept only the text."""
    if not isinstance(kept, dict):
        return Cell(str(kept), str(kept))
    text, fmt = str(kept.get("t", "")), kept.get("f")
    for made, kind in _KINDS.items():
        if kind in kept:
            return Cell(made.fromisoformat(kept[kind]), text, fmt)
    return Cell(kept.get("n", text), text, fmt)


# The dates and times a results workbook writes as typed, with their JSON keys.
_KINDS: dict[type[dt.date] | type[dt.time], str] = {
    dt.datetime: "datetime",
    dt.date: "date",
    dt.time: "time",
}


def fingerprint(fields: Iterable[FieldValue], *extra: str) -> str:
    """A digest of a payload, independent of field order."""
    entries = sorted((f.fieldname, f.text, f.value) for f in fields)
    blob = json.dumps([entries, list(extra)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Ledger:
    """One ledger file; use as a context manager.

    ``read_only`` opens an existing file without changing it (``--dry-run``,
    ``explain``, ``reconcile``); a missing file then reads as an empty ledger.
    """

    def __init__(self, path: Path, scope: str, *, read_only: bool = False) -> None:
        self.path = path
        self.scope = scope
        self.read_only = read_only
        try:
            if read_only:
                self._db = self._open_read_only(path)
            else:
                self._db = self._open_writable(path)
        except sqlite3.Error as exc:
            raise LedgerError(
                f"The ledger {path} cannot be opened ({exc}). If it is damaged, move "
                "it aside (kianda-sync then starts a new one, and forgets which rows "
                "it created), or set KIANDA_LEDGER / --ledger to another file."
            ) from None
        except OSError as exc:
            raise LedgerError(
                f"The ledger {path} cannot be created ({exc.strerror}). Set "
                "KIANDA_LEDGER or --ledger to a writable place."
            ) from None

    @staticmethod
    def _open_read_only(path: Path) -> sqlite3.Connection:
        if not path.exists():
            db = sqlite3.connect(":memory:", isolation_level=None)
            db.executescript(_SCHEMA_V1)
            _migrate(db, 1)
            return db
        uri = path.resolve().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None)

    def _open_writable(self, path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        if fresh:
            path.touch(mode=0o600)  # SQLite gives its -wal and -shm files the same
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(_SCHEMA_V1)  # every statement is IF NOT EXISTS
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
            version = 1 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"The ledger {path} was written by a newer kianda-sync (schema "
                    f"{version}). Upgrade kianda-sync, or use another ledger file."
                )
            if version < SCHEMA_VERSION:
                if not fresh:
                    log.info(
                        "Upgrading the ledger %s to schema %d", path, SCHEMA_VERSION
                    )
                _migrate(db, version)
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Commit what is open and close the file."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")
        self._db.close()

    # --- transactions ----------------------------------------------------------------

    @contextmanager
    def durable(self) -> Iterator[None]:
        """A transaction that is on disk (fsync) when the block ends."""
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            with self.batch():
                yield
        finally:
            self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for many writes (a crash keeps all or none of them)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- keys ------------------------------------------------------------------------

    def lookup(self, process: str, row_key: str) -> KeyEntry | None:
        """What the ledger knows of a row key in this scope and process."""
        row = self._db.execute(
            "SELECT state, instance_id, run_id FROM keys "
            "WHERE scope=? AND process=? AND row_key=?",
            (self.scope, process, row_key),
        ).fetchone()
        if row is None:
            return None
        return KeyEntry(KeyState(row[0]), row[1], row[2])

    def knows(self, process: str) -> bool:
        """Whether any row key of this process is recorded in this scope."""
        row = self._db.execute(
            "SELECT 1 FROM keys WHERE scope=? AND process=? LIMIT 1",
            (self.scope, process),
        ).fetchone()
        return row is not None

    def other_scopes(self, process: str) -> list[str]:
        """The other Kianda addresses this ledger has synced the process to."""
        rows = self._db.execute(
            "SELECT DISTINCT scope FROM keys WHERE process=? AND scope<>? ORDER BY 1",
            (process, self.scope),
        )
        return [str(scope) for (scope,) in rows]

    def pending_count(self, process: str) -> int:
        """How many creates of this process were sent and never confirmed."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM keys WHERE scope=? AND process=? AND state=?",
            (self.scope, process, KeyState.PENDING),
        ).fetchone()
        return int(row[0])

    def mark_pending(self, process: str, row_key: str, run_id: str) -> None:
        """Record that a create for this key is about to be sent."""
        self._db.execute(
            "INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?, NULL, ?, ?)",
            (self.scope, process, row_key, KeyState.PENDING, run_id, _now()),
        )

    def forget_pending(self, process: str, row_key: str) -> None:
        """Drop a pending mark whose create certainly never reached Kianda."""
        self._db.execute(
            "DELETE FROM keys WHERE scope=? AND process=? AND row_key=? AND state=?",
            (self.scope, process, row_key, KeyState.PENDING),
        )

    def record_instance(
        self, process: str, row_key: str | None, instance_id: str, run_id: str
    ) -> None:
        """Remember which instance a row key belongs to."""
        if row_key is None:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.scope, process, row_key, KeyState.DONE, instance_id, run_id, _now()),
        )

    # --- fingerprints ----------------------------------------------------------------

    def last_sent(self, instance_id: str) -> str | None:
        """The fingerprint of the payload last sent to an instance."""
        row = self._db.execute(
            "SELECT fingerprint FROM sent WHERE scope=? AND instance_id=?",
            (self.scope, instance_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def record_sent(self, instance_id: str, digest: str, run_id: str) -> None:
        """Remember what was last sent to an instance."""
        self._db.execute(
            "INSERT OR REPLACE INTO sent VALUES (?, ?, ?, ?, ?)",
            (self.scope, instance_id, digest, run_id, _now()),
        )

    # --- runs ------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        *,
        process: str,
        input_path: Path,
        checksum: str,
        mapping: Path,
        headers: list[str],
        command: str,
    ) -> None:
        """Record the start of a run."""
        self._db.execute(
            "INSERT INTO runs (run_id, scope, process, input, input_sha256, mapping, "
            "started_at, headers, command) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                self.scope,
                process,
                str(input_path),
                checksum,
                str(mapping),
                _now(),
                json.dumps(headers, ensure_ascii=False),
                command,
            ),
        )

    def record_row(self, run_id: str, position: int, row: RunRow) -> None:
        """Keep one row of a run's results, so the run can be reported again."""
        self._db.execute(
            "INSERT OR REPLACE INTO run_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                position,
                row.source_row,
                json.dumps([_cell_json(c) for c in row.cells], ensure_ascii=False),
                row.instance_id,
                row.action,
                row.status,
                row.message,
            ),
        )

    def finish_run(self, run_id: str, counts: dict[str, int], outcome: str) -> None:
        """Record how a run ended, and drop row detail of runs beyond the kept ones."""
        self._db.execute(
            "UPDATE runs SET ended_at=?, counts=?, outcome=? WHERE run_id=?",
            (_now(), json.dumps(counts), outcome, run_id),
        )
        self._db.execute(
            "DELETE FROM run_rows WHERE run_id IN (SELECT run_id FROM runs "
            "WHERE scope=? AND process=(SELECT process FROM runs WHERE run_id=?) "
            "ORDER BY started_at DESC, run_id DESC LIMIT -1 OFFSET ?)",
            (self.scope, run_id, KEEP_RUN_ROWS),
        )

    def earlier_run_of(
        self, process: str, checksum: str, run_id: str
    ) -> RunRecord | None:
        """The latest other run that synced a file with this checksum here.

        Dry runs do not count: they sent nothing.
        """
        rows = self._runs(
            "WHERE scope=? AND process=? AND input_sha256=? AND run_id<>? "
            "AND outcome IS NOT NULL AND command NOT LIKE '%dry-run%' "
            "ORDER BY started_at DESC LIMIT 1",
            (self.scope, process, checksum, run_id),
        )
        return rows[0] if rows else None

    def runs(self, limit: int = 50) -> list[RunRecord]:
        """The latest runs in this ledger (every scope), newest first."""
        return self._runs("ORDER BY started_at DESC, run_id DESC LIMIT ?", (limit,))

    def run(self, run_id: str) -> RunRecord | None:
        """One run by its ID (or a unique prefix of it)."""
        rows = self._runs(
            "WHERE run_id = ? OR run_id LIKE ? ORDER BY run_id LIMIT 2",
            (run_id, run_id.replace("%", "") + "%"),
        )
        exact = [r for r in rows if r.run_id == run_id]
        return exact[0] if exact else (rows[0] if len(rows) == 1 else None)

    def run_rows(self, run_id: str) -> Iterator[RunRow]:
        """The rows of a run's results, in their order."""
        cursor = self._db.execute(
            "SELECT source_row, cells, instance_id, action, status, message "
            "FROM run_rows WHERE run_id=? ORDER BY position",
            (run_id,),
        )
        for source_row, cells, instance_id, action, status, message in cursor:
            kept = [_cell_from_json(c) for c in json.loads(cells)]
            yield RunRow(source_row, kept, instance_id, action, status, message)

    def _runs(self, where: str, args: tuple[object, ...]) -> list[RunRecord]:
        query = f"{_RUN_COLUMNS} {where}"
        cursor = self._db.execute(query, args)
        return [
            RunRecord(
                run_id=r[0],
                scope=r[1],
                process=r[2],
                input=r[3],
                input_sha256=r[4],
                mapping=r[5],
                started_at=r[6],
                ended_at=r[7],
                counts=json.loads(r[8]) if r[8] else {},
                outcome=r[9],
                command=r[10],
                headers=json.loads(r[11]) if r[11] else [],
            )
            for r in cursor
        ]


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a ledger from ``version`` to SCHEMA_VERSION, step by step."""
    while version < SCHEMA_VERSION:
        for statement in _MIGRATIONS[version].split(";"):
            if statement.strip():
                db.execute(statement)
        version += 1
    db.execute(
        "INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
    )


def default_ledger_path(mapping_path: Path) -> Path:
    """``.kianda-sync/ledger.sqlite3`` beside the mapping file."""
    return mapping_path.resolve().parent / ".kianda-sync" / "ledger.sqlite3"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
