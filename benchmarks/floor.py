"""Rows per second with no latency at all: the tool against a plain loop of posts.

A loop that does nothing but ``session.post`` one create after another, on the same
emulator, is the floor that Python and the server set; the tool reads, converts,
records in its ledger and writes results on top, with requests in flight at once.

    python benchmarks/floor.py [--rows 5000]
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
    """Print the plain loop's rows/s and the tool's at a few concurrencies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with emulator() as server:
        floor = bare_posts(server, args.rows, 1)
    lines = [["plain session.post loop", "1", f"{floor:.0f}", "1.00"]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mapping = write_mapping(folder)
        source = write_rows(folder / "staff.csv", args.rows)
        for concurrency in args.concurrency:
            with emulator() as server:
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
            rate = summary.rows / summary.duration
            lines.append(
                [
                    "kianda-sync run",
                    str(concurrency),
                    f"{rate:.0f}",
                    f"{rate / floor:.2f}",
                ]
            )
    print(f"{args.rows} rows, emulator latency 0 ms:")
    print(table(["", "concurrency", "rows/s", "vs plain loop"], lines))


if __name__ == "__main__":
    main()
