"""The Python API: run a sync, a check or a reconciliation from code.

Airflow, Dagster, Prefect or a plain script call these and read the returned
``RunSummary`` (``summary.exit_code``, ``summary.statuses``, ``summary.results_path``).
The command line is built on the same functions. Settings not given as keywords come
from KIANDA_* environment variables and ``.env``, as for the command line.

Example::

    import sync

    summary = sync.run_sync("mappings/staff.yaml", "exports/staff.xlsx")
    if summary.exit_code != 0:
        raise RuntimeError(f"{summary.rows} rows, {dict(summary.statuses)}")
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.engine import Progress, RunOptions
from sync.engine import run_sync as _run
from sync.outcome import ReconcileSummary, RunSummary
from sync.reconciliation import reconcile as _reconcile
from sync.settings import Settings, load_settings

log = logging.getLogger(__name__)


def run_sync(
    mapping: str | Path,
    input_file: str | Path,
    *,
    output: str | Path | None = None,
    emulator: bool = False,
    dry_run: bool = False,
    retry_unknown: bool = False,
    confirm: Callable[[str], bool] | None = None,
    force: bool = False,
    only_failed: str | Path | None = None,
    notice: Callable[[str], None] = log.info,
    progress: Progress | None = None,
    command_line: str = "",
    **settings: Any,
) -> RunSummary:
    """Sync ``input_file`` into Kianda as ``mapping`` says and write the results.

    Keyword settings (``domain``, ``token``, ``concurrency``, ``ledger``, ...) beat the
    environment. ``confirm`` asks a person yes or no before ``retry_unknown`` creates
    rows again (the command line passes it only at a terminal). Raises a
    ``sync.errors.SyncError`` when nothing could be done; row problems and an
    aborted run are in the returned summary.
    """
    options = RunOptions(
        dry_run=dry_run,
        retry_unknown=retry_unknown,
        confirm=confirm,
        force=force,
        emulator=emulator,
        only_failed=Path(only_failed) if only_failed else None,
        command="run --dry-run" if dry_run else "run",
        command_line=command_line,
    )
    return _run(
        Path(mapping),
        Path(input_file),
        settings=load_settings(**settings),
        results_path=Path(output) if output else None,
        options=options,
        notice=notice,
        progress=progress,
    )


def validate(
    mapping: str | Path,
    input_file: str | Path,
    *,
    output: str | Path | None = None,
    progress: Progress | None = None,
    command_line: str = "",
    notice: Callable[[str], None] = log.info,
) -> RunSummary:
    """Check a mapping and every row of an input without contacting Kianda.

    ``notice`` receives one sentence per invalid row.
    """
    return _run(
        Path(mapping),
        Path(input_file),
        settings=Settings(),
        results_path=Path(output) if output else None,
        options=RunOptions(
            validate_only=True, command="validate", command_line=command_line
        ),
        notice=notice,
        progress=progress,
    )


def reconcile(
    mapping: str | Path,
    input_file: str | Path,
    *,
    output: str | Path | None = None,
    emulator: bool = False,
    command_line: str = "",
    notice: Callable[[str], None] = log.info,
    **settings: Any,
) -> ReconcileSummary:
    """Compare what Kianda holds with what each row of the input says; write a report.

    Nothing is written to Kianda or the ledger. ``summary.exit_code`` is 0 when Kianda
    matches the sheet and 1 when anything differs or is missing.
    """
    return _reconcile(
        Path(mapping),
        Path(input_file),
        settings=load_settings(**settings),
        report_path=Path(output) if output else None,
        emulator=emulator,
        command_line=command_line,
        notice=notice,
    )
