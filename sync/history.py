"""Past runs, from the ledger: list them, and write a run's results workbook again."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from sync.errors import LedgerError
from sync.ledger import Ledger, RunRecord
from sync.outcome import Action, RowResult, RunSummary, Status
from sync.reader import Row
from sync.results import ResultsWriter


def list_runs(ledger_path: Path, limit: int = 50) -> list[RunRecord]:
    """The latest runs recorded in a ledger, newest first."""
    _must_exist(ledger_path)
    with Ledger(ledger_path, "", read_only=True) as ledger:
        return ledger.runs(limit)


def rewrite_results(ledger_path: Path, run_id: str, output: Path) -> RunRecord:
    """Write the results workbook of a past run again, from what the ledger kept."""
    _must_exist(ledger_path)
    with Ledger(ledger_path, "", read_only=True) as ledger:
        record = ledger.run(run_id)
        if record is None:
            raise LedgerError(
                f"The ledger {ledger_path} has no run '{run_id}'. Run 'kianda-sync "
                "history' to list the runs it knows."
            )
        summary = RunSummary(
            run_id=record.run_id,
            command=record.command or "run",
            input_path=Path(record.input),
            mapping_path=Path(record.mapping),
            results_path=output,
            started=dt.datetime.fromisoformat(record.started_at),
            ended=dt.datetime.fromisoformat(record.ended_at)
            if record.ended_at
            else None,
            domain=record.scope,
            statuses=Counter(),
        )
        with ResultsWriter(output, record.headers) as writer:
            for kept in ledger.run_rows(record.run_id):
                result = RowResult(
                    Row(kept.source_row, tuple(kept.cells)),
                    Action(kept.action),
                    Status(kept.status),
                    kept.message,
                    kept.instance_id,
                )
                summary.add(result)
                writer.write(result)
            if summary.rows == 0:
                raise LedgerError(
                    f"The ledger no longer keeps the rows of run {record.run_id} (it "
                    "keeps those of the latest runs only), so its results cannot be "
                    "written again."
                )
            writer.close(summary)
    return record


def _must_exist(ledger_path: Path) -> None:
    if not ledger_path.exists():
        raise LedgerError(
            f"There is no ledger at {ledger_path}. Give the one your runs use with "
            "--ledger, or --mapping to use the one beside that mapping."
        )
