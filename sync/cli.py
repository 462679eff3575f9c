"""The ``kianda-sync`` command line: options in, exit codes and a short summary out.

Only this layer prints, configures logging and turns outcomes into exit codes.
"""

from __future__ import annotations

import json
import logging
import secrets
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from sync import __version__
from sync.errors import ExitCode, SyncError
from sync.outcome import RowState, RunSummary, Status

log = logging.getLogger(__name__)

_EXISTING_FILE = click.Path(exists=False, dir_okay=False, path_type=Path)
_ARGV = "kianda_sync.argv"


class _Group(click.Group):
    """A command group that turns a SyncError into one sentence and its exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Keep the arguments as typed, for the command line in results and reports."""
        ctx.meta[_ARGV] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SyncError as exc:
            log.debug("stopped", exc_info=True)
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            log.debug("unexpected failure", exc_info=True)
            click.echo(
                f"Error: kianda-sync stopped on an unexpected problem "
                f"({type(exc).__name__}: {exc}). Run again with -v for the details, "
                "and report them if the problem stays.",
                err=True,
            )
            ctx.exit(ExitCode.ABORTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kianda-sync")
@click.option("-v", "--verbose", count=True, help="Show detail (DEBUG) in the log.")
@click.option("-q", "--quiet", is_flag=True, help="Log only warnings and errors.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line, for cron and log shippers.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the log to this file instead of standard error.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    verbose: int,
    quiet: bool,
    log_format: str,
    log_file: Path | None,
) -> None:
    """Keep Kianda process instances in step with a spreadsheet.

    \b
    Example:
      kianda-sync run mappings/training-request.yaml export.xlsx --emulator
    """
    from sync.logs import configure

    ctx.obj = {"verbose": verbose, "log_file": log_file}
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    configure(level, log_format, log_file)


def _notice(message: str) -> None:
    click.echo(message, err=True)


def _confirm(question: str) -> bool:
    """Ask the person at the terminal; Enter, Ctrl+D or Ctrl+C mean no."""
    try:
        return click.confirm(question, default=False, err=True)
    except click.Abort:
        click.echo(err=True)
        return False


@contextmanager
def _progress() -> Iterator[Any]:
    """A live bar when standard error is a terminal, else a log line per tenth."""
    from sync.progress import TenPercentLog, TerminalBar

    reporter = TerminalBar() if sys.stderr.isatty() else TenPercentLog()
    try:
        yield reporter
    finally:
        reporter.close()


def _command_line() -> str:
    """The command as the user typed it (run, validate and reconcile take no secret)."""
    args = click.get_current_context().meta.get(_ARGV, [])
    return shlex.join(["kianda-sync", *args])


class _Terminated(KeyboardInterrupt):
    """SIGTERM outside the sending loop, taken like Ctrl+C."""


@contextmanager
def _stoppable() -> Iterator[None]:
    """Ctrl+C or SIGTERM while a run reads its input or writes its results.

    While rows are being sent the engine catches these signals itself and stops
    cleanly; before and after, the run ends here with a sentence and exit 3 instead
    of Click's bare "Aborted!" (or a silent exit 143 for SIGTERM).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread
        return

    def terminate(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except KeyboardInterrupt:
        click.echo(
            "Stopped by Ctrl+C or SIGTERM outside the sending of rows, so no results "
            "file was written. Any row already sent is recorded in the ledger, so the "
            "same command run again creates nothing twice.",
            err=True,
        )
        sys.exit(ExitCode.ABORTED)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_summary(summary: RunSummary, verb: str) -> None:
    s = summary.statuses
    # Counts a reader looks for even when they are zero (a check sends nothing).
    always = (
        ("ready", "invalid")
        if verb == "Checked"
        else ("created", "updated", "unchanged", "invalid", "failed")
    )
    parts = [
        f"{n} {name}"
        for name, n in (
            ("created", s[Status.CREATED]),
            ("updated", s[Status.UPDATED]),
            ("unchanged", s[Status.UNCHANGED]),
            ("skipped", s[Status.SKIPPED]),
            ("ready", s[Status.READY]),
            ("invalid", s[Status.INVALID]),
            ("failed", s[Status.FAILED]),
            ("unknown", s[Status.UNKNOWN]),
            ("not attempted", s[Status.NOT_ATTEMPTED]),
        )
        if n or name in always
    ]
    click.echo(
        f"{verb} {summary.rows} rows of {summary.input_path}: " + ", ".join(parts)
    )
    if summary.aborted:
        _print_stop(summary)
    if summary.results_path is not None:
        click.echo(f"Results: {summary.results_path}")
    needs = sum(
        s[x]
        for x in (Status.INVALID, Status.FAILED, Status.UNKNOWN, Status.NOT_ATTEMPTED)
    )
    if needs:
        csv = summary.results_path is not None and summary.results_path.suffix == ".csv"
        where = (
            "'Sync Status' and 'Sync Message' in the results"
            if csv
            else "the 'Needs attention' sheet of the results"
        )
        then = "fix the sheet and run again"
        if summary.aborted:
            then = (
                "then run the same command again"
                if _stopped_by_user(summary)
                else "then run again once what stopped the run is dealt with"
            )
        click.echo(
            f"{needs} {'row needs' if needs == 1 else 'rows need'} attention: see "
            f"{where}, {then}."
        )


def _print_stop(summary: RunSummary) -> None:
    """Why the run stopped, and that the rows it did not send are safe to send.

    The reason is in the log; it is repeated here only when the log went to a file.
    """
    assert summary.aborted is not None
    root = click.get_current_context().find_root().obj or {}
    log_file = root.get("log_file")
    if log_file:
        click.echo(
            f"The run was stopped part-way because {summary.aborted.rstrip('.')}. "
            f"The log is in {log_file}."
        )
    else:
        click.echo("The run was stopped part-way (see the error above).")
    click.echo(
        "Rows it did not send are marked 'not attempted'; "
        + (
            "the same command sends them."
            if _stopped_by_user(summary)
            else "run again once that is fixed."
        )
    )


def _stopped_by_user(summary: RunSummary) -> bool:
    """Whether the run was stopped by Ctrl+C or SIGTERM, not by what Kianda did."""
    from sync.engine import STOP_SIGNALS

    return summary.aborted in STOP_SIGNALS.values()


def _summary_json(summary: RunSummary, path: Path) -> None:
    data: dict[str, Any] = {
        "run_id": summary.run_id,
        "command": summary.command,
        "input": str(summary.input_path),
        "mapping": str(summary.mapping_path),
        "results": str(summary.results_path) if summary.results_path else None,
        "kianda": summary.domain,
        "started": summary.started.isoformat(),
        "ended": summary.ended.isoformat() if summary.ended else None,
        "duration_seconds": round(summary.duration, 3),
        "rows": summary.rows,
        "rows_per_second": round(summary.rows_per_second, 1),
        "input_sha256": summary.input_sha256,
        "command_line": summary.command_line,
        "statuses": {k.value: v for k, v in summary.statuses.items()},
        "actions": {k.value: v for k, v in summary.actions.items()},
        "requests": summary.requests,
        "retries": summary.retries,
        "aborted": summary.aborted,
        "exit_code": summary.exit_code,
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@cli.command()
@click.argument("mapping", type=_EXISTING_FILE)
@click.argument("input_file", metavar="INPUT", type=_EXISTING_FILE)
@click.option(
    "-o", "--output", type=_EXISTING_FILE, help="Results file (.xlsx or .csv)."
)
@click.option("--emulator", is_flag=True, help="Sync against the built-in emulator.")
@click.option("--dry-run", is_flag=True, help="Plan every row but send nothing.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    help="Requests in flight at most (KIANDA_CONCURRENCY, default 8); fewer while "
    "Kianda answers that it is busy.",
)
@click.option(
    "--max-rps",
    type=click.FloatRange(min=0.01),
    help="Requests per second at most, 0.01 or more (KIANDA_MAX_RPS; default: no cap).",
)
@click.option(
    "--max-error-rate",
    metavar="SHARE",
    help="Stop sending (exit 3) once more than this share of the rows sent have "
    "failed, counted from the 20th row sent on: 0.05 or 5% (KIANDA_MAX_ERROR_RATE; "
    "default: never stop).",
)
@click.option("--ledger", type=_EXISTING_FILE, help="The SQLite ledger file.")
@click.option("--retry-unknown", is_flag=True, help="Create rows left 'unknown' again.")
@click.option("--force", is_flag=True, help="Send rows even when unchanged.")
@click.option(
    "--allow-insecure-http",
    is_flag=True,
    default=None,
    help="Allow a plain http:// KIANDA_DOMAIN that is not on this machine.",
)
@click.option(
    "--only-failed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Re-run only the rows that did not succeed in this earlier results file.",
)
@click.option(
    "--summary-json", type=_EXISTING_FILE, help="Also write the summary as JSON."
)
def run(
    mapping: Path,
    input_file: Path,
    output: Path | None,
    emulator: bool,
    dry_run: bool,
    concurrency: int | None,
    max_rps: float | None,
    max_error_rate: str | None,
    ledger: Path | None,
    retry_unknown: bool,
    force: bool,
    allow_insecure_http: bool | None,
    only_failed: Path | None,
    summary_json: Path | None,
) -> None:
    """Create or update one Kianda instance per row of INPUT, as MAPPING says.

    \b
    Example:
      kianda-sync run mappings/training-request.yaml export.xlsx --emulator
    """
    from sync.api import run_sync

    with _progress() as progress, _stoppable():
        summary = run_sync(
            mapping,
            input_file,
            output=output,
            emulator=emulator,
            dry_run=dry_run,
            retry_unknown=retry_unknown,
            confirm=_confirm if sys.stdin.isatty() and sys.stderr.isatty() else None,
            force=force,
            only_failed=only_failed,
            notice=_notice,
            command_line=_command_line(),
            progress=progress,
            concurrency=concurrency,
            max_rps=max_rps,
            max_error_rate=max_error_rate,
            ledger=ledger,
            allow_insecure_http=allow_insecure_http,
        )
    _print_summary(summary, "Planned" if dry_run else "Synced")
    if summary_json is not None:
        _summary_json(summary, summary_json)
    sys.exit(summary.exit_code)


@cli.command()
@click.argument("mapping", type=_EXISTING_FILE)
@click.argument("input_file", metavar="INPUT", type=_EXISTING_FILE)
@click.option(
    "-o", "--output", type=_EXISTING_FILE, help="Results file (.xlsx or .csv)."
)
def validate(mapping: Path, input_file: Path, output: Path | None) -> None:
    """Check MAPPING and every row of INPUT without contacting Kianda.

    \b
    Example:
      kianda-sync validate mappings/training-request.yaml samples/training-requests.xlsx
    """
    from sync.api import validate as check

    with _progress() as progress:
        summary = check(
            mapping,
            input_file,
            output=output,
            progress=progress,
            command_line=_command_line(),
            notice=click.echo,
        )
    _print_summary(summary, "Checked")
    sys.exit(summary.exit_code)


@cli.command("reconcile")
@click.argument("mapping", type=_EXISTING_FILE)
@click.argument("input_file", metavar="INPUT", type=_EXISTING_FILE)
@click.option("-o", "--output", type=_EXISTING_FILE, help="Report file (.xlsx).")
@click.option("--emulator", is_flag=True, help="Check against the built-in emulator.")
@click.option("--concurrency", type=click.IntRange(1, 256), help="Requests in flight.")
@click.option("--ledger", type=_EXISTING_FILE, help="The SQLite ledger file.")
def reconcile_command(
    mapping: Path,
    input_file: Path,
    output: Path | None,
    emulator: bool,
    concurrency: int | None,
    ledger: Path | None,
) -> None:
    """Check that Kianda still holds what each row of INPUT says; write a report.

    Reads back the instance of every row synced before (nothing is written to
    Kianda) and exits 1 when any field differs or an instance is missing.

    \b
    Example:
      kianda-sync reconcile mappings/training-request.yaml export.xlsx --emulator
    """
    from sync.reconciliation import reconcile
    from sync.report import verdict
    from sync.settings import load_settings

    if output is not None and output.suffix.lower() != ".xlsx":
        raise click.BadParameter("the report is an .xlsx file", param_hint="-o")
    settings = load_settings(concurrency=concurrency, ledger=ledger)
    summary = reconcile(
        mapping,
        input_file,
        settings=settings,
        report_path=output,
        emulator=emulator,
        command_line=_command_line(),
        notice=_notice,
    )
    states = summary.states
    parts = [
        f"{states[state]} "
        + ("differ" if state is RowState.DIFFERS and states[state] != 1 else state)
        for state in RowState
        if states[state] or state not in (RowState.UNKNOWN, RowState.NOT_CHECKED)
    ]
    click.echo(
        f"Reconciled {summary.rows} rows of {summary.input_path} with Kianda: "
        + ", ".join(parts)
    )
    click.echo(f"Report: {summary.report_path}")
    click.echo(verdict(summary))
    sys.exit(summary.exit_code)


@cli.command()
def config() -> None:
    """Show the settings a run would use, and where each one comes from.

    Secrets are shown as ********. Order of precedence: command-line option,
    environment, .env file in this folder, default.

    \b
    Example:
      kianda-sync config
    """
    from sync.settings import describe_settings

    for name, value, source in describe_settings():
        click.echo(f"{name:<26} {value:<40} ({source})")


@cli.command()
@click.argument("run_id", required=False)
@click.option("--ledger", type=_EXISTING_FILE, help="The ledger file to read.")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use the ledger beside this mapping file (the default place).",
)
@click.option(
    "-o", "--output", type=_EXISTING_FILE, help="Write RUN_ID's results here."
)
@click.option("--limit", default=30, show_default=True, help="Runs to list.")
def history(
    run_id: str | None,
    ledger: Path | None,
    mapping: Path | None,
    output: Path | None,
    limit: int,
) -> None:
    """List past runs, or write the results workbook of RUN_ID again.

    \b
    Examples:
      kianda-sync history --mapping mappings/training-request.yaml
      kianda-sync history 20261203T101500Z-ab12cd -o again.xlsx --mapping m.yaml
    """
    from sync.history import list_runs, rewrite_results
    from sync.ledger import default_ledger_path
    from sync.settings import load_settings

    path = ledger or load_settings().ledger
    if path is None:
        if mapping is None:
            raise click.UsageError("Say which ledger to read: --ledger or --mapping.")
        path = default_ledger_path(mapping)
    if run_id is None:
        runs = list_runs(path, limit)
        if not runs:
            click.echo(f"No runs recorded in {path}.")
        for record in runs:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(record.counts.items()))
            click.echo(
                f"{record.run_id}  {record.started_at}  {record.command or 'run'}  "
                f"{record.process}  {Path(record.input).name}  "
                f"{record.outcome or 'unfinished'}  {counts}"
            )
        return
    if output is None:
        known = {record.run_id for record in list_runs(path, limit=10_000)}
        if not any(r == run_id or r.startswith(run_id) for r in known):
            raise click.UsageError(
                f"The ledger {path} has no run '{run_id}'. Run 'kianda-sync history' "
                "without a run ID to list the runs it knows."
            )
        raise click.UsageError("Give -o FILE to write the run's results workbook.")
    record = rewrite_results(path, run_id, output)
    click.echo(f"Wrote the results of run {record.run_id} to {output}")


@cli.command()
@click.argument("mapping", type=_EXISTING_FILE)
@click.argument("input_file", metavar="INPUT", type=_EXISTING_FILE)
@click.option(
    "--row",
    "row_number",
    type=click.IntRange(1),
    required=True,
    help="The row number shown in Excel (for CSV, the record number).",
)
@click.option("--emulator", is_flag=True, help="Look up the emulator's ledger entries.")
def explain(mapping: Path, input_file: Path, row_number: int, emulator: bool) -> None:
    """Show what a run would do with one row of INPUT, and why; sends nothing.

    \b
    Example:
      kianda-sync explain mappings/training-request.yaml export.xlsx --row 5
    """
    from sync.explain import explain_row, render
    from sync.settings import load_settings

    result = explain_row(
        mapping, input_file, row_number, settings=load_settings(), emulator=emulator
    )
    click.echo(render(result))


@cli.command()
@click.argument("input_file", metavar="INPUT", type=_EXISTING_FILE)
@click.option("--process", help="The Kianda process name to put in the mapping.")
@click.option("--sheet", help="The worksheet to read (default: the first visible).")
def init(input_file: Path, process: str | None, sheet: str | None) -> None:
    """Print a starter mapping for INPUT: every header, a field name and a type.

    \b
    Example:
      kianda-sync init export.xlsx --process training-request > mapping.yaml
    """
    from sync.starter import starter_mapping

    click.echo(starter_mapping(input_file, process=process, sheet=sheet), nl=False)


_SHARE = click.FloatRange(0, 1)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, help="Port to listen on.")
@click.option("--token", help="Bearer token to accept (default: a new random one).")
@click.option(
    "--mapping",
    "mappings",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Mapping file whose process and fields the emulator knows (repeatable).",
)
@click.option(
    "--state", type=_EXISTING_FILE, help="JSON file that keeps instances between runs."
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME:PASSWORD",
    help="A login for POST /token (repeatable); the subscription ID is 'emulator'.",
)
@click.option(
    "--token-ttl",
    type=click.FloatRange(min=1),
    default=299,
    show_default=True,
    help="Seconds a login token lives.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0,
    help="Milliseconds added to every answer.",
)
@click.option(
    "--jitter-ms",
    type=click.FloatRange(min=0),
    default=0,
    help="Up to this many milliseconds more, at random.",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(min=0),
    default=0,
    help="API requests handled at once; one more is answered 429 (0: no cap).",
)
@click.option(
    "--rate-429", type=_SHARE, default=0, help="Share answered 429 with Retry-After."
)
@click.option(
    "--rate-429-bare",
    type=_SHARE,
    default=0,
    help="Share answered 429, no Retry-After.",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(min=0),
    default=1,
    show_default=True,
    help="Retry-After seconds of --rate-429 answers.",
)
@click.option(
    "--retry-after-date",
    is_flag=True,
    help="Send that Retry-After as an HTTP date instead of seconds.",
)
@click.option(
    "--rate-503", type=_SHARE, default=0, help="Share answered 503, not acted on."
)
@click.option(
    "--rate-500",
    type=_SHARE,
    default=0,
    help="Share answered 500 after storing the change.",
)
@click.option(
    "--rate-502",
    type=_SHARE,
    default=0,
    help="Share answered 502 (a gateway) after storing the change.",
)
@click.option(
    "--rate-504",
    type=_SHARE,
    default=0,
    help="Share answered 504 (a gateway) after storing the change.",
)
@click.option(
    "--rate-reset",
    type=_SHARE,
    default=0,
    help="Share whose connection is reset, not acted on.",
)
@click.option(
    "--lose-create-answer",
    type=_SHARE,
    default=0,
    help="Share of creates stored, then left unanswered.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the random faults."
)
def emulator(
    host: str,
    port: int,
    token: str | None,
    mappings: tuple[Path, ...],
    state: Path | None,
    users: tuple[str, ...],
    token_ttl: float,
    latency_ms: float,
    jitter_ms: float,
    max_in_flight: int,
    rate_429: float,
    rate_429_bare: float,
    retry_after: float,
    retry_after_date: bool,
    rate_503: float,
    rate_500: float,
    rate_502: float,
    rate_504: float,
    rate_reset: float,
    lose_create_answer: float,
    seed: int,
) -> None:
    """Serve a Kianda look-alike API on this machine, for trying mappings safely.

    Without --mapping it accepts any process and field name. The fault options
    (all off by default, shares between 0 and 1 of API requests) make it misbehave
    the way a busy or failing server does, to see how a run copes.

    \b
    Example:
      kianda-sync emulator --mapping mappings/training-request.yaml --port 8765
      kianda-sync emulator --latency-ms 100 --rate-429 0.05 --rate-reset 0.01
    """
    from sync.emulator import Emulator, EmulatorStore, Faults, User, load_processes

    logins: dict[str, User] = {}
    for entry in users:
        name, sep, password = entry.partition(":")
        if not sep or not name or not password:
            raise click.BadParameter("use NAME:PASSWORD", param_hint="--user")
        logins[name] = User(password)
    try:
        faults = Faults(
            seed=seed,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            max_in_flight=max_in_flight,
            rate_429=rate_429,
            rate_429_bare=rate_429_bare,
            retry_after=retry_after,
            retry_after_date=retry_after_date,
            rate_503=rate_503,
            rate_500=rate_500,
            rate_502=rate_502,
            rate_504=rate_504,
            rate_reset=rate_reset,
            lose_create_answer=lose_create_answer,
        )
    except ValueError:
        raise click.UsageError(
            "The --rate-... shares add up to more than 1; lower some of them."
        ) from None

    token = token or secrets.token_urlsafe(24)
    store = EmulatorStore(state, auto_processes=not mappings)
    for path in mappings:
        load_processes(store, path)
    server = Emulator(
        store,
        host=host,
        port=port,
        token=token,
        users=logins,
        token_ttl=token_ttl,
        faults=faults,
    )

    def announce() -> None:
        click.echo(f"Kianda emulator on {server.url}  (Ctrl+C stops it)")
        click.echo(f"  export KIANDA_DOMAIN={server.url}")
        click.echo(f"  export KIANDA_TOKEN={token}")

    server.serve_forever(ready=announce)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="kianda-sync")
