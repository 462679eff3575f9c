"""Run a sync: read -> convert -> plan -> send -> record -> report.

The engine owns the order of things. It reads the whole input once to find repeated
keys, then streams it again: each row is converted, matched to an instance (its
Instance ID cell, else the ledger, else a create), sent through a small pool of
threads, recorded in the ledger, and written to the results file in input order.
Only this thread touches the ledger and the results file.

Creates are sent in batches: the batch's keys are first written to the ledger as
*pending* in one transaction that is on disk before any request leaves, so a crash at
any instant leaves either no trace and no request, or a pending mark that later runs
report as ``unknown``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.client import KiandaClient
from sync.connect import EMULATOR_NAME, EMULATOR_SCOPE, emulated, require_connection
from sync.convert import (
    ConvertedRow,
    convert_checked,
    repeated_keys,
    row_instance_id,
    row_key,
)
from sync.errors import (
    ApiAuthError,
    ApiError,
    ApiRateLimited,
    ApiRejected,
    ApiSetupError,
    ApiStopped,
    ApiUnavailable,
    ConfigError,
    ExitCode,
    InputError,
)
from sync.headers import check_headers
from sync.ledger import (
    KeyState,
    Ledger,
    RunRow,
    default_ledger_path,
    file_sha256,
    fingerprint,
)
from sync.lock import RunLock
from sync.mapping import (
    BoundMapping,
    FieldType,
    Mapping,
    OnExisting,
    bind,
    load_mapping,
)
from sync.outcome import Action, RowResult, RunSummary, Status
from sync.profile import ColumnScan
from sync.reader import Row, Table, open_table
from sync.results import (
    ResultsWriter,
    check_output,
    default_results_path,
    format_moment,
    rows_to_retry,
)
from sync.settings import Settings

log = logging.getLogger(__name__)

# Consecutive "no answer" failures after which Kianda is taken to be down.
BREAKER_THRESHOLD = 10
# Rows sent before --max-error-rate is applied: a canary, so that one early failure
# does not stop a run, while a wrong mapping costs twenty rows, not the whole file.
CANARY_ROWS = 20
# How often Python may switch threads during a run (its default is 0.005 s).
SWITCH_INTERVAL_SECONDS = 0.0005
# Rows waiting for an earlier row's answer before the reader pauses.
MAX_QUEUED_PER_THREAD = 64
UNKNOWN_MESSAGE = (
    "The create was sent but Kianda never confirmed it, so this instance may already "
    "exist in Kianda. Look for it there: if it is there, put its ID in the 'Instance "
    "ID' column; then run again with --retry-unknown, which creates only the rows "
    "still without an ID."
)
CREATED_AGAIN_MESSAGE = (
    "Created again by --retry-unknown: the earlier create of this row was never "
    "confirmed."
)


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves beyond the mapping and settings."""

    dry_run: bool = False
    validate_only: bool = False
    retry_unknown: bool = False
    force: bool = False
    emulator: bool = False
    only_failed: Path | None = None
    command: str = "run"
    command_line: str = ""
    confirm: Callable[[str], bool] | None = None
    """Asks a person at a terminal a yes/no question; None where nobody can answer."""


@dataclass
class _Job:
    """A row that needs a request, with what to send."""

    row: Row
    converted: ConvertedRow
    action: Action
    instance_id: str | None
    digest: str
    again: bool = False
    """A create sent again by --retry-unknown."""


@dataclass
class _Slot:
    """A row's place in the output order: its result, or the job that will give it."""

    result: RowResult | None = None
    job: _Job | None = None
    future: Future[str | None] | None = field(default=None, repr=False)
    marked: bool = False
    """Its create is marked pending in the ledger (by this run)."""


def run_sync(
    mapping_path: Path,
    input_path: Path,
    *,
    settings: Settings,
    results_path: Path | None = None,
    options: RunOptions | None = None,
    notice: Callable[[str], None] = log.info,
    progress: Progress | None = None,
) -> RunSummary:
    """Sync one input file into Kianda and write its results; return the summary.

    Raises a SyncError subclass when nothing could be done (bad mapping, input,
    configuration or ledger, or another run holding the ledger); row problems and an
    aborted run are in the summary. ``notice`` receives the sentences a user must see
    even in a quiet run; ``progress`` is told of each row written.
    """
    options = options or RunOptions()
    mapping = load_mapping(mapping_path)
    for name, spec in mapping.fields.items():
        if spec.type is FieldType.DATETIME and spec.timezone is None:
            notice(
                f"Field '{name}': date-times without a time zone are sent as UTC. If "
                "the sheet holds local times, set timezone: (such as Europe/Dublin) "
                "for it in the mapping."
            )
    if not options.validate_only and not options.emulator:
        require_connection(settings)

    _check_size(input_path, settings)
    table = open_table(input_path, mapping)
    check_headers(mapping, table)
    bound = bind(mapping, table.headers, table.name)
    scan = ColumnScan(bound)
    duplicates, total = _repeated_keys(bound, table, settings.max_rows, scan.add)
    scan.check()
    wanted = _retry_keys(options.only_failed, mapping, notice)
    total = len(wanted) if wanted is not None else total

    results_path = _results_path(results_path, input_path, mapping_path, options)
    summary = RunSummary(
        run_id=dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ-")
        + uuid.uuid4().hex[:6],
        command=options.command,
        input_path=input_path,
        mapping_path=mapping_path,
        results_path=results_path,
        started=dt.datetime.now(dt.UTC),
        command_line=options.command_line,
    )
    log.info(
        "Starting %s %s: %d rows of %s into process '%s' (mapping %s)",
        options.command,
        summary.run_id,
        total,
        table.name,
        mapping.process,
        mapping_path,
        extra={"run_id": summary.run_id},
    )
    # validate prints each invalid row itself; a run logs them as warnings.
    report = _Reporter(summary, total, progress, log_rows=not options.validate_only)

    keys = [bound.index(column) for column in mapping.key]
    with ExitStack() as stack:
        rows = (
            r for r in table.rows() if wanted is None or row_key(bound, r) in wanted
        )
        if options.validate_only:
            writer = stack.enter_context(
                ResultsWriter(results_path, table.headers, key_columns=keys)
            )
            for row in rows:
                result = _validate(bound, row, table, duplicates)
                report(result)
                writer.write(result)
                if result.status is Status.INVALID:
                    notice(f"Row {row.number}: {result.message}")
        else:
            ledger_path = settings.ledger or default_ledger_path(mapping_path)
            if not options.dry_run:
                stack.enter_context(
                    RunLock(ledger_path, summary.run_id, options.command)
                )
            if options.emulator:
                settings = stack.enter_context(
                    emulated(settings, mapping_path, ledger_path, notice)
                )
                summary.domain = EMULATOR_NAME
                scope = EMULATOR_SCOPE
            else:
                assert settings.domain is not None
                summary.domain = scope = settings.domain
            ledger = stack.enter_context(
                Ledger(ledger_path, scope, read_only=options.dry_run)
            )
            writer = stack.enter_context(
                ResultsWriter(results_path, table.headers, key_columns=keys)
            )
            client = KiandaClient(settings)
            stack.callback(client.close)
            run = _Run(
                bound=bound,
                table=table,
                ledger=ledger,
                client=client,
                settings=settings,
                options=options,
                summary=summary,
                notice=notice,
                report=report,
            )
            run.execute(rows, duplicates, writer)
        summary.ended = dt.datetime.now(dt.UTC)
        writer.close(summary)
    log.info(
        "Finished %s in %.1f s: %s; %d requests, %d retries",
        summary.run_id,
        summary.duration,
        ", ".join(f"{n} {s.value}" for s, n in sorted(summary.statuses.items())),
        summary.requests,
        summary.retries,
        extra={"run_id": summary.run_id},
    )
    return summary


def _retry_keys(
    only_failed: Path | None, mapping: Mapping, notice: Callable[[str], None]
) -> set[str] | None:
    """The keys ``--only-failed`` re-runs, or None to run every row."""
    if only_failed is None:
        return None
    keys = rows_to_retry(only_failed, mapping)
    if not keys:
        notice(
            f"Every row of {only_failed} succeeded, so --only-failed has nothing to "
            "re-run."
        )
    return keys


def _results_path(
    given: Path | None, input_path: Path, mapping_path: Path, options: RunOptions
) -> Path:
    """Where the results go; never over an input of the run.

    A check, a dry run or a retry of failed rows writes beside the real results
    (``.validate.xlsx``, ``.dry-run.xlsx``, ``.retry.xlsx``), never over them.
    """
    kind = (
        "validate"
        if options.validate_only
        else "dry-run"
        if options.dry_run
        else "retry"
        if options.only_failed
        else "results"
    )
    path = given or default_results_path(input_path, kind)
    protected = [input_path, mapping_path]
    if options.only_failed is not None:
        protected.append(options.only_failed)
    check_output(path, *protected, suffixes=(".xlsx", ".csv"))
    return path


def _check_size(input_path: Path, settings: Settings) -> None:
    """Refuse an input larger than KIANDA_MAX_INPUT_MB before reading it."""
    if not input_path.is_file():
        return  # open_table says what is wrong
    size_mb = input_path.stat().st_size / 1_000_000
    if size_mb > settings.max_input_mb:
        raise InputError(
            f"{input_path} is {size_mb:,.0f} MB, more than the limit of "
            f"{settings.max_input_mb:,.0f} MB. Split the file, or raise "
            "KIANDA_MAX_INPUT_MB if it is really meant to be this big."
        )


def _repeated_keys(
    bound: BoundMapping,
    table: Table,
    max_rows: int,
    inspect: Callable[[Row], None] | None = None,
) -> tuple[dict[str, list[int]], int]:
    """Row numbers of every key that appears more than once, and the row count.

    ``inspect`` sees every row on the way, so whole-column checks need no extra pass.
    """
    count = 0

    def counted() -> Iterator[Row]:
        nonlocal count
        for row in table.rows():
            count += 1
            if count > max_rows:
                raise InputError(
                    f"{table.name} has more than {max_rows:,} rows, the limit set by "
                    "KIANDA_MAX_ROWS. Split the file, or raise the limit."
                )
            if inspect is not None:
                inspect(row)
            yield row

    duplicates = repeated_keys(bound, counted())
    return duplicates, count


def _rows(count: int) -> str:
    return "row" if count == 1 else "rows"


def _invalid(row: Row, converted: ConvertedRow) -> RowResult:
    message = " ".join(p.message for p in converted.problems)
    return RowResult(
        row,
        Action.NONE,
        Status.INVALID,
        message,
        converted.instance_id or "",
        tuple(p.slug for p in converted.problems),
    )


def _validate(
    bound: BoundMapping, row: Row, table: Table, duplicates: dict[str, list[int]]
) -> RowResult:
    converted = convert_checked(bound, row, duplicates, table.date1904)
    if not converted.ok:
        return _invalid(row, converted)
    return RowResult(row, Action.BLANK, Status.READY, "", converted.instance_id or "")


class _Run:
    """The state of one sending run; ``execute`` drives it."""

    def __init__(
        self,
        *,
        bound: BoundMapping,
        table: Table,
        ledger: Ledger,
        client: KiandaClient,
        settings: Settings,
        options: RunOptions,
        summary: RunSummary,
        notice: Callable[[str], None],
        report: _Reporter,
    ) -> None:
        self.bound = bound
        self.report = report
        self.mapping: Mapping = bound.mapping
        self.table = table
        self.ledger = ledger
        self.client = client
        self.limit = settings.concurrency
        self.options = options
        self.summary = summary
        self.notice = notice
        self.consecutive_outages = 0
        self.max_error_rate = settings.max_error_rate
        self.rows_sent = 0
        self.rows_sent_failed = 0
        self.queue: deque[_Slot] = deque()
        self.unsent: list[_Slot] = []
        self.marked: deque[_Slot] = deque()
        self.running: set[Future[str | None]] = set()
        self.position = 0

    # --- the loop --------------------------------------------------------------------

    def execute(
        self,
        rows: Iterator[Row],
        duplicates: dict[str, list[int]],
        writer: ResultsWriter,
    ) -> None:
        """Plan, send and record every row, writing results in input order."""
        summary = self.summary
        self._warn_if_unknown_here()
        self._warn_of_retry_unknown()
        if not self.options.dry_run:
            self._start(summary)

        with (
            ThreadPoolExecutor(self.limit, thread_name_prefix="send") as pool,
            _signals_stop(self._abort),
            _quick_thread_switches(),
        ):
            self._send_all(rows, duplicates, pool, writer)
            self._abandon_unsent()
            self._flush(writer, block=True)

        summary.requests = self.client.stats.requests
        summary.retries = self.client.stats.retries
        self._log_pushback()
        if not self.options.dry_run:
            counts = {s.value: n for s, n in summary.statuses.items()}
            outcome = "aborted" if summary.aborted else "finished"
            with self.ledger.durable():
                self.ledger.finish_run(summary.run_id, counts, outcome)

    def _log_pushback(self) -> None:
        """Say in the cron log how much Kianda pushed back, once, at the end."""
        limits = self.client.concurrency
        if not limits.busy_answers:
            return
        log.info(
            "Kianda answered busy %d %s; requests in flight went down to %d (of %d) "
            "and ended at %d",
            limits.busy_answers,
            "time" if limits.busy_answers == 1 else "times",
            limits.lowest,
            limits.ceiling,
            limits.limit,
            extra={"run_id": self.summary.run_id},
        )

    def _send_all(
        self,
        rows: Iterator[Row],
        duplicates: dict[str, list[int]],
        pool: ThreadPoolExecutor,
        writer: ResultsWriter,
    ) -> None:
        """Plan each row and send what needs sending, in batches."""
        for row in rows:
            converted = convert_checked(
                self.bound, row, duplicates, self.table.date1904
            )
            planned = self._plan(row, converted)
            if isinstance(planned, RowResult):
                self.queue.append(_Slot(result=planned))
            else:
                slot = _Slot(job=planned)
                self.queue.append(slot)
                self.unsent.append(slot)
                if len(self.unsent) >= self.limit:
                    # Mark a batch only when it goes out: after a crash, the fewer rows
                    # marked and not sent, the fewer rows a person must check.
                    self._mark()
                    self._feed(pool, writer, block=True, drain=True)
            self._flush(
                writer, block=len(self.queue) > self.limit * MAX_QUEUED_PER_THREAD
            )
        self._mark()
        self._feed(pool, writer, block=True, drain=True)

    def _abandon_unsent(self) -> None:
        """Rows planned but never handed to the pool: not attempted, no trace left."""
        self.unsent.clear()
        self.marked.clear()
        for slot in self.queue:
            if slot.result is None and slot.future is None:
                assert slot.job is not None
                if slot.marked:
                    with self.ledger.batch():
                        self.ledger.forget_pending(
                            self.mapping.process, slot.job.converted.key or ""
                        )
                slot.result = self._not_attempted(slot.job)

    def _warn_if_unknown_here(self) -> None:
        """Say so when the ledger has never synced this process to this Kianda.

        Then every row without an Instance ID is created, which is right for a first
        run and wrong if the ledger of earlier runs is elsewhere, or was written for
        the same workspace under another spelling of its address.
        """
        process = self.mapping.process
        if self.ledger.knows(process):
            return
        others = self.ledger.other_scopes(process)
        if others:
            self.notice(
                f"The ledger {self.ledger.path} has synced '{process}' to "
                + ", ".join(others)
                + f" but never to {self.ledger.scope}, so rows without an Instance ID "
                "will be created there. If that is the same workspace, stop now "
                "(Ctrl+C) and set KIANDA_DOMAIN exactly as before."
            )
        else:
            self.notice(
                f"The ledger {self.ledger.path} has no record of '{process}' yet, so "
                "rows without an Instance ID will be created. If earlier runs used "
                "another ledger (for example beside a mapping in another folder), stop "
                "now (Ctrl+C) and point --ledger at it."
            )

    def _warn_of_retry_unknown(self) -> None:
        """Say which rows --retry-unknown creates again, since it cannot check Kianda.

        Kianda has no search, so a create that was never confirmed cannot be looked
        up; a person must have copied the IDs of those Kianda holds into the sheet.
        Rows still without an ID are found with one more pass over the input.
        """
        process = self.mapping.process
        if not self.options.retry_unknown or not self.ledger.pending_count(process):
            return
        again: list[int] = []
        given = 0
        for row in self.table.rows():
            key = row_key(self.bound, row)
            if key is None:
                continue
            entry = self.ledger.lookup(process, key)
            if entry is None or entry.state is not KeyState.PENDING:
                continue
            if row_instance_id(self.bound, row) is None:
                again.append(row.number)
            else:
                given += 1
        if not again and not given:
            return
        updated = f"{given} {_rows(given)} with an 'Instance ID' now are updated"
        if not again:
            self.notice(
                f"--retry-unknown: of the rows whose create Kianda never confirmed, "
                f"{updated}; none is created again."
            )
            return
        shown = ", ".join(str(n) for n in again[:10])
        more = f" and {len(again) - 10:,} more" if len(again) > 10 else ""
        also = f" ({updated}.)" if given else ""
        creates = "would create" if self.options.dry_run else "creates"
        self.notice(
            f"--retry-unknown {creates} {len(again)} {_rows(len(again))} again whose "
            f"create Kianda never confirmed and that have no Instance ID "
            f"({_rows(len(again))} {shown}{more}); any of them Kianda did store will "
            f"then exist twice.{also}"
        )
        confirm = None if self.options.dry_run else self.options.confirm
        if confirm is not None and not confirm(
            f"Create these {len(again)} {_rows(len(again))} again, now that you have "
            "looked for them in Kianda?"
        ):
            raise ConfigError(
                "Nothing was sent. Look for those rows in Kianda, put the ID of each "
                "one found in its 'Instance ID' cell, and run again with "
                "--retry-unknown."
            )

    def _start(self, summary: RunSummary) -> None:
        """Record the run, and say so if this very file was synced here before."""
        checksum = file_sha256(summary.input_path)
        with self.ledger.batch():
            self.ledger.start_run(
                summary.run_id,
                process=self.mapping.process,
                input_path=summary.input_path,
                checksum=checksum,
                mapping=summary.mapping_path,
                headers=self.table.headers,
                command=self.options.command,
            )
        earlier = self.ledger.earlier_run_of(
            self.mapping.process, checksum, summary.run_id
        )
        synced = ("created", "updated", "unchanged")
        if (
            earlier is not None
            and not self.options.force
            and any(earlier.counts.get(status) for status in synced)
        ):
            when = format_moment(dt.datetime.fromisoformat(earlier.started_at))
            summary.same_file_as = f"{earlier.run_id} ({when})"
            self.notice(
                f"This exact file was already synced into '{self.mapping.process}' by "
                f"run {earlier.run_id} on {when}; rows already sent come "
                "out 'unchanged'"
                + (
                    "."
                    if self.options.retry_unknown
                    else ", so nothing is created twice."
                )
            )

    def _mark(self) -> None:
        """Mark the planned creates of a batch pending, durably, in one commit."""
        slots, self.unsent = self.unsent, []
        if not slots or self.summary.aborted:
            self.unsent = slots  # left for _abandon_unsent
            return
        creates = [s for s in slots if s.job and s.job.action is Action.CREATE]
        if creates:
            with self.ledger.durable():
                for slot in creates:
                    assert slot.job is not None
                    key = slot.job.converted.key or ""
                    self.ledger.mark_pending(
                        self.mapping.process, key, self.summary.run_id
                    )
                    slot.marked = True
        self.marked.extend(slots)

    def _feed(
        self,
        pool: ThreadPoolExecutor,
        writer: ResultsWriter,
        *,
        block: bool,
        drain: bool = False,
    ) -> None:
        """Hand marked rows to the pool while fewer than ``limit`` are in flight.

        With ``block``, wait for room until fewer than a batch is left waiting; with
        ``drain``, until every marked row is sent. Results are written meanwhile.
        """
        while self.marked and not self.summary.aborted:
            running = {f for f in self.running if not f.done()}
            if len(running) < len(self.running):
                for future in self.running - running:
                    self._observe(future)
                self.running = running
                self._flush(writer, block=False)  # answers first: they may stop the run
                continue
            if len(self.running) < self.limit:
                slot = self.marked.popleft()
                slot.future = pool.submit(self._send, slot.job)  # type: ignore[arg-type]
                self.running.add(slot.future)
                continue
            if not (drain or (block and len(self.marked) >= self.limit)):
                return
            wait(self.running, return_when=FIRST_COMPLETED)
            self._flush(writer, block=False)

    def _flush(self, writer: ResultsWriter, *, block: bool) -> None:
        """Record and write the rows at the head of the queue whose outcome is known."""
        if not self.queue or not self._ready(self.queue[0], block):
            return
        with self.ledger.batch() if not self.options.dry_run else _nothing():
            while self.queue and self._ready(self.queue[0], block):
                slot = self.queue.popleft()
                if slot.result is None:
                    assert slot.job is not None and slot.future is not None
                    slot.result = self._finish(slot.job, slot.future)
                self._write(slot.result, writer)

    def _ready(self, slot: _Slot, block: bool) -> bool:
        if slot.result is not None:
            return True
        if slot.future is None:
            return False  # not sent yet
        return block or slot.future.done()

    def _write(self, result: RowResult, writer: ResultsWriter) -> None:
        self.report(result)
        writer.write(result)
        if not self.options.dry_run:
            self.ledger.record_row(
                self.summary.run_id,
                self.position,
                RunRow(
                    result.row.number,
                    list(result.row.cells),
                    result.instance_id,
                    result.action.value,
                    result.status.value,
                    result.message,
                ),
            )
        self.position += 1

    # --- planning --------------------------------------------------------------------

    def _plan(self, row: Row, converted: ConvertedRow) -> RowResult | _Job:
        """Decide what a row needs: nothing (with a status), a create or an update."""
        if not converted.ok:
            return _invalid(row, converted)
        mapping = self.mapping
        digest = fingerprint(
            converted.fields, mapping.process, mapping.trigger_field, mapping.status
        )
        instance_id = converted.instance_id
        entry = None
        if instance_id is None and converted.key is not None:
            entry = self.ledger.lookup(mapping.process, converted.key)
            if entry is not None and entry.state is KeyState.PENDING:
                if not self.options.retry_unknown:
                    return RowResult(
                        row, Action.CREATE, Status.UNKNOWN, UNKNOWN_MESSAGE
                    )
            elif entry is not None:
                instance_id = entry.instance_id

        if instance_id is None:
            job = _Job(row, converted, Action.CREATE, None, digest)
            job.again = entry is not None and entry.state is KeyState.PENDING
        else:
            if mapping.on_existing is OnExisting.SKIP:
                return RowResult(
                    row,
                    Action.NONE,
                    Status.SKIPPED,
                    "The instance exists and the mapping says on_existing: skip.",
                    instance_id,
                )
            if not self.options.force and self.ledger.last_sent(instance_id) == digest:
                return RowResult(row, Action.NONE, Status.UNCHANGED, "", instance_id)
            job = _Job(row, converted, Action.UPDATE, instance_id, digest)

        if self.options.dry_run:
            return RowResult(row, job.action, Status.READY, "", instance_id or "")
        if self.summary.aborted:
            return self._not_attempted(job)
        return job

    def _not_attempted(self, job: _Job) -> RowResult:
        return RowResult(
            job.row,
            job.action,
            Status.NOT_ATTEMPTED,
            f"Not sent: the run was stopped because {self.summary.aborted}",
            job.instance_id or "",
        )

    # --- sending (worker threads) ----------------------------------------------------

    def _send(self, job: _Job) -> str | None:
        """One create or update; returns the instance ID, or None if not sent."""
        mapping = self.mapping
        if self.summary.aborted:
            return None
        if job.action is Action.CREATE:
            return self.client.create(
                mapping.process, job.converted.fields, mapping.trigger_field
            )
        assert job.instance_id is not None
        self.client.update(
            job.instance_id,
            mapping.process,
            job.converted.fields,
            partial=mapping.on_existing is not OnExisting.PUT,
            trigger_field=mapping.trigger_field,
            status=mapping.status,
        )
        return job.instance_id

    # --- recording -------------------------------------------------------------------

    def _finish(self, job: _Job, future: Future[str | None]) -> RowResult:
        """Record a sent row's answer in the ledger and turn it into a result."""
        process, run_id = self.mapping.process, self.summary.run_id
        key = job.converted.key
        if future in self.running:  # answered, but not yet seen by _feed
            self.running.discard(future)
            self._observe(future)
        try:
            instance_id = future.result()
        except ApiError as exc:
            return self._failure(job, exc)
        if instance_id is None:  # not sent: the run was stopped before its turn
            if job.action is Action.CREATE:
                self.ledger.forget_pending(process, key or "")
            return self._not_attempted(job)

        self.ledger.record_instance(process, key, instance_id, run_id)
        self.ledger.record_sent(instance_id, job.digest, run_id)
        if job.action is Action.CREATE:
            said = CREATED_AGAIN_MESSAGE if job.again else ""
            return RowResult(job.row, job.action, Status.CREATED, said, instance_id)
        return RowResult(
            job.row, job.action, Status.UPDATED, self._kept(job), instance_id
        )

    def _kept(self, job: _Job) -> str:
        """For a partial update: the fields left as they were, their cells empty."""
        if self.mapping.on_existing is OnExisting.PUT:
            return ""
        sent = {field.fieldname for field in job.converted.fields}
        kept = [name for name in self.mapping.fields if name not in sent]
        if not kept:
            return ""
        return (
            "Empty cells left Kianda's values as they were for: "
            + ", ".join(kept)
            + " (set empty: clear in the mapping to empty them)."
        )

    def _failure(self, job: _Job, exc: ApiError) -> RowResult:
        """A row whose request failed: unknown, failed, or the end of the run."""
        process, key = self.mapping.process, job.converted.key or ""
        creating = job.action is Action.CREATE
        maybe_sent = isinstance(exc, ApiUnavailable) and exc.maybe_sent

        if isinstance(exc, ApiAuthError | ApiSetupError | ApiStopped):  # not acted on
            if creating:
                self.ledger.forget_pending(process, key)
            return self._not_attempted(job)
        if creating and maybe_sent:
            return RowResult(
                job.row, Action.CREATE, Status.UNKNOWN, f"{exc.what} {UNKNOWN_MESSAGE}"
            )
        if creating:
            self.ledger.forget_pending(process, key)
        return RowResult(
            job.row, job.action, Status.FAILED, str(exc), job.instance_id or ""
        )

    def _observe(self, future: Future[str | None]) -> None:
        """Count an answer when it arrives, and stop the run if it says to.

        Answers are counted in the order Kianda gave them, not in the rows' order, so
        that the breaker and --max-error-rate see failures at once, even while an
        earlier row still waits for its answer. Each answer is seen once, as its
        future leaves ``running``.
        """
        exc = future.exception()
        if exc is None:
            if future.result() is None:
                return  # not sent: the run was stopped before its turn
            self.consecutive_outages = 0
            self._count_sent(failed=False)
            return
        if isinstance(exc, ApiAuthError | ApiSetupError):
            self._abort(str(exc))  # no request can succeed
            return
        if not isinstance(exc, ApiError) or isinstance(exc, ApiStopped):
            return  # a fault of this program (_finish raises it), or never sent
        if isinstance(exc, ApiRejected):
            self.consecutive_outages = 0  # Kianda answered: it is up
        if isinstance(exc, ApiUnavailable | ApiRateLimited):
            self.consecutive_outages += 1
            if self.consecutive_outages >= BREAKER_THRESHOLD:
                self._abort(
                    f"the last {self.consecutive_outages} rows sent to Kianda all "
                    "failed or are unknown, so it looks down or overloaded. Run "
                    f"again once it is back. The last failure: {exc}"
                )
        self._count_sent(failed=True)

    def _count_sent(self, *, failed: bool) -> None:
        """Count a row that was sent; stop the run if too many of them failed."""
        self.rows_sent += 1
        if failed:
            self.rows_sent_failed += 1
        share = self.max_error_rate
        if (
            share is None
            or self.rows_sent < CANARY_ROWS
            or self.rows_sent_failed <= share * self.rows_sent
        ):
            return
        self._abort(
            f"{self.rows_sent_failed} of the first {self.rows_sent} rows sent failed "
            f"or are unknown, more than the {share * 100:g}% the maximum error rate "
            "allows. The 'Sync Message' of those rows says why: often a wrong mapping, "
            "or Kianda failing."
        )

    def _abort(self, reason: str) -> None:
        if not self.summary.aborted:
            self.summary.aborted = reason
            log.error("Stopping the run: %s", reason)
            self.client.stop()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _quick_thread_switches() -> Iterator[None]:
    """Let a thread whose answer arrived take the interpreter back sooner.

    The main thread writes results and the ledger while the senders wait on the
    network; Python's default 5 ms switch interval would hold each answer that long.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL_SECONDS))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


STOP_SIGNALS = {
    signal.SIGINT: "it was interrupted (Ctrl+C)",
    signal.SIGTERM: "it was asked to stop (SIGTERM, as systemd or timeout send)",
}


# A signal this soon after the first is the same stop sent twice: GNU timeout signals
# the tool and then its whole process group.
REPEAT_SIGNAL_SECONDS = 1.0
SECOND_SIGNAL_MESSAGE = (
    "Stopped at once on a second stop signal, without waiting for the requests in "
    "flight: no results file was written. Run the same command again; rows whose "
    "answer did not arrive show 'unknown' there, with what to check.\n"
)


@contextmanager
def _signals_stop(stop: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, a first Ctrl+C or SIGTERM calls ``stop`` instead.

    So the run stops between rows, with what is in flight recorded, every row in
    the results and the ledger closed, rather than at an arbitrary instruction. A
    second signal, a second or more later, ends the process at once (exit 3): the
    ledger's pending marks make the rows in flight or next in line ``unknown`` next
    time, so nothing is created twice. Outside the main thread (an orchestrator's
    worker) signals cannot be caught.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    previous: dict[signal.Signals, Any] = {}
    first_at: float | None = None

    def handler(signum: int, frame: object) -> None:
        nonlocal first_at
        if first_at is not None:
            if time.monotonic() - first_at >= REPEAT_SIGNAL_SECONDS:
                _end_at_once()
            return  # the same stop, sent twice (as `timeout` does)
        first_at = time.monotonic()
        stop(STOP_SIGNALS[signal.Signals(signum)])
        log.warning(
            "Waiting for the answers to the requests in flight (at most "
            "KIANDA_TIMEOUT each); a second Ctrl+C stops at once and leaves those "
            "rows 'unknown'."
        )

    for number in STOP_SIGNALS:
        previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, earlier in previous.items():
            signal.signal(number, earlier)


def _end_at_once() -> None:
    """End the process now (exit 3), saying so in the log and on standard error."""
    log.error(SECOND_SIGNAL_MESSAGE.rstrip())
    handlers = logging.getLogger("sync").handlers
    for handler in handlers:
        handler.flush()
    if all(isinstance(h, logging.FileHandler) for h in handlers):
        os.write(2, SECOND_SIGNAL_MESSAGE.encode())  # the log went elsewhere
    os._exit(ExitCode.ABORTED)


Progress = Callable[[int, int, int], None]
"""Told after each row: rows done, rows in all, rows needing attention so far."""

_ATTENTION = frozenset(
    {Status.INVALID, Status.FAILED, Status.UNKNOWN, Status.NOT_ATTEMPTED}
)


class _Reporter:
    """Counts each row's outcome, logs the ones that did not succeed, tells progress."""

    def __init__(
        self,
        summary: RunSummary,
        total: int,
        progress: Progress | None,
        *,
        log_rows: bool = True,
    ) -> None:
        self.log_rows = log_rows
        self.summary = summary
        self.total = total
        self.progress = progress
        self.attention = 0

    def __call__(self, result: RowResult) -> None:
        self.summary.add(result)
        if result.status in _ATTENTION:
            self.attention += 1
        if self.log_rows and result.status in (
            Status.INVALID,
            Status.FAILED,
            Status.UNKNOWN,
        ):
            log.warning(
                "Row %d: %s. %s",
                result.row.number,
                result.status,
                result.message,
                extra={
                    "run_id": self.summary.run_id,
                    "row": result.row.number,
                    "status": result.status.value,
                },
            )
        if self.progress is not None:
            self.progress(self.summary.rows, self.total, self.attention)
