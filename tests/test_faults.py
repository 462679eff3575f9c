"""A 1,000-row run against a misbehaving emulator: every row ends once, counts match.

Each test turns on emulator faults, syncs a generated CSV through the command line,
and compares what the emulator injected (its counters) with what the run reported
(its summary and results file): retries, ``unknown`` rows, and the instances stored.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

import sync.client
from sync.emulator import Emulator, EmulatorStore, Faults, User
from sync.emulator.faults import ACTED_FIRST, Fault
from tests.conftest import invoke

ROWS = 1000
CONCURRENCY = 16
MAPPING = """\
process: staff
key: [Ref]
fields:
  ref: {column: Ref, required: true}
  name: Name
  city: City
"""
CITIES = ("Cork", "Galway", "Limerick", "Sligo", "Tralee")
BUSY = (Fault.RATE_LIMITED, Fault.RATE_LIMITED_BARE, Fault.UNAVAILABLE)
GATEWAY = (Fault.BAD_GATEWAY, Fault.GATEWAY_TIMEOUT)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shortens the client's first backoff so that retries cost milliseconds."""
    monkeypatch.setattr(sync.client, "FIRST_BACKOFF_SECONDS", 0.01)


@dataclass
class Sheet:
    """A generated input file, its mapping, and where a run writes."""

    folder: Path
    mapping: Path
    input: Path

    def write(self, city_shift: int = 0, rows: int = ROWS) -> None:
        """Write the rows; a different ``city_shift`` changes every row's City."""
        with self.input.open("w", encoding="utf-8", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["Ref", "Name", "City"])
            for i in range(1, rows + 1):
                city = CITIES[(i + city_shift) % len(CITIES)]
                out.writerow([f"S{i:05d}", f"Person {i}", city])

    def run(self, emulator: Emulator, *options: str, **env: str) -> Run:
        """Sync the sheet into the emulator through the CLI; return what came out."""
        results = self.folder / "results.csv"
        summary = self.folder / "summary.json"
        environment = {
            "KIANDA_DOMAIN": emulator.url,
            "KIANDA_LEDGER": str(self.folder / "ledger.sqlite3"),
            "KIANDA_CONCURRENCY": str(CONCURRENCY),
            **env,
        }
        args = ["run", str(self.mapping), str(self.input), "-o", str(results), *options]
        outcome = invoke([*args, "--summary-json", str(summary)], environment)
        with results.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return Run(
            outcome.exit_code,
            outcome.output,
            json.loads(summary.read_text(encoding="utf-8")),
            rows,
        )


@dataclass
class Run:
    """What one run produced: exit code, log, summary JSON and results rows."""

    exit_code: int
    output: str
    summary: dict[str, Any]
    rows: list[dict[str, str]]

    @property
    def statuses(self) -> Counter[str]:
        """Rows per Sync Status, from the results file."""
        return Counter(row["Sync Status"] for row in self.rows)


@pytest.fixture
def sheet(tmp_path: Path) -> Sheet:
    """A 1,000-row CSV of staff with a three-field mapping."""
    mapping = tmp_path / "staff.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    made = Sheet(tmp_path, mapping, tmp_path / "staff.csv")
    made.write()
    return made


@pytest.fixture
def token() -> str:
    """The emulator's static bearer token."""
    return secrets.token_urlsafe(16)


def _emulator(sheet: Sheet, faults: Faults, **kw: Any) -> Emulator:
    return Emulator.from_mapping_files([sheet.mapping], faults=faults, **kw)


def _stored_refs(emulator: Emulator) -> Counter[str]:
    """How many instances the emulator holds per Ref."""
    return Counter(
        record["fields"]["ref"]["value"]
        for record in emulator.store.instances("staff").values()
    )


def _check_creates(run: Run, emulator: Emulator) -> None:
    """Every row ended created or unknown, and the counts agree with the faults."""
    faults = emulator.faults
    acted_unanswered = faults.count(Fault.LOST_ANSWER) + sum(
        faults.count(fault, "POST") for fault in ACTED_FIRST
    )
    unanswered = acted_unanswered + faults.count(Fault.RESET, "POST")
    refs = _stored_refs(emulator)
    created = [row for row in run.rows if row["Sync Status"] == "created"]

    assert len(run.rows) == ROWS
    assert run.statuses == Counter(
        {"created": ROWS - unanswered, "unknown": unanswered}
    )
    assert run.summary["statuses"] == dict(+run.statuses)
    assert all(refs[row["Ref"]] == 1 for row in created)
    assert len({row["Instance ID"] for row in created}) == len(created)
    assert all(
        emulator.store.get(row["Instance ID"])["fields"]["ref"]["value"] == row["Ref"]
        for row in created
    )
    assert sum(refs.values()) == len(created) + acted_unanswered
    assert run.summary["retries"] == sum(faults.count(f) for f in BUSY) + faults.count(
        Fault.OVER_CAPACITY
    )
    assert run.summary["requests"] == emulator.store.count(path_prefix="/api/")
    assert run.exit_code == (1 if unanswered else 0)


LOGIN = {
    "KIANDA_USERNAME": "admin",
    "KIANDA_PASSWORD": "pw",
    "KIANDA_SUBSCRIPTION_ID": "emulator",
}
FAULTS_ALONE = [
    pytest.param({"latency_ms": 2, "jitter_ms": 3}, id="latency"),
    pytest.param({"rate_429": 0.05, "retry_after": 0.02}, id="429-retry-after"),
    pytest.param({"rate_429_bare": 0.05}, id="429-bare"),
    pytest.param({"rate_503": 0.05}, id="503"),
    pytest.param({"rate_500": 0.03}, id="500"),
    pytest.param({"rate_502": 0.03}, id="502"),
    pytest.param({"rate_504": 0.03}, id="504"),
    pytest.param(
        {"rate_429": 0.05, "retry_after": 1, "retry_after_date": True},
        id="429-retry-after-date",
    ),
    pytest.param({"rate_reset": 0.03}, id="reset"),
    pytest.param({"lose_create_answer": 0.03}, id="lost-answer"),
]


@pytest.mark.parametrize("settings", FAULTS_ALONE)
def test_faults_each_alone_every_row_ends_once(
    sheet: Sheet, token: str, settings: dict[str, float]
) -> None:
    """Under one fault, each row ends created or unknown and the counts match it."""
    faults = Faults(**settings)
    with _emulator(sheet, faults, token=token) as emulator:
        run = sheet.run(emulator, KIANDA_TOKEN=token)

    _check_creates(run, emulator)
    assert sum(faults.injected.values()) > 0 or "latency_ms" in settings


def test_faults_in_flight_cap_lowers_concurrency(sheet: Sheet, token: str) -> None:
    """A cap on requests in flight halves the client's limit, and the log says so."""
    faults = Faults(max_in_flight=4, latency_ms=5)
    with _emulator(sheet, faults, token=token) as emulator:
        run = sheet.run(emulator, KIANDA_TOKEN=token)

    _check_creates(run, emulator)
    assert faults.count(Fault.OVER_CAPACITY) > 0
    assert "Kianda says it is busy: sending at most 8 requests at once (was 16)" in (
        run.output
    )
    busy = faults.count(Fault.OVER_CAPACITY)
    assert (
        f"INFO Kianda answered busy {busy} times; requests in flight went down to "
    ) in run.output


def test_faults_expiring_tokens_are_renewed(sheet: Sheet) -> None:
    """Tokens that die early are renewed: each 401 is sent once more, no row fails."""
    faults = Faults(latency_ms=1)
    users = {"admin": User("pw")}
    with _emulator(
        sheet, faults, users=users, token_ttl=1.0, announced_ttl=299
    ) as emulator:
        run = sheet.run(emulator, **LOGIN)

    expired = faults.count(Fault.EXPIRED_TOKEN)
    assert run.statuses == Counter({"created": ROWS})
    assert expired > 0
    assert run.summary["requests"] == ROWS + expired
    assert run.summary["retries"] == 0
    assert emulator.store.count("POST", "/token") >= 2
    assert sum(_stored_refs(emulator).values()) == ROWS


def test_faults_all_together_creates_then_updates(sheet: Sheet) -> None:
    """With every fault on, creates and then updates end once each, counts matching."""
    faults = Faults(
        seed=7,
        latency_ms=2,
        jitter_ms=3,
        max_in_flight=6,
        rate_429=0.02,
        retry_after=0.02,
        rate_429_bare=0.02,
        rate_503=0.02,
        rate_500=0.02,
        rate_502=0.01,
        rate_504=0.01,
        rate_reset=0.02,
        lose_create_answer=0.02,
    )
    users = {"admin": User("pw")}
    with _emulator(
        sheet, faults, users=users, token_ttl=1.0, announced_ttl=299
    ) as emulator:
        first = sheet.run(emulator, **LOGIN)
        _check_creates(first, emulator)
        before = Counter(faults.injected)
        unknown = first.statuses["unknown"]

        sheet.write(city_shift=1)
        second = sheet.run(emulator, **LOGIN)

    during = Counter(faults.injected)
    during.subtract(before)
    assert {fault for fault, _ in +before} == set(Fault)
    assert {fault for fault, _ in +during} == set(Fault) - {Fault.LOST_ANSWER}
    failed = during[Fault.SERVER_ERROR, "PATCH"]
    retried = sum(n for (f, _), n in during.items() if f in BUSY)
    retried += sum(n for (f, _), n in during.items() if f is Fault.OVER_CAPACITY)
    retried += sum(during[fault, "PATCH"] for fault in (Fault.RESET, *GATEWAY))
    assert second.statuses == Counter(
        {"updated": ROWS - unknown - failed, "failed": failed, "unknown": unknown}
    )
    assert second.summary["retries"] == retried
    assert all(
        row["Sync Message"].startswith("Kianda failed with HTTP 500")
        for row in second.rows
        if row["Sync Status"] == "failed"
    )
    stored = emulator.store.instances("staff")
    by_id = {row["Instance ID"]: row for row in second.rows if row["Instance ID"]}
    assert all(
        record["fields"]["city"]["value"] == by_id[instance]["City"]
        for instance, record in stored.items()
        if instance in by_id
    )
    assert sum(_stored_refs(emulator).values()) == len(stored)


def _first_refs(count: int) -> Any:
    """A rule that loses the answer to the creates of the first ``count`` rows."""
    refs = {f"S{i:05d}" for i in range(1, count + 1)}
    return lambda fields: fields["ref"][1] in refs


def _outcome(sheet: Sheet) -> str:
    """How the ledger says the last run ended."""
    with sqlite3.connect(sheet.folder / "ledger.sqlite3") as db:
        row = db.execute("SELECT outcome FROM runs ORDER BY started_at DESC").fetchone()
    return str(row[0])


def test_max_error_rate_stops_after_the_canary(sheet: Sheet, token: str) -> None:
    """Five failures in the first twenty rows exceed 10%: the run stops at row 20."""
    sheet.write(rows=100)
    faults = Faults(lose_create_answer_if=_first_refs(5))
    with _emulator(sheet, faults, token=token) as emulator:
        run = sheet.run(
            emulator,
            "--max-error-rate",
            "10%",
            KIANDA_TOKEN=token,
            KIANDA_CONCURRENCY="1",
        )

    assert run.exit_code == 3
    assert run.statuses == Counter({"created": 15, "unknown": 5, "not attempted": 80})
    assert emulator.store.count(path_prefix="/api/") == 20
    assert (
        "Stopping the run: 5 of the first 20 rows sent failed or are unknown, more "
        "than the 10% the maximum error rate allows." in run.output
    )
    assert run.rows[20]["Sync Message"].startswith(
        "Not sent: the run was stopped because 5 of the first 20 rows sent failed or"
    )
    assert _outcome(sheet) == "aborted"


def test_max_error_rate_not_exceeded_lets_the_run_finish(
    sheet: Sheet, token: str
) -> None:
    """Five failures in the first twenty rows stay within 30%: every row is sent."""
    sheet.write(rows=100)
    faults = Faults(lose_create_answer_if=_first_refs(5))
    with _emulator(sheet, faults, token=token) as emulator:
        run = sheet.run(
            emulator,
            KIANDA_TOKEN=token,
            KIANDA_CONCURRENCY="1",
            KIANDA_MAX_ERROR_RATE="0.3",
        )

    assert run.exit_code == 1
    assert run.statuses == Counter({"created": 95, "unknown": 5})
    assert _outcome(sheet) == "finished"


@pytest.mark.parametrize(
    ("fault", "status", "said"),
    [
        ("rate_503", "failed", "Kianda kept answering HTTP 503 (busy)"),
        ("rate_reset", "unknown", "The connection to Kianda at {url} broke"),
        ("rate_500", "unknown", "Kianda failed with HTTP 500"),
    ],
    ids=["503", "reset", "500"],
)
def test_breaker_stops_a_run_kianda_keeps_failing(
    sheet: Sheet, token: str, fault: str, status: str, said: str
) -> None:
    """Ten failures in a row stop the run with one message; results are written."""
    sheet.write(rows=100)
    faults = Faults(**{fault: 1.0})
    with _emulator(sheet, faults, token=token) as emulator:
        url = emulator.url
        run = sheet.run(
            emulator, KIANDA_TOKEN=token, KIANDA_CONCURRENCY="1", KIANDA_MAX_RETRIES="0"
        )

    assert run.exit_code == 3
    assert run.statuses == Counter({status: 10, "not attempted": 90})
    assert run.output.count("Stopping the run") == 1
    assert (
        "100 rows need attention: see 'Sync Status' and 'Sync Message' in the results, "
        "then run again once what stopped the run is dealt with."
    ) in run.output
    assert (
        "Stopping the run: the last 10 rows sent to Kianda all failed or are "
        "unknown, so it looks down or overloaded. Run again once it is back. The "
        f"last failure: {said.format(url=url)}" in run.output
    )
    assert _outcome(sheet) == "aborted"
    for row in run.rows:
        if row["Sync Status"] == "unknown":
            # What happened, then what to do about an unknown row: not the advice
            # to simply run again, which would never resend this create.
            assert row["Sync Message"].startswith(said.format(url=url))
            assert "Run again later" not in row["Sync Message"]
            assert row["Sync Message"].endswith(
                "then run again with --retry-unknown, which creates only the rows "
                "still without an ID."
            )


class SlowFirstCreate(EmulatorStore):
    """An emulator store that holds the first create for two seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.add_process("staff", ["ref", "name", "city"])
        self.creates = 0
        self._lock = threading.Lock()

    def record(self, method: str, path: str) -> None:
        super().record(method, path)
        if path == "/api/instances/create":
            with self._lock:
                self.creates += 1
                first = self.creates == 1
            if first:
                time.sleep(2)


def test_breaker_counts_failures_as_they_come_not_behind_a_slow_row(
    sheet: Sheet, token: str
) -> None:
    """Row 1 is slow and every other row fails at once: the run stops after about
    ten failures, not after every row that fits behind row 1 has been sent."""
    store = SlowFirstCreate()
    with Emulator(store, token=token, faults=Faults(rate_503=1.0)) as emulator:
        run = sheet.run(
            emulator, KIANDA_TOKEN=token, KIANDA_CONCURRENCY="8", KIANDA_MAX_RETRIES="0"
        )

    sent = emulator.store.count("POST", "/api/instances/create")
    assert run.exit_code == 3
    assert "the last 10 rows sent to Kianda all failed or are unknown" in run.output
    assert 10 <= sent <= 10 + 8
    assert run.statuses == Counter({"failed": sent, "not attempted": ROWS - sent})


class InterruptAtFirstCreate(EmulatorStore):
    """An emulator store that presses Ctrl+C on this process at the first create."""

    def __init__(self) -> None:
        super().__init__()
        self.add_process("staff", ["ref", "name", "city"])
        self.pressed = threading.Event()

    def record(self, method: str, path: str) -> None:
        super().record(method, path)
        if path == "/api/instances/create" and not self.pressed.is_set():
            self.pressed.set()
            os.kill(os.getpid(), signal.SIGINT)


def test_rows_waiting_for_a_retry_when_the_run_stops_are_not_attempted(
    sheet: Sheet, token: str
) -> None:
    """Every create is answered 429 with a 20 s Retry-After, and Ctrl+C comes at the
    first: the rows waiting to be resent end at once as 'not attempted' (Kianda
    refused them before acting), not as failures, and no retry is counted. With the
    log in a file, the closing lines say why the run stopped and what to fix."""
    sheet.write(rows=100)
    log_file = sheet.folder / "sync.log"
    results = sheet.folder / "results.csv"
    store = InterruptAtFirstCreate()
    faults = Faults(rate_429=1.0, retry_after=20)

    with Emulator(store, token=token, faults=faults) as emulator:
        outcome = invoke(
            [
                "--log-file",
                str(log_file),
                "run",
                str(sheet.mapping),
                str(sheet.input),
                "-o",
                str(results),
            ],
            {
                "KIANDA_DOMAIN": emulator.url,
                "KIANDA_TOKEN": token,
                "KIANDA_LEDGER": str(sheet.folder / "ledger.sqlite3"),
                "KIANDA_CONCURRENCY": "8",
                "KIANDA_MAX_RETRIES": "5",
            },
        )
        sent = emulator.store.count("POST", "/api/instances/create")

    with results.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert outcome.exit_code == 3
    assert Counter(row["Sync Status"] for row in rows) == {"not attempted": 100}
    assert {row["Sync Message"] for row in rows} == {
        "Not sent: the run was stopped because it was interrupted (Ctrl+C)"
    }
    assert 1 <= sent <= 8
    assert f": 100 not attempted; {sent} requests, 0 retries\n" in log_file.read_text(
        encoding="utf-8"
    )
    assert (
        "The run was stopped part-way because it was interrupted (Ctrl+C). The log "
        f"is in {log_file}.\nRows it did not send are marked 'not attempted'; the "
        "same command sends them.\n"
    ) in outcome.output
    assert (
        "100 rows need attention: see 'Sync Status' and 'Sync Message' in the "
        "results, then run the same command again."
    ) in outcome.output


def test_emulator_command_serves_its_fault_options() -> None:
    """`kianda-sync emulator --latency-ms 200 --rate-503 1` answers late, with 503."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["--port", str(port), "--token", "tok", "--latency-ms", "200"]
    server = subprocess.Popen(
        [sys.executable, "-m", "sync", "emulator", *args, "--rate-503", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        started = time.monotonic()
        answer = requests.post(
            f"http://127.0.0.1:{port}/api/instances/create",
            json={"processName": "any", "FieldsMappings": []},
            headers={"Authorization": "Bearer tok"},
            timeout=10,
        )
        took = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(10)

    assert banner == f"Kianda emulator on http://127.0.0.1:{port}  (Ctrl+C stops it)\n"
    assert answer.status_code == 503
    assert answer.json() == {"message": "Too many requests."}
    assert took >= 0.2


def test_emulator_command_refuses_shares_above_one() -> None:
    """Fault shares that add up to more than 1 are refused before serving."""
    result = invoke(["emulator", "--rate-429", "0.6", "--rate-503", "0.6"])

    assert result.exit_code == 2
    assert "The --rate-... shares add up to more than 1" in result.output


def test_max_rps_caps_the_request_rate(sheet: Sheet, token: str) -> None:
    """With --max-rps 50, thirty creates take at least 29 fiftieths of a second."""
    sheet.write(rows=30)
    with _emulator(sheet, Faults(), token=token) as emulator:
        run = sheet.run(emulator, "--max-rps", "50", KIANDA_TOKEN=token)

    assert run.statuses == Counter({"created": 30})
    assert run.summary["duration_seconds"] >= 29 / 50
