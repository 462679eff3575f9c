"""Cron-safe runs: nothing created twice, nothing lost, nothing re-sent unchanged.

These tests run the real command (in this process, or as a child process that is
killed mid-run) against the emulator over HTTP, with a real SQLite ledger.
"""

from __future__ import annotations

import csv
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from sync.emulator import Emulator, EmulatorStore, Faults
from tests.conftest import invoke

MAPPING = """\
process: staff
key: [Employee ID]
fields:
  employeeId: {column: Employee ID, required: true}
  name: {column: Name, required: true}
  team: Team
"""
TOKEN = "cron-test-token"


def _write_input(path: Path, rows: int, *, changed: set[int] | None = None) -> None:
    """A CSV of staff rows; rows in ``changed`` get a different team."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Employee ID", "Name", "Team"])
        for n in range(rows):
            team = "Moved" if changed and n in changed else f"Team {n % 7}"
            writer.writerow([f"{n:06d}", f"Person {n}", team])


def _mapping(folder: Path) -> Path:
    path = folder / "staff.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


def _statuses(results: Path) -> dict[int, str]:
    sheet = openpyxl.load_workbook(results, read_only=True)["Results"]
    lines = list(sheet.iter_rows(values_only=True))
    header = list(lines[0])
    row, status = header.index("Source Row"), header.index("Sync Status")
    return {int(line[row]): str(line[status]) for line in lines[1:]}


def _keys_held(store: EmulatorStore) -> Counter[str]:
    return Counter(
        inst["fields"]["employeeId"]["value"]
        for inst in store.instances("staff").values()
    )


def _tool(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``kianda-sync ARGS`` as a child process, its output captured.

    SIGINT is given its default action first: a child of a non-interactive shell
    would otherwise be born ignoring it, unlike a command typed at a terminal.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "sync", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )


def _env(emulator: Emulator, ledger: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIANDA_")}
    env.update(
        KIANDA_DOMAIN=emulator.url, KIANDA_TOKEN=TOKEN, KIANDA_LEDGER=str(ledger)
    )
    return env


class KillingStore(EmulatorStore):
    """An emulator store that kills the client when the Nth request arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.add_process("staff", ["employeeId", "name", "team"])
        self.victim: subprocess.Popen[bytes] | None = None
        self.kill_at = 0
        self.seen = 0
        self.delay = 0.0
        self.signal = signal.SIGKILL
        self.times = 1

    def record(self, method: str, path: str) -> None:
        super().record(method, path)
        if self.delay:
            time.sleep(self.delay)
        if self.victim is None or not path.startswith("/api/"):
            return
        self.seen += 1
        if self.seen == self.kill_at:
            for _ in range(self.times):
                self.victim.send_signal(self.signal)


def test_ledger_survives_sigkill_at_many_points(tmp_path: Path) -> None:
    """Killed at random requests and re-run until done, no row exists twice."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 500)
    mapping = _mapping(tmp_path)
    store = KillingStore()
    chooser = random.Random(20261203)
    kills = 0
    command = [sys.executable, "-m", "sync", "-q", "run", str(mapping), str(source)]

    with Emulator(store, token=TOKEN) as emulator:
        for attempt in range(40):
            store.seen = 0
            store.kill_at = chooser.randint(1, 60) if attempt < 12 else 0
            store.victim = subprocess.Popen(
                [*command, "-o", str(tmp_path / "results.xlsx")],
                env=_env(emulator, ledger),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            code = store.victim.wait(timeout=120)
            store.victim = None
            if code == -signal.SIGKILL:
                kills += 1
                continue
            break

    statuses = _statuses(tmp_path / "results.xlsx")
    held = _keys_held(store)
    unknown = {n for n, s in statuses.items() if s == "unknown"}
    assert kills == 12
    assert len(statuses) == 500
    assert set(statuses.values()) <= {"created", "unchanged", "unknown"}
    assert max(held.values()) == 1  # nothing was ever created twice
    for number in set(statuses) - unknown:
        assert held[f"{number - 2:06d}"] == 1
    assert len(held) >= 500 - len(unknown)
    assert code == (1 if unknown else 0)


def test_lost_create_answers_are_unknown_not_duplicated(tmp_path: Path) -> None:
    """Creates whose answer is lost stay unknown; only --retry-unknown resends them."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 200)
    mapping = _mapping(tmp_path)
    store = EmulatorStore()
    store.add_process("staff", ["employeeId", "name", "team"])
    faults = Faults(seed=7, lose_create_answer=0.1)
    args = ["run", str(mapping), str(source), "-o", str(tmp_path / "r.xlsx")]

    with Emulator(store, token=TOKEN, faults=faults) as emulator:
        env = _env(emulator, ledger)
        first = invoke(args, env)
        lost = faults.lost_answers
        faults.lose_create_answer = 0.0
        after_first = _statuses(tmp_path / "r.xlsx")
        second = invoke(args, env)
        after_second = _statuses(tmp_path / "r.xlsx")
        creates_before_retry = store.count("POST", "/api/instances/create")
        third = invoke([*args, "--retry-unknown"], env)
        after_third = _statuses(tmp_path / "r.xlsx")

    assert lost > 0
    assert first.exit_code == 1
    assert Counter(after_first.values()) == {"created": 200 - lost, "unknown": lost}
    assert creates_before_retry == 200
    assert second.exit_code == 1
    assert Counter(after_second.values()) == {"unchanged": 200 - lost, "unknown": lost}
    assert "may already exist in Kianda" in second.output
    assert third.exit_code == 0
    assert Counter(after_third.values()) == {"unchanged": 200 - lost, "created": lost}
    assert store.count("POST", "/api/instances/create") == 200 + lost
    assert len(store.instances("staff")) == 200 + lost


def test_retry_unknown_creates_only_the_rows_still_without_an_id(
    tmp_path: Path,
) -> None:
    """The advised way out of 'unknown': copy the IDs of the instances found in
    Kianda into the sheet, then --retry-unknown updates those and creates only the
    ones Kianda does not hold, so every key ends up in Kianda once."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 200)
    mapping = _mapping(tmp_path)
    store = EmulatorStore()
    store.add_process("staff", ["employeeId", "name", "team"])
    faults = Faults(seed=11, lose_create_answer=0.1)
    results = tmp_path / "r.xlsx"

    with Emulator(store, token=TOKEN, faults=faults) as emulator:
        env = _env(emulator, ledger)
        invoke(["run", str(mapping), str(source), "-o", str(results)], env)
        faults.lose_create_answer = 0.0
        unknown = sorted(r for r, s in _statuses(results).items() if s == "unknown")
        # The person finds the first half in Kianda; the others were never stored
        # there (as when the connection broke before the create arrived).
        held = {
            inst["fields"]["employeeId"]["value"]: instance_id
            for instance_id, inst in store.instances("staff").items()
        }
        found = unknown[: len(unknown) // 2]
        for number in unknown[len(unknown) // 2 :]:
            store.remove(held[f"{number - 2:06d}"])
        with source.open(encoding="utf-8", newline="") as handle:
            lines = list(csv.reader(handle))
        lines[0].append("Instance ID")
        for number, line in enumerate(lines[1:], start=2):
            line.append(held[line[0]] if number in found else "")
        with source.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(lines)
        creates_before = store.count("POST", "/api/instances/create")
        again = invoke(
            ["run", str(mapping), str(source), "-o", str(results), "--retry-unknown"],
            env,
        )
        statuses = _statuses(results)

    assert len(unknown) >= 4
    assert again.exit_code == 0, again.output
    missing = len(unknown) - len(found)
    shown = ", ".join(str(n) for n in unknown[len(found) :][:10])
    assert (
        f"--retry-unknown creates {missing} rows again whose create Kianda never "
        f"confirmed and that have no Instance ID (rows {shown}"
    ) in again.output
    assert f"({len(found)} rows with an 'Instance ID' now are updated.)" in (
        again.output
    )
    assert Counter(statuses[n] for n in found) == {"updated": len(found)}
    assert Counter(statuses[n] for n in unknown[len(found) :]) == {"created": missing}
    assert store.count("POST", "/api/instances/create") == creates_before + missing
    assert _keys_held(store) == Counter({f"{n:06d}": 1 for n in range(200)})


def test_two_runs_at_once_one_waits_out(tmp_path: Path) -> None:
    """While one run holds the ledger, a second one exits 2 naming the first."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 150)
    mapping = _mapping(tmp_path)
    store = KillingStore()
    store.delay = 0.02
    command = [sys.executable, "-m", "sync", "run", str(mapping), str(source)]
    command += ["--concurrency", "1"]

    with Emulator(store, token=TOKEN) as emulator:
        env = _env(emulator, ledger)
        first = subprocess.Popen(
            [*command, "-o", str(tmp_path / "r1.xlsx")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        while store.count(path_prefix="/api/") == 0:
            time.sleep(0.01)
        second = subprocess.run(
            [*command, "-o", str(tmp_path / "r2.xlsx")],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        still_running = first.poll() is None
        first.communicate(timeout=120)

    assert still_running
    assert (first.returncode, second.returncode) == (0, 2)
    assert b"Another kianda-sync run is using the ledger" in second.stderr
    assert re.search(
        rb"process \d+, started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", second.stderr
    )
    assert not (tmp_path / "r2.xlsx").exists()
    assert max(_keys_held(store).values()) == 1
    assert len(store.instances("staff")) == 150


def test_stale_lock_note_is_taken_over(tmp_path: Path) -> None:
    """A lock left by a dead process does not block the next run."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 5)
    mapping = _mapping(tmp_path)
    (tmp_path / "ledger.sqlite3.lock").write_text("")
    note = '{"pid": 999999, "run_id": "old", "command": "run", "started": "2026-01-01"}'
    (tmp_path / "ledger.sqlite3.lock.json").write_text(note)

    result = invoke(
        ["run", str(mapping), str(source), "--emulator", "--ledger", str(ledger)]
    )

    assert result.exit_code == 0
    assert "5 created" in result.output
    assert not (tmp_path / "ledger.sqlite3.lock.json").exists()


def test_rerun_sends_exactly_the_changed_rows(tmp_path: Path) -> None:
    """After 5% of 2,000 rows change, the re-run sends exactly those 100 updates."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 2000)
    mapping = _mapping(tmp_path)
    store = EmulatorStore()
    store.add_process("staff", ["employeeId", "name", "team"])
    changed = set(random.Random(5).sample(range(2000), 100))
    args = ["run", str(mapping), str(source), "-o", str(tmp_path / "r.xlsx")]

    with Emulator(store, token=TOKEN) as emulator:
        first = invoke(args, _env(emulator, ledger))
        before = Counter(method for method, _ in store.request_log)
        unchanged = invoke(args, _env(emulator, ledger))
        after_unchanged = Counter(method for method, _ in store.request_log)
        _write_input(source, 2000, changed=changed)
        second = invoke(args, _env(emulator, ledger))
        after = Counter(method for method, _ in store.request_log)

    assert first.exit_code == 0
    assert before == {"POST": 2000}
    assert "0 created, 0 updated, 2000 unchanged" in unchanged.output
    assert after_unchanged == before
    assert second.exit_code == 0
    assert "0 created, 100 updated, 1900 unchanged" in second.output
    assert after - before == {"PATCH": 100}
    patched = {
        path.split("/")[3] for method, path in store.request_log if method == "PATCH"
    }
    teams = {
        inst["fields"]["employeeId"]["value"]: inst["fields"]["team"]["value"]
        for iid, inst in store.instances("staff").items()
        if iid in patched
    }
    assert set(teams) == {f"{n:06d}" for n in changed}
    assert set(teams.values()) == {"Moved"}


def test_dry_run_leaves_the_ledger_as_it_was(tmp_path: Path) -> None:
    """--dry-run reads the ledger to plan but neither creates nor changes it."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 20)
    mapping = _mapping(tmp_path)
    base = ["run", str(mapping), str(source), "--emulator", "--ledger", str(ledger)]

    dry_first = invoke([*base, "--dry-run"])
    assert not ledger.exists()
    invoke(base)
    _write_input(source, 21, changed={3})
    before = ledger.read_bytes()
    dry = invoke([*base, "--dry-run", "-o", str(tmp_path / "plan.xlsx")])

    assert dry_first.exit_code == 0
    assert "20 ready" in dry_first.output
    assert dry.exit_code == 0
    assert ledger.read_bytes() == before
    assert Counter(_statuses(tmp_path / "plan.xlsx").values()) == {
        "unchanged": 19,
        "ready": 2,
    }


def test_same_file_twice_is_pointed_out(tmp_path: Path) -> None:
    """Syncing a file whose content was already synced says so, with the date."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 3)
    mapping = _mapping(tmp_path)
    base = ["run", str(mapping), str(source), "--emulator", "--ledger", str(ledger)]

    first = invoke(base)
    second = invoke(base)

    assert "already synced" not in first.output
    assert "This exact file was already synced into 'staff' by run" in second.output


def test_results_workbook_is_a_valid_next_input(tmp_path: Path) -> None:
    """A results workbook fed back with the same mapping updates by its Instance IDs."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 4)
    mapping = _mapping(tmp_path)
    results = tmp_path / "staff.results.xlsx"
    invoke(["run", str(mapping), str(source), "--emulator", "--ledger", str(ledger)])
    book = openpyxl.load_workbook(results)
    book["Results"]["C3"] = "Renamed team"
    book.save(results)
    other_ledger = tmp_path / "fresh" / "ledger.sqlite3"
    emulator_state = tmp_path / "ledger.emulator.json"
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "ledger.emulator.json").write_bytes(
        emulator_state.read_bytes()
    )

    again = invoke(
        ["run", str(mapping), str(results), "--emulator", "--ledger", str(other_ledger)]
    )

    assert again.exit_code == 0
    assert "0 created, 1 updated, 3 unchanged" not in again.output
    assert "0 created, 4 updated" in again.output
    assert _statuses(tmp_path / "staff.results.results.xlsx") == {
        2: "updated",
        3: "updated",
        4: "updated",
        5: "updated",
    }


def test_only_failed_reruns_just_those_rows(tmp_path: Path) -> None:
    """--only-failed RESULTS sends only the rows that did not succeed there."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 10)
    text = source.read_text(encoding="utf-8").replace("Person 4", "")
    source.write_text(text, encoding="utf-8")
    mapping = _mapping(tmp_path)
    base = ["run", str(mapping), str(source), "--emulator", "--ledger", str(ledger)]
    invoke([*base, "-o", str(tmp_path / "first.xlsx")])
    source.write_text(text.replace("000004,,", "000004,Person 4,"), encoding="utf-8")

    again = invoke([*base, "--only-failed", str(tmp_path / "first.xlsx")])

    assert again.exit_code == 0
    assert "Synced 1 rows" in again.output
    assert _statuses(tmp_path / "staff.retry.xlsx") == {6: "created"}


def test_history_lists_runs_and_writes_one_again(tmp_path: Path) -> None:
    """history lists past runs and rewrites a run's results from the ledger."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 3)
    mapping = _mapping(tmp_path)
    invoke(["run", str(mapping), str(source), "--emulator", "--ledger", str(ledger)])

    listing = invoke(["history", "--ledger", str(ledger)])
    run_id = listing.output.split()[0]
    rewrite = invoke(["history", run_id, "--ledger", str(ledger), "-o", "again.xlsx"])

    assert listing.exit_code == 0
    assert "staff  staff.csv  finished  3 created" in listing.output
    assert rewrite.exit_code == 0
    assert _statuses(Path("again.xlsx")) == {2: "created", 3: "created", 4: "created"}


def test_ledger_file_is_private(tmp_path: Path) -> None:
    """The ledger is created readable and writable by its owner only."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 1)

    invoke(
        [
            "run",
            str(_mapping(tmp_path)),
            str(source),
            "--emulator",
            "--ledger",
            str(ledger),
        ]
    )

    assert ledger.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("stop", "times", "said"),
    [
        (signal.SIGINT, 1, b"it was interrupted (Ctrl+C)"),
        (
            signal.SIGTERM,
            1,
            b"it was asked to stop (SIGTERM, as systemd or timeout send)",
        ),
        (
            signal.SIGTERM,
            2,
            b"it was asked to stop (SIGTERM, as systemd or timeout send)",
        ),
    ],
    ids=["ctrl-c", "sigterm", "sigterm-twice-at-once-as-timeout-sends"],
)
def test_stop_signal_stops_cleanly_with_every_row_in_the_results(
    tmp_path: Path, stop: signal.Signals, times: int, said: bytes
) -> None:
    """Ctrl+C or SIGTERM stops sending, records what was in flight, and writes the
    results with every input row: the rows not sent are 'not attempted'. GNU
    timeout sends its SIGTERM twice at once (to the tool, then to its process
    group): that is one stop, not the second one that ends the tool at once."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 300)
    mapping = _mapping(tmp_path)
    store = KillingStore()
    store.signal, store.kill_at, store.delay = stop, 40, 0.005
    store.times = times
    command = ["run", str(mapping), str(source), "-o", str(tmp_path / "r.xlsx")]

    with Emulator(store, token=TOKEN) as emulator:
        store.victim = _tool(command, _env(emulator, ledger))
        _, err = store.victim.communicate(timeout=120)
        code = store.victim.returncode
        store.victim = None
        again = invoke(
            ["run", str(mapping), str(source), "-o", str(tmp_path / "r2.xlsx")],
            _env(emulator, ledger),
        )

    statuses = Counter(_statuses(tmp_path / "r.xlsx").values())
    assert code == 3
    assert b"Stopping the run: " + said in err
    assert statuses["created"] >= 39
    assert statuses["created"] + statuses["not attempted"] == 300
    assert again.exit_code == 0, again.output
    assert max(_keys_held(store).values()) == 1
    assert len(store.instances("staff")) == 300


class HeldAfterTwoSignals(EmulatorStore):
    """A store that, at the Nth create, signals the client twice and then holds that
    request until ``release`` is set: a client that waits for it cannot end."""

    def __init__(self, victim_signal: signal.Signals) -> None:
        super().__init__()
        self.add_process("staff", ["employeeId", "name", "team"])
        self.victim: subprocess.Popen[bytes] | None = None
        self.signal = victim_signal
        self.kill_at = 30
        self.seen = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

    def record(self, method: str, path: str) -> None:
        super().record(method, path)
        if path != "/api/instances/create" or self.victim is None:
            return
        with self._lock:
            self.seen += 1
            mine = self.seen == self.kill_at
        if mine:
            self.victim.send_signal(self.signal)
            time.sleep(1.5)  # a second press, not the same stop sent twice
            self.victim.send_signal(self.signal)
            self.release.wait(60)


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"]
)
def test_second_stop_signal_ends_the_run_at_once_and_nothing_is_created_twice(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """A second Ctrl+C, a moment after the first, does not wait for a request in
    flight: the tool ends (exit 3) while Kianda still holds it, says what happened,
    and the next run reports the rows it did not hear back about as 'unknown'
    instead of creating them again."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 200)
    mapping = _mapping(tmp_path)
    store = HeldAfterTwoSignals(stop)
    command = ["run", str(mapping), str(source), "-o", str(tmp_path / "r.xlsx")]

    with Emulator(store, token=TOKEN) as emulator:
        store.victim = _tool(command, _env(emulator, ledger))
        try:
            _, err = store.victim.communicate(timeout=30)
            still_held = not store.release.is_set()
        finally:
            store.release.set()
        code = store.victim.returncode
        store.victim = None
        again = invoke(
            ["run", str(mapping), str(source), "-o", str(tmp_path / "r2.xlsx")],
            _env(emulator, ledger),
        )

    statuses = Counter(_statuses(tmp_path / "r2.xlsx").values())
    assert still_held
    assert code == 3
    assert err.count(b"Stopping the run: ") == 1
    assert b"Stopped at once on a second stop signal" in err
    assert b"Traceback" not in err
    assert not (tmp_path / "r.xlsx").exists()
    assert again.exit_code == 1, again.output
    assert statuses["unknown"] >= 1
    assert statuses["created"] + statuses["unknown"] + statuses["unchanged"] == 200
    assert max(_keys_held(store).values()) == 1


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"]
)
def test_stop_while_the_input_is_read_ends_with_a_sentence_and_exit_3(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """Ctrl+C or SIGTERM before any row is sent, while a big input is still being
    read: a sentence saying what to do and exit 3, not a bare 'Aborted!' or 143."""
    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 300_000)
    mapping = _mapping(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIANDA_")}
    env.update(KIANDA_LEDGER=str(ledger))
    command = ["run", str(mapping), str(source), "--emulator"]

    victim = _tool([*command, "-o", str(tmp_path / "r.xlsx")], env)
    deadline = time.monotonic() + 60
    while not _has_open(victim.pid, source):
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    victim.send_signal(stop)
    _, err = victim.communicate(timeout=60)

    assert victim.returncode == 3
    assert (
        b"Stopped by Ctrl+C or SIGTERM outside the sending of rows, so no results file "
        b"was written." in err
    )
    assert b"Traceback" not in err and b"Aborted!" not in err
    assert not (tmp_path / "r.xlsx").exists()


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open (Linux /proc)."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if fd.readlink() == path:
                return True
        except OSError:
            continue
    return False


def test_retry_unknown_asks_first_and_a_no_sends_nothing(tmp_path: Path) -> None:
    """At a terminal, --retry-unknown asks before it creates rows again; answered
    no, it stops with what to do, sends nothing and leaves no results file."""
    from sync.api import run_sync
    from sync.errors import ConfigError

    source, ledger = tmp_path / "staff.csv", tmp_path / "ledger.sqlite3"
    _write_input(source, 100)
    mapping = _mapping(tmp_path)
    store = EmulatorStore()
    store.add_process("staff", ["employeeId", "name", "team"])
    faults = Faults(seed=5, lose_create_answer=0.1)
    asked: list[str] = []

    def say_no(question: str) -> bool:
        asked.append(question)
        return False

    with Emulator(store, token=TOKEN, faults=faults) as emulator:
        env = _env(emulator, ledger)
        invoke(["run", str(mapping), str(source), "-o", str(tmp_path / "r.xlsx")], env)
        lost = faults.lost_answers
        faults.lose_create_answer = 0.0
        creates = store.count("POST", "/api/instances/create")
        with pytest.raises(ConfigError) as caught:
            run_sync(
                mapping,
                source,
                output=tmp_path / "again.xlsx",
                retry_unknown=True,
                confirm=say_no,
                domain=emulator.url,
                token=TOKEN,
                ledger=ledger,
            )

    assert lost > 0
    assert asked == [
        f"Create these {lost} rows again, now that you have looked for them in Kianda?"
    ]
    assert str(caught.value).startswith("Nothing was sent.")
    assert store.count("POST", "/api/instances/create") == creates
    assert not (tmp_path / "again.xlsx").exists()
