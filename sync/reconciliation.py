"""Check that Kianda still holds what the sheet says: ``kianda-sync reconcile``.

Every row is converted exactly as ``run`` would convert it. For a row whose instance
is known (its Instance ID cell, else the ledger, opened read-only), the mapped fields
are read back from Kianda, a few rows at a time, and compared with what ``run`` would
send, text and value, exactly. A field ``run`` leaves out (an empty cell with
``empty: keep``) is not compared. Nothing is written to Kianda or to the ledger; the
findings go to a report workbook (``sync.report``) and a summary.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sync.client import KiandaClient
from sync.connect import EMULATOR_NAME, EMULATOR_SCOPE, emulated, require_connection
from sync.convert import ConvertedRow, FieldValue, convert_checked, repeated_keys
from sync.errors import ApiError, ApiRejected
from sync.ledger import KeyState, Ledger, default_ledger_path
from sync.mapping import BoundMapping, Mapping, bind, load_mapping
from sync.outcome import Difference, ReconcileSummary, RowCheck, RowState
from sync.reader import open_table
from sync.report import ReportWriter
from sync.results import check_output
from sync.settings import Settings

log = logging.getLogger(__name__)

# Rows read ahead of the oldest unfinished one, per request in flight.
_WINDOW_PER_WORKER = 4


def default_report_path(input_path: Path) -> Path:
    """``<input stem>.reconcile.xlsx`` beside the input."""
    return input_path.with_name(f"{input_path.stem}.reconcile.xlsx")


def reconcile(
    mapping_path: Path,
    input_path: Path,
    *,
    settings: Settings,
    report_path: Path | None = None,
    emulator: bool = False,
    command_line: str = "",
    notice: Callable[[str], None] = log.info,
) -> ReconcileSummary:
    """Compare every known instance with its row, write the report, return findings.

    Raises a SyncError subclass when nothing could be checked (bad mapping, input,
    configuration or ledger) and an ApiError when Kianda stopped answering or refused
    the credentials part-way (no report is written then).
    """
    mapping = load_mapping(mapping_path)
    if not emulator:
        require_connection(settings)
    report_path = report_path or default_report_path(input_path)
    check_output(report_path, input_path, mapping_path, suffixes=(".xlsx",))
    table = open_table(input_path, mapping)
    bound = bind(mapping, table.headers, table.name)
    duplicates = repeated_keys(bound, table.rows())
    ledger_path = settings.ledger or default_ledger_path(mapping_path)
    summary = ReconcileSummary(
        run_id=dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ-")
        + uuid.uuid4().hex[:6],
        input_path=input_path,
        mapping_path=mapping_path,
        report_path=report_path,
        started=dt.datetime.now(dt.UTC),
        ledger_path=ledger_path,
        command_line=command_line,
    )
    log.info(
        "Starting reconcile %s: %s against process '%s'",
        summary.run_id,
        table.name,
        mapping.process,
    )

    with ExitStack() as stack:
        if emulator:
            settings = stack.enter_context(
                emulated(settings, mapping_path, ledger_path, notice)
            )
            summary.domain, scope = EMULATOR_NAME, EMULATOR_SCOPE
        else:
            assert settings.domain is not None
            summary.domain = scope = settings.domain
        ledger = None
        if ledger_path.exists():
            ledger = stack.enter_context(Ledger(ledger_path, scope, read_only=True))
        client = KiandaClient(settings)
        stack.callback(client.close)
        report = stack.enter_context(ReportWriter(summary.report_path, mapping))

        checker = _Checker(bound, ledger, client)
        rows = (
            convert_checked(bound, row, duplicates, table.date1904)
            for row in table.rows()
        )
        try:
            for check in checker.check_all(rows, settings.concurrency):
                summary.add(check)
                report.write(check)
        except ApiError as exc:
            raise type(exc)(
                f"{exc} The reconciliation stopped before every row was checked, so "
                "no report was written. Run it again once Kianda answers.",
                status=exc.status,
            ) from None

        summary.requests = client.stats.requests
        summary.retries = client.stats.retries
        summary.ended = dt.datetime.now(dt.UTC)
        report.close(summary)

    log.info(
        "Finished reconcile %s in %.1f s: %s; %d field differences",
        summary.run_id,
        summary.duration,
        ", ".join(f"{n} {s.value}" for s, n in sorted(summary.states.items())),
        len(summary.differences),
    )
    return summary


@dataclass(frozen=True, slots=True)
class _Job:
    """A row whose instance is known: what to read back and compare."""

    row: int
    key: str
    instance_id: str
    fields: list[FieldValue]


class _Checker:
    """Plans each row, reads its instance back, and compares field by field."""

    def __init__(
        self, bound: BoundMapping, ledger: Ledger | None, client: KiandaClient
    ) -> None:
        self.mapping: Mapping = bound.mapping
        self.ledger = ledger
        self.client = client

    def check_all(self, rows: Iterable[ConvertedRow], limit: int) -> Iterator[RowCheck]:
        """One finding per row, in sheet order, with up to ``limit`` reads at once."""
        window: deque[RowCheck | Future[RowCheck]] = deque()
        with ThreadPoolExecutor(limit, thread_name_prefix="reconcile") as pool:
            try:
                for converted in rows:
                    planned = self._plan(converted)
                    if isinstance(planned, _Job):
                        window.append(pool.submit(self._compare, planned))
                    else:
                        window.append(planned)
                    while window and (
                        len(window) > limit * _WINDOW_PER_WORKER or _ready(window[0])
                    ):
                        yield _outcome(window.popleft())
                while window:
                    yield _outcome(window.popleft())
            except BaseException:
                for item in window:
                    if isinstance(item, Future):
                        item.cancel()
                raise

    def _plan(self, converted: ConvertedRow) -> RowCheck | _Job:
        """A finding that needs no request, or the read a row needs."""
        number, key = converted.number, converted.key or ""
        if not converted.ok:
            message = " ".join(p.message for p in converted.problems)
            return RowCheck(
                number, key, converted.instance_id or "", RowState.INVALID, message
            )
        instance_id = converted.instance_id
        if instance_id is None and converted.key is not None and self.ledger:
            entry = self.ledger.lookup(self.mapping.process, converted.key)
            if entry is not None and entry.state is KeyState.PENDING:
                return RowCheck(number, key, "", RowState.UNKNOWN, _PENDING)
            if entry is not None:
                instance_id = entry.instance_id
        if instance_id is None:
            return RowCheck(number, key, "", RowState.NEVER_SYNCED, _NEVER)
        return _Job(number, key, instance_id, converted.fields)

    def _compare(self, job: _Job) -> RowCheck:
        """Runs in a worker thread: read the instance's fields and compare them."""
        check = RowCheck(job.row, job.key, job.instance_id, RowState.IN_SYNC)
        if not job.fields:
            check.message = (
                "Nothing to compare: every mapped cell of this row is empty."
            )
            return check
        try:
            held = self.client.read_fields(
                job.instance_id, [f.fieldname for f in job.fields]
            )
        except ApiRejected as exc:
            if exc.status == 404:
                check.state = RowState.MISSING
                check.message = _missing(job.instance_id)
            else:
                check.state = RowState.NOT_CHECKED
                check.message = f"{exc} Check the mapping's field names and run again."
            return check

        check.compared = len(job.fields)
        for sent in job.fields:
            found = held.get(sent.fieldname)
            if found != (sent.text, sent.value):
                check.differences.append(
                    Difference(
                        job.row,
                        job.key,
                        job.instance_id,
                        sent.fieldname,
                        self._source(sent.fieldname),
                        (sent.text, sent.value),
                        found,
                    )
                )
        if check.differences:
            check.state = RowState.DIFFERS
            names = ", ".join(d.field for d in check.differences)
            count = len(check.differences)
            check.message = (
                f"{count} of {check.compared} fields "
                f"{'differs' if count == 1 else 'differ'} ({names}): "
                "see the Differences sheet. Run kianda-sync run to send the sheet's "
                "values, or correct the sheet if Kianda is right."
            )
        return check

    def _source(self, fieldname: str) -> str:
        """Where a field's value comes from in the sheet, as the mapping says."""
        spec = self.mapping.fields[fieldname]
        if spec.column is not None:
            return spec.column
        if spec.template is not None:
            return spec.template
        return "(a constant in the mapping)"


_NEVER = (
    "No instance is known for this row: its Instance ID is empty and the ledger has "
    "no entry for its key. Run kianda-sync run to create it."
)
_PENDING = (
    "A create was sent for this row but Kianda never confirmed it, so it may or may "
    "not exist in Kianda. Look for it there: if it is there, put its ID in the "
    "'Instance ID' column; then kianda-sync run --retry-unknown creates only the "
    "rows still without an ID."
)


def _missing(instance_id: str) -> str:
    return (
        f"Kianda has no instance '{instance_id}' (it answered 404 Not Found): it was "
        "deleted in Kianda, or the ID is wrong. Ask a Kianda administrator whether it "
        "was removed on purpose; if not, restore it or correct the row's instance ID."
    )


def _ready(item: RowCheck | Future[RowCheck]) -> bool:
    return not isinstance(item, Future) or item.done()


def _outcome(item: RowCheck | Future[RowCheck]) -> RowCheck:
    return item.result() if isinstance(item, Future) else item
