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
import time
from pathlib import Path

import requests
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import CITIES, emulator, table, write_mapping, write_rows

from sync.engine import run_sync
from sync.settings import Settings


def plain_loop(url: str, token: str, rows: int) -> float:
    """Rows per second of one thread posting creates back to back."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for i in range(1, rows + 1):
        fields = [
            {"fieldname": "ref", "text": f"S{i:07d}", "value": f"S{i:07d}"},
            {"fieldname": "name", "text": f"Person {i}", "value": f"Person {i}"},
            {"fieldname": "city", "text": CITIES[i % 5], "value": CITIES[i % 5]},
        ]
        body = {"processName": "staff", "instanceID": "staff", "FieldsMappings": fields}
        answer = session.post(
            f"{url}/api/instances/create", json=body, headers=headers, timeout=30
        )
        answer.raise_for_status()
    return rows / (time.perf_counter() - started)


def main() -> None:
    """Print the plain loop's rows/s and the tool's at a few concurrencies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with emulator() as server:
        floor = plain_loop(server.url, server.token, args.rows)
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
