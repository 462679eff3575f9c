"""Thread-safe state of the Kianda emulator: processes, instances and a request log.

The state lives in memory and, when a path is given, in a journal file: one JSON line
per change, appended (so a change costs the same whatever the size of the state), and
compacted to one line per instance each time the store is opened. A later run of the
emulator sees what an earlier one created.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class EmulatorError(Exception):
    """A refused request: the HTTP status, message and body to answer with."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        body: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the answer; the body defaults to `{success: false, message}`."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body if body is not None else {"success": False, "message": message}
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Process:
    """A process design: its name and field names (None accepts any field name)."""

    name: str
    fields: frozenset[str] | None = None


class EmulatorStore:
    """In-memory Kianda process instances, optionally persisted to a JSON file."""

    def __init__(
        self, path: Path | None = None, *, auto_processes: bool = False
    ) -> None:
        """Start empty, or from the JSON file at `path` when it exists."""
        self.path = path
        self.auto_processes = auto_processes
        self._lock = threading.Lock()
        self._processes: dict[str, Process] = {}
        self._instances: dict[str, dict[str, Any]] = {}
        self._counters: dict[str, int] = {}
        self._log: list[tuple[str, str]] = []
        if path is not None and path.exists():
            self._load(path)
            self._compact(path)

    def _load(self, path: Path) -> None:
        """Replay the journal (or read a whole-state JSON file of earlier versions)."""
        text = path.read_text(encoding="utf-8")
        stripped = text.lstrip()
        if stripped.startswith("{") and '"instances"' in stripped[:200]:
            try:
                entries = [{"op": "state", **json.loads(text)}]
            except json.JSONDecodeError:
                entries = [
                    json.loads(line) for line in text.splitlines() if line.strip()
                ]
        else:
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        for entry in entries:
            self._apply(entry)
        logger.debug("Loaded %d instances from %s", len(self._instances), path)

    def _apply(self, entry: dict[str, Any]) -> None:
        """Apply one journal entry to the in-memory state."""
        op = entry["op"]
        if op == "state":
            for name, fields in entry.get("processes", {}).items():
                self._apply({"op": "process", "name": name, "fields": fields})
            self._instances.update(entry.get("instances", {}))
            self._counters.update(
                {k: int(v) for k, v in entry.get("counters", {}).items()}
            )
        elif op == "process":
            fields = entry["fields"]
            self._processes[entry["name"]] = Process(
                entry["name"], None if fields is None else frozenset(fields)
            )
        elif op == "put":
            self._instances[entry["id"]] = entry["record"]
            process = entry["record"]["process"]
            number = entry.get("number")
            if number is not None:
                self._counters[process] = max(self._counters.get(process, 0), number)
        elif op == "del":
            self._instances.pop(entry["id"], None)

    def _snapshot(self) -> list[dict[str, Any]]:
        processes = [
            {
                "op": "process",
                "name": n,
                "fields": None if p.fields is None else sorted(p.fields),
            }
            for n, p in self._processes.items()
        ]
        counters = [{"op": "state", "counters": self._counters}]
        puts = [{"op": "put", "id": k, "record": v} for k, v in self._instances.items()]
        return processes + counters + puts

    def _compact(self, path: Path) -> None:
        """Rewrite the journal as one line per process and instance, atomically."""
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False
        ) as fh:
            tmp = Path(fh.name)
            for entry in self._snapshot():
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
        tmp.replace(path)

    def _save(self, entry: dict[str, Any]) -> None:
        """Append one change to the journal (the caller holds the lock)."""
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")

    def _put(self, instance_id: str, number: int | None = None) -> None:
        entry: dict[str, Any] = {
            "op": "put",
            "id": instance_id,
            "record": self._instances[instance_id],
        }
        if number is not None:
            entry["number"] = number
        self._save(entry)

    def add_process(self, name: str, fields: Iterable[str] | None = None) -> Process:
        """Register (or replace) a process and the field names it accepts."""
        process = Process(name, None if fields is None else frozenset(fields))
        with self._lock:
            self._processes[name] = process
            fields_list = None if process.fields is None else sorted(process.fields)
            self._save({"op": "process", "name": name, "fields": fields_list})
        return process

    def processes(self) -> dict[str, Process]:
        """Return the registered processes by name."""
        with self._lock:
            return dict(self._processes)

    def _check(self, process: str, names: Iterable[str]) -> None:
        """Refuse an unknown process (404) or field (400); caller holds the lock."""
        known = self._processes.get(process)
        if known is None:
            if self.auto_processes:
                return
            raise EmulatorError(404, f"Process '{process}' not found.")
        for name in names:
            if known.fields is not None and name not in known.fields:
                raise EmulatorError(
                    400, f"Field '{name}' does not exist in process '{process}'."
                )

    def _instance(self, instance_id: str) -> dict[str, Any]:
        """Return the live instance record or refuse with 404; caller holds the lock."""
        try:
            return self._instances[instance_id]
        except KeyError:
            raise EmulatorError(404, f"Instance '{instance_id}' not found.") from None

    def create(self, process: str, fields: Mapping[str, tuple[str, str]]) -> str:
        """Create an instance of `process` and return its ID, `<process>-<n>`."""
        with self._lock:
            self._check(process, fields)
            number = self._counters.get(process, 0) + 1
            self._counters[process] = number
            instance_id = f"{process}-{number}"
            self._instances[instance_id] = {
                "process": process,
                "fields": {k: {"text": t, "value": v} for k, (t, v) in fields.items()},
                "version": 1,
                "status": "",
            }
            self._put(instance_id, number)
        logger.debug("Created %s", instance_id)
        return instance_id

    def update(
        self,
        instance_id: str,
        fields: Mapping[str, tuple[str, str]],
        *,
        replace: bool,
        process: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        """Set fields (all of them when `replace`), bump the version, return a copy."""
        with self._lock:
            record = self._instance(instance_id)
            if process is not None and process != record["process"]:
                raise EmulatorError(
                    400,
                    f"Instance '{instance_id}' belongs to process "
                    f"'{record['process']}', not '{process}'.",
                )
            self._check(record["process"], fields)
            held: dict[str, dict[str, str]] = {} if replace else record["fields"]
            held.update({k: {"text": t, "value": v} for k, (t, v) in fields.items()})
            record["fields"] = held
            record["version"] += 1
            if status:
                record["status"] = status
            self._put(instance_id)
            return copy.deepcopy(record)

    def read_fields(
        self, instance_id: str, names: Iterable[str]
    ) -> list[dict[str, str]]:
        """Return `{name, text, value}` for each name; a field never set is blank."""
        with self._lock:
            record = self._instance(instance_id)
            names = list(names)
            self._check(record["process"], names)
            held = record["fields"]
            return [
                {
                    "name": n,
                    "text": held.get(n, {}).get("text", ""),
                    "value": held.get(n, {}).get("value", ""),
                }
                for n in names
            ]

    def instances(self, process: str | None = None) -> dict[str, dict[str, Any]]:
        """Return deep copies of all instances, or those of one process, by ID."""
        with self._lock:
            return {
                k: copy.deepcopy(v)
                for k, v in self._instances.items()
                if process is None or v["process"] == process
            }

    def get(self, instance_id: str) -> dict[str, Any] | None:
        """Return a deep copy of one instance, or None when there is no such ID."""
        with self._lock:
            return copy.deepcopy(self._instances.get(instance_id))

    def set_field(self, instance_id: str, name: str, text: str, value: str) -> None:
        """Change a field as a person in Kianda would (bumps the version; no checks)."""
        with self._lock:
            record = self._instances[instance_id]
            record["fields"][name] = {"text": text, "value": value}
            record["version"] += 1
            self._put(instance_id)

    def remove(self, instance_id: str) -> None:
        """Delete an instance, as if removed in Kianda (KeyError when unknown)."""
        with self._lock:
            del self._instances[instance_id]
            self._save({"op": "del", "id": instance_id})

    def record(self, method: str, path: str) -> None:
        """Append one received request to the request log."""
        with self._lock:
            self._log.append((method, path))

    @property
    def request_log(self) -> list[tuple[str, str]]:
        """Return a copy of every `(method, path)` received so far, in order."""
        with self._lock:
            return list(self._log)

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        """Count logged requests matching a method and/or a path prefix."""
        return sum(
            1
            for m, p in self.request_log
            if (method is None or m == method.upper())
            and (path_prefix is None or p.startswith(path_prefix))
        )
