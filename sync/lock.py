"""One run at a time per ledger: a lock file, and a note saying who holds it.

The lock is an OS file lock (``filelock``), so it vanishes with the process that held
it: a run killed mid-way leaves no stale lock, only a stale note, which the next run
overwrites.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from sync.errors import LedgerError
from sync.results import format_moment

log = logging.getLogger(__name__)


class RunLock:
    """Held for the whole of a run that writes to a ledger."""

    def __init__(self, ledger_path: Path, run_id: str, command: str) -> None:
        self._lock = FileLock(ledger_path.with_name(ledger_path.name + ".lock"))
        self._note = ledger_path.with_name(ledger_path.name + ".lock.json")
        self._ledger = ledger_path
        self._run_id = run_id
        self._command = command

    def __enter__(self) -> RunLock:
        self._ledger.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise LedgerError(
                f"Another kianda-sync run is using the ledger {self._ledger} "
                f"({self._holder()}). Nothing was done. Wait for it to finish, or "
                "stop it, then run again."
            ) from None
        note = {
            "pid": os.getpid(),
            "run_id": self._run_id,
            "command": self._command,
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self._note.write_text(json.dumps(note), encoding="utf-8")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._note.unlink(missing_ok=True)
        self._lock.release()

    def _holder(self) -> str:
        """Who holds the lock, from the note it left: process, run and start time."""
        try:
            note = json.loads(self._note.read_text(encoding="utf-8"))
            return (
                f"run {note['run_id']}, process {note['pid']}, started "
                f"{format_moment(dt.datetime.fromisoformat(note['started']))}"
            )
        except (OSError, ValueError, KeyError, TypeError):
            return "its details are not known"
