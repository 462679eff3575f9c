"""Rows per second against an emulator answering in 50 ms, by concurrency.

With every answer taking ``latency`` seconds, ``concurrency`` requests in flight can
do at most ``concurrency / latency`` rows per second: that is the limit each figure
is divided by. Target: 0.9 of the limit at concurrency 16. Beside it, the same
number of threads doing nothing but ``session.post`` shows what Python's HTTP on
both sides leaves of the limit on this machine, before the tool does any work.

    python benchmarks/throughput.py [--rows 5000] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import bare_posts, emulator, table, write_mapping, write_rows

from sync.engine import run_sync
from sync.settings import Settings


def main() -> None:
    """Sync the same file at each concurrency and print rows/s against the limit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 32])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    latency = args.latency_ms / 1000

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mapping = write_mapping(folder)
        source = write_rows(folder / "staff.csv", args.rows)
        for concurrency in args.concurrency:
            with emulator("--latency-ms", f"{args.latency_ms:g}") as server:
                settings = Settings(
                    domain=server.url,
                    token=SecretStr(server.token),
                    concurrency=concurrency,
                    ledger=folder / f"ledger-{concurrency}.sqlite3",
                )
                summary = run_sync(
                    mapping,
                    source,
                    settings=settings,
                    results_path=folder / f"results-{concurrency}.xlsx",
                )
            with emulator("--latency-ms", f"{args.latency_ms:g}") as server:
                bare = bare_posts(server, args.rows, concurrency)
            rate = summary.rows / summary.duration
            limit = concurrency / latency
            lines.append(
                [
                    str(concurrency),
                    f"{summary.duration:.1f}",
                    f"{rate:.0f}",
                    f"{limit:.0f}",
                    f"{rate / limit:.2f}",
                    f"{bare / limit:.2f}",
                ]
            )
            print(f"concurrency {concurrency}: {rate:.0f} rows/s", file=sys.stderr)
    print(f"{args.rows} rows, emulator latency {args.latency_ms:g} ms:")
    print(table(HEADER, lines))


HEADER = [
    "concurrency",
    "seconds",
    "rows/s",
    "limit rows/s",
    "ratio",
    "bare posts ratio",
]

if __name__ == "__main__":
    main()
