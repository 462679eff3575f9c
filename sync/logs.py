"""Logging for the command line: human-readable lines, or one JSON object per line.

Libraries do not configure logging; the CLI calls ``configure`` once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

# Attributes a log call may add with ``extra=`` that the JSON lines carry.
_EXTRA = ("run_id", "row", "status")


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, and run id / row / status when given."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _EXTRA:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: int, fmt: str = "text", log_file: Path | None = None) -> None:
    """Send the ``sync`` loggers to standard error (or a file) at ``level``."""
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("sync")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
