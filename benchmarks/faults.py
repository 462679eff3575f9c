"""What a 1,000-row run does under each emulator fault, alone and all together.

Each scenario syncs a fresh CSV into an in-process emulator (so that its counters
of injected faults can be read) and prints, beside them, what the run reported and
what Kianda ended up holding. A correct tool shows: every row created or unknown,
unknown rows exactly as many as the creates the server may have acted on without
answering, retries exactly as many as the busy answers, and no key stored twice.

    python benchmarks/faults.py [--rows 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import table, write_mapping, write_rows

from sync.emulator import Emulator, Faults, User
from sync.emulator.faults import ACTED_FIRST, Fault
from sync.engine import run_sync
from sync.outcome import Status
from sync.settings import Settings

BUSY = (Fault.RATE_LIMITED, Fault.RATE_LIMITED_BARE, Fault.UNAVAILABLE)
SCENARIOS: list[tuple[str, dict[str, Any]]] = [
    ("latency 2+-3 ms", {"latency_ms": 2, "jitter_ms": 3}),
    ("429 Retry-After 5%", {"rate_429": 0.05, "retry_after": 0.02}),
    ("429 Retry-After date 5%", {"rate_429": 0.05, "retry_after_date": True}),
    ("429 bare 5%", {"rate_429_bare": 0.05}),
    ("503 5%", {"rate_503": 0.05}),
    ("500 3%", {"rate_500": 0.03}),
    ("502 3%", {"rate_502": 0.03}),
    ("504 3%", {"rate_504": 0.03}),
    ("reset 3%", {"rate_reset": 0.03}),
    ("lost answer 3%", {"lose_create_answer": 0.03}),
    ("in flight > 4", {"max_in_flight": 4, "latency_ms": 5}),
    ("token lives 1 s", {"latency_ms": 1, "token_ttl": 1.0}),
    (
        "all together",
        {
            "seed": 7,
            "latency_ms": 2,
            "jitter_ms": 3,
            "max_in_flight": 6,
            "rate_429": 0.02,
            "retry_after": 0.02,
            "rate_429_bare": 0.02,
            "rate_503": 0.02,
            "rate_500": 0.02,
            "rate_502": 0.01,
            "rate_504": 0.01,
            "rate_reset": 0.02,
            "lose_create_answer": 0.02,
            "token_ttl": 1.0,
        },
    ),
]


def scenario(folder: Path, rows: int, concurrency: int, **options: Any) -> list[str]:
    """Run one scenario in ``folder``; return its line of the table."""
    token_ttl = options.pop("token_ttl", None)
    faults = Faults(**options)
    mapping = write_mapping(folder)
    source = write_rows(folder / "staff.csv", rows)
    login: dict[str, Any] = {"token": SecretStr("bench-token")}
    server: dict[str, Any] = {"token": "bench-token"}
    if token_ttl is not None:
        login = {
            "username": "admin",
            "password": SecretStr("pw"),
            "subscription_id": "emulator",
        }
        server = {"users": {"admin": User("pw")}, "token_ttl": token_ttl}
        server["announced_ttl"] = 299

    with Emulator.from_mapping_files([mapping], faults=faults, **server) as emu:
        settings = Settings(
            domain=emu.url,
            concurrency=concurrency,
            ledger=folder / "ledger.sqlite3",
            **login,
        )
        summary = run_sync(
            mapping, source, settings=settings, results_path=folder / "r.csv"
        )
        keys = Counter(
            record["fields"]["ref"]["value"]
            for record in emu.store.instances("staff").values()
        )

    busy = sum(faults.count(f) for f in BUSY) + faults.count(Fault.OVER_CAPACITY)
    acted = faults.count(Fault.LOST_ANSWER) + sum(
        faults.count(f, "POST") for f in ACTED_FIRST
    )
    unanswered = acted + faults.count(Fault.RESET, "POST")
    return [
        str(summary.rows),
        str(summary.statuses[Status.CREATED]),
        str(summary.statuses[Status.UNKNOWN]),
        str(unanswered),
        str(summary.retries),
        str(busy),
        str(faults.count(Fault.EXPIRED_TOKEN)),
        str(sum(keys.values())),
        str(sum(1 for n in keys.values() if n > 1)),
    ]


def main() -> None:
    """Run every scenario and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # not a warning per unknown row

    lines = []
    for name, options in SCENARIOS:
        with tempfile.TemporaryDirectory() as tmp:
            line = scenario(Path(tmp), args.rows, args.concurrency, **options)
        lines.append([name, *line])
        print(f"  {name}: done", file=sys.stderr, flush=True)

    header = [
        "fault",
        "rows",
        "created",
        "unknown",
        "unanswered",
        "retries",
        "busy answers",
        "401 renewed",
        "instances",
        "keys twice",
    ]
    print(table(header, lines))
    print(
        "unanswered: creates the emulator answered 500/502/504, reset or lost; "
        "busy answers: 429, 503 and over-capacity answers (each is one retry)."
    )


if __name__ == "__main__":
    main()
