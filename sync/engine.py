"""Run a sync: read -> convert -> plan -> send -> record -> report.

The engine owns the order of things. It reads the whole input once to find repeated
keys, then streams it again: each row is converted, matched to an instance (its
Instance ID cell, else the ledger, else a create), sent in batches through a pool of
``concurrency`` threads, recorded in the ledger, and written to the results file in
input order. Only this thread touches the ledger and the results file, so reading,
mapping and writing results overlap with the sending.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import sqlite3
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from sync.client import KiandaClient
from sync.convert import ConvertedRow, Problem, Slug, convert_row, row_key
from sync.errors import (
    ApiAuthError,
    ApiError,
    ApiRateLimited,
    ApiRejected,
    ApiUnavailable,
    ConfigError,
)
from sync.ledger import KeyState, Ledger, default_ledger_path, file_sha256, fingerprint
from sync.mapping import BoundMapping, Mapping, OnExisting, bind, load_mapping
from sync.outcome import Action, RowResult, RunSummary, Status
from sync.reader import Row, Table, open_table
from sync.results import ResultsWriter, default_results_path
from sync.settings import Settings

log = logging.getLogger(__name__)

EMULATOR_SCOPE = "emulator"
# Consecutive "no answer" failures after which Kianda is taken to be down.
BREAKER_THRESHOLD = 10
# Rows sent before --max-error-rate is applied: a canary, so that one early failure
# does not stop a run, while a wrong mapping costs twenty rows, not the whole file.
CANARY_ROWS = 20
# The next batch is handed to the pool once fewer rows than this many times the
# concurrency are waiting for an answer, so that the pool never runs dry while the
# batch is marked in the ledger (a sync to disk).
HANDOVER_DEPTH = 1.5
UNKNOWN_MESSAGE = (
    "The create was sent but no answer came back, so this instance may already exist "
    "in Kianda. Check Kianda: if it is there, put its ID in the 'Instance ID' column; "
    "if not, run again with --retry-unknown to create it."
)


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves beyond the mapping and settings."""

    dry_run: bool = False
    validate_only: bool = False
    retry_unknown: bool = False
    force: bool = False
    emulator: bool = False
    command: str = "run"


@dataclass(eq=False)
class _Job:
    """A row that needs a request, with what to send and, once sent, its future."""

    row: Row
    converted: ConvertedRow
    action: Action
    instance_id: str | None
    digest: str
    future: Future[str | None] | None = None


def run_sync(
    mapping_path: Path,
    input_path: Path,
    *,
    settings: Settings,
    results_path: Path | None = None,
    options: RunOptions | None = None,
    notice: Callable[[str], None] = log.info,
) -> RunSummary:
    """Sync one input file into Kianda and write its results; return the summary.

    Raises a SyncError subclass when nothing could be done (bad mapping, input,
    configuration or ledger); row problems and an aborted run are in the summary.
    ``notice`` receives the sentences a user must see even in a quiet run.
    """
    options = options or RunOptions()
    mapping = load_mapping(mapping_path)
    if not options.validate_only and not options.emulator:
        _require_connection(settings)

    table = open_table(input_path, mapping)
    bound = bind(mapping, table.headers, table.name)
    duplicates = _repeated_keys(bound, table)

    results_path = results_path or default_results_path(input_path)
    summary = RunSummary(
        run_id=dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ-")
        + uuid.uuid4().hex[:6],
        command=options.command,
        input_path=input_path,
        mapping_path=mapping_path,
        results_path=results_path,
        started=dt.datetime.now(dt.UTC),
    )

    log.info(
        "Starting %s %s: %s into process '%s'",
        options.command,
        summary.run_id,
        table.name,
        mapping.process,
    )
    with ExitStack() as stack:
        writer = stack.enter_context(ResultsWriter(results_path, table.headers))
        if options.validate_only:
            for row in table.rows():
                result = _validate(bound, row, table, duplicates)
                summary.add(result)
                writer.write(result)
        else:
            ledger_path = settings.ledger or default_ledger_path(mapping_path)
            if options.emulator:
                settings = stack.enter_context(
                    _emulated(settings, mapping_path, ledger_path, notice)
                )
                summary.domain = "built-in emulator"
                scope = EMULATOR_SCOPE
            else:
                assert settings.domain is not None
                summary.domain = scope = settings.domain
            ledger = stack.enter_context(Ledger(ledger_path, scope))
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
            )
            run.execute(duplicates, writer)
        summary.ended = dt.datetime.now(dt.UTC)
        writer.close(summary)
    log.info(
        "Finished %s in %.1f s: %s; %d requests, %d retries",
        summary.run_id,
        summary.duration,
        ", ".join(f"{n} {s.value}" for s, n in sorted(summary.statuses.items())),
        summary.requests,
        summary.retries,
    )
    return summary


def _require_connection(settings: Settings) -> None:
    if settings.domain and settings.has_credentials():
        return
    missing = "KIANDA_DOMAIN" if not settings.domain else "credentials"
    raise ConfigError(
        f"Kianda is not configured ({missing} missing). Set KIANDA_DOMAIN and either "
        "KIANDA_TOKEN, or KIANDA_USERNAME, KIANDA_PASSWORD and KIANDA_SUBSCRIPTION_ID "
        "(in the environment or a .env file); or add --emulator to try the mapping "
        "against the built-in emulator."
    )


@contextmanager
def _emulated(
    settings: Settings,
    mapping_path: Path,
    ledger_path: Path,
    notice: Callable[[str], None],
) -> Iterator[Settings]:
    """Start the built-in emulator and yield settings that point at it."""
    from sync.emulator import Emulator, EmulatorStore

    state = ledger_path.with_name(ledger_path.stem + ".emulator.json")
    state.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    emulator = Emulator.from_mapping_files(
        [mapping_path], store=EmulatorStore(state), token=token
    )
    with emulator:
        notice(
            f"Using the built-in Kianda emulator at {emulator.url} (its instances are "
            f"kept in {state}); nothing leaves this machine."
        )
        yield settings.model_copy(
            update={
                "domain": emulator.url,
                "token": SecretStr(token),
                "username": None,
                "password": None,
            }
        )


def _repeated_keys(bound: BoundMapping, table: Table) -> dict[str, list[int]]:
    """Row numbers of every key that appears more than once in the file.

    Every key is counted in a private temporary SQLite database, which spills to
    disk, rather than in a dict: a file of any length is checked in bounded memory.
    """
    keyed = (
        (key, row.number)
        for row in table.rows()
        if (key := row_key(bound, row)) is not None
    )
    repeated: dict[str, list[int]] = {}
    with closing(sqlite3.connect("")) as db:
        db.execute("CREATE TABLE seen (key TEXT NOT NULL, row INTEGER NOT NULL)")
        db.executemany("INSERT INTO seen VALUES (?, ?)", keyed)
        for key, number in db.execute(
            "SELECT key, row FROM seen WHERE key IN "
            "(SELECT key FROM seen GROUP BY key HAVING COUNT(*) > 1) ORDER BY row"
        ):
            repeated.setdefault(key, []).append(number)
    return repeated


def _duplicate_problem(key: str, number: int, rows: list[int]) -> Problem:
    others = ", ".join(str(n) for n in rows if n != number)
    return Problem(
        Slug.DUPLICATE_KEY,
        f"The key '{key}' is also on row {others}; rows with the same key are not "
        "sent, since it is not clear which one is right. Keep one of them.",
    )


def _convert(
    bound: BoundMapping, row: Row, table: Table, duplicates: dict[str, list[int]]
) -> ConvertedRow:
    converted = convert_row(bound, row, table.date1904)
    if converted.key is not None and converted.key in duplicates:
        rows = duplicates[converted.key]
        converted.problems.insert(
            0, _duplicate_problem(converted.key, row.number, rows)
        )
    return converted


def _invalid(row: Row, converted: ConvertedRow) -> RowResult:
    message = " ".join(p.message for p in converted.problems)
    return RowResult(
        row, Action.NONE, Status.INVALID, message, converted.instance_id or ""
    )


def _validate(
    bound: BoundMapping, row: Row, table: Table, duplicates: dict[str, list[int]]
) -> RowResult:
    converted = _convert(bound, row, table, duplicates)
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
    ) -> None:
        self.bound = bound
        self.mapping: Mapping = bound.mapping
        self.table = table
        self.ledger = ledger
        self.client = client
        self.settings = settings
        self.options = options
        self.summary = summary
        self.consecutive_outages = 0
        self.rows_sent = 0
        self.rows_sent_failed = 0
        # Rows in input order until written out; a _Job until its answer is recorded.
        self.queue: deque[RowResult | _Job] = deque()
        # Planned jobs not yet handed to the pool, and those handed and not recorded.
        self.batch: list[_Job] = []
        self.sending: set[_Job] = set()
        self.writer: ResultsWriter
        self.pool: ThreadPoolExecutor

    def execute(self, duplicates: dict[str, list[int]], writer: ResultsWriter) -> None:
        """Plan, send and record every row, writing results in input order."""
        summary = self.summary
        dry = self.options.dry_run
        if not dry:
            self.ledger.start_run(
                summary.run_id,
                self.mapping.process,
                summary.input_path,
                file_sha256(summary.input_path),
                summary.mapping_path,
            )
        self.writer = writer
        limit = self.settings.concurrency
        with ThreadPoolExecutor(limit, thread_name_prefix="send") as pool:
            self.pool = pool
            for row in self.table.rows():
                converted = _convert(self.bound, row, self.table, duplicates)
                planned = self._plan(row, converted)
                if isinstance(planned, RowResult):
                    self.queue.append(planned)
                elif summary.aborted:
                    self.queue.append(self._not_attempted(planned))
                else:
                    self.queue.append(planned)
                    self.batch.append(planned)
                    if len(self.batch) >= limit or not self._unanswered():
                        self._send_batch()
                if len(self.queue) > limit * 64:
                    self._send_batch()
                    self._flush(block=True)
            self._send_batch()
            self._flush(block=True)

        summary.requests = self.client.stats.requests
        summary.retries = self.client.stats.retries
        if not dry:
            counts = {s.value: n for s, n in summary.statuses.items()}
            outcome = "aborted" if summary.aborted else "finished"
            self.ledger.finish_run(summary.run_id, counts, outcome)

    def _unanswered(self) -> list[Future[str | None]]:
        """The futures of rows handed to the pool and not yet answered."""
        return [
            job.future
            for job in self.sending
            if job.future is not None and not job.future.done()
        ]

    def _send_batch(self) -> None:
        """Hand the batch to the pool when its queue runs low, creates marked first.

        Rows go out in batches so that the ledger syncs to disk once per batch, not
        once per row: marking every create of a batch pending in one commit, and
        recording the answers that have come back in another, is what lets the
        ledger keep up with sixteen or more requests in flight.
        """
        if not self.batch:
            return
        depth = max(1, int(self.settings.concurrency * HANDOVER_DEPTH))
        while len(unanswered := self._unanswered()) >= depth:
            wait(unanswered, return_when=FIRST_COMPLETED)
        self._flush(block=False)
        if self.summary.aborted:
            self.batch.clear()  # left in the queue unsent: not attempted
            self._flush(block=False)
            return
        with self.ledger.transaction():
            for job in self.batch:
                if job.action is Action.CREATE:
                    self.ledger.mark_pending(
                        self.mapping.process,
                        job.converted.key or "",
                        self.summary.run_id,
                    )
        for job in self.batch:
            job.future = self.pool.submit(self._send, job)
            self.sending.add(job)
        self.batch.clear()

    def _ready(self, item: RowResult | _Job) -> bool:
        if isinstance(item, RowResult):
            return True
        if item.future is None:
            return bool(self.summary.aborted) and item not in self.batch
        return item.future.done()

    def _flush(self, *, block: bool) -> None:
        """Record and write out the rows at the head of the queue that are done."""
        queue = self.queue
        while queue:
            head = queue[0]
            if not self._ready(head):
                if not block:
                    return
                assert isinstance(head, _Job) and head.future is not None
                wait([head.future])
            # Every row answered by now is recorded in one ledger commit.
            with self.ledger.transaction():
                while queue and self._ready(queue[0]):
                    self._record(queue.popleft())

    def _record(self, item: RowResult | _Job) -> None:
        """Count one row's result, write it out, and log it if it needs attention."""
        if isinstance(item, RowResult):
            result = item
        elif item.future is None:
            result = self._not_attempted(item)
        else:
            self.sending.discard(item)
            result = self._finish(item, item.future)
            self._count_sent(result)
        self.summary.add(result)
        self.writer.write(result)
        if result.status in (Status.INVALID, Status.FAILED, Status.UNKNOWN):
            log.warning(
                "Row %d: %s. %s", result.row.number, result.status, result.message
            )

    def _count_sent(self, result: RowResult) -> None:
        """Count a row that was sent; stop the run if too many of them failed."""
        if result.status is Status.NOT_ATTEMPTED:
            return
        self.rows_sent += 1
        if result.status in (Status.FAILED, Status.UNKNOWN):
            self.rows_sent_failed += 1
        share = self.settings.max_error_rate
        if (
            share is None
            or self.summary.aborted
            or self.rows_sent < CANARY_ROWS
            or self.rows_sent_failed <= share * self.rows_sent
        ):
            return
        percent = f"{share * 100:g}%"
        self.summary.aborted = (
            f"{self.rows_sent_failed} of the first {self.rows_sent} rows sent failed, "
            f"more than the {percent} the maximum error rate allows. The 'Sync "
            "Message' of those rows says why: often a wrong mapping, or Kianda failing"
        )
        log.error("Stopping the run: %s", self.summary.aborted)

    def _plan(self, row: Row, converted: ConvertedRow) -> RowResult | _Job:
        """Decide what a row needs: nothing (with a status), a create or an update."""
        if not converted.ok:
            return _invalid(row, converted)
        mapping = self.mapping
        digest = fingerprint(
            converted.fields, mapping.process, mapping.trigger_field, mapping.status
        )
        instance_id = converted.instance_id
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
        return job

    def _not_attempted(self, job: _Job) -> RowResult:
        return RowResult(
            job.row,
            job.action,
            Status.NOT_ATTEMPTED,
            f"Not sent: the run was stopped because {self.summary.aborted}",
            job.instance_id or "",
        )

    def _send(self, job: _Job) -> str | None:
        """Runs in a worker thread: one create or update; returns the instance ID."""
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

    def _finish(self, job: _Job, future: Future[str | None]) -> RowResult:
        """Record a sent row's answer in the ledger and turn it into a result."""
        process, run_id = self.mapping.process, self.summary.run_id
        key = job.converted.key
        try:
            instance_id = future.result()
        except ApiError as exc:
            return self._failure(job, exc)
        if instance_id is None:  # skipped in the worker after an abort
            if job.action is Action.CREATE:
                self.ledger.forget_pending(process, key or "")
            return self._not_attempted(job)

        self.consecutive_outages = 0
        self.ledger.record_instance(process, key, instance_id, run_id)
        self.ledger.record_sent(instance_id, job.digest, run_id)
        status = Status.CREATED if job.action is Action.CREATE else Status.UPDATED
        return RowResult(job.row, job.action, status, "", instance_id)

    def _failure(self, job: _Job, exc: ApiError) -> RowResult:
        """A row whose request failed: unknown, failed, or the end of the run."""
        process, key = self.mapping.process, job.converted.key or ""
        creating = job.action is Action.CREATE
        maybe_sent = isinstance(exc, ApiUnavailable) and exc.maybe_sent

        if isinstance(exc, ApiRejected):
            self.consecutive_outages = 0  # Kianda answered: it is up
        if isinstance(exc, ApiUnavailable | ApiRateLimited):
            self.consecutive_outages += 1
            if (
                self.consecutive_outages >= BREAKER_THRESHOLD
                and not self.summary.aborted
            ):
                self.summary.aborted = (
                    f"Kianda failed {self.consecutive_outages} requests in a row, so "
                    f"it looks down or overloaded. The last failure: {exc}"
                )
                log.error("Stopping the run: %s", self.summary.aborted)
        if isinstance(exc, ApiAuthError):
            if creating:
                self.ledger.forget_pending(process, key)
            if not self.summary.aborted:
                self.summary.aborted = str(exc)
                log.error("Stopping the run: %s", exc)
            return self._not_attempted(job)
        if creating and maybe_sent:
            return RowResult(
                job.row, Action.CREATE, Status.UNKNOWN, f"{exc} {UNKNOWN_MESSAGE}"
            )
        if creating:
            self.ledger.forget_pending(process, key)
        return RowResult(
            job.row, job.action, Status.FAILED, str(exc), job.instance_id or ""
        )
