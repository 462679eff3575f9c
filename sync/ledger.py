"""The SQLite ledger: the only memory of which row became which Kianda instance.

Kianda has no search and no idempotency key, so the ledger records, per workspace
(``scope``) and process, each row key's instance ID, and per instance a fingerprint of
the payload last sent. A create is written as *pending* before its request goes out
and completed when the answer arrives, so a crash in between leaves a trace: the row
is reported ``unknown`` instead of being created a second time.
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

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
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


def fingerprint(fields: Iterable[FieldValue], *extra: str) -> str:
    """A digest of a payload, independent of field order."""
    entries = sorted((f.fieldname, f.text, f.value) for f in fields)
    blob = json.dumps([entries, list(extra)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Ledger:
    """One ledger file, opened for one run; use as a context manager."""

    def __init__(self, path: Path, scope: str) -> None:
        self.path = path
        self.scope = scope
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.touch(mode=0o600)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.Error as exc:
            raise LedgerError(
                f"The ledger {path} cannot be opened ({exc}). Check that the folder is "
                "writable, or set KIANDA_LEDGER / --ledger to another file."
            ) from None
        except OSError as exc:
            raise LedgerError(
                f"The ledger {path} cannot be created ({exc.strerror}). Set "
                "KIANDA_LEDGER or --ledger to a writable place."
            ) from None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the writes of the block into one commit, so one sync to disk.

        An error inside the block rolls them all back.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise LedgerError(
                f"The ledger {self.path} was written by a newer kianda-sync (schema "
                f"{row[0]}). Upgrade kianda-sync, or use another ledger file."
            )

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

    def mark_pending(self, process: str, row_key: str, run_id: str) -> None:
        """Record that a create for this key is about to be sent (durably, first)."""
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
        self, run_id: str, process: str, input_path: Path, checksum: str, mapping: Path
    ) -> None:
        """Record the start of a run."""
        self._db.execute(
            "INSERT INTO runs (run_id, scope, process, input, input_sha256, mapping, "
            "started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                self.scope,
                process,
                str(input_path),
                checksum,
                str(mapping),
                _now(),
            ),
        )

    def finish_run(self, run_id: str, counts: dict[str, int], outcome: str) -> None:
        """Record how a run ended."""
        self._db.execute(
            "UPDATE runs SET ended_at=?, counts=?, outcome=? WHERE run_id=?",
            (_now(), json.dumps(counts), outcome, run_id),
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
