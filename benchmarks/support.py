"""What the benchmark scripts share: an emulator in its own process, inputs, a run.

The emulator runs as ``kianda-sync emulator`` in a child process, so that it and the
tool under test do not share one interpreter lock; on a two-core machine they still
share the cores, which caps what any figure here can reach.
"""

from __future__ import annotations

import csv
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

MAPPING = """\
process: staff
key: [Ref]
fields:
  ref: {column: Ref, required: true}
  name: Name
  city: City
"""
CITIES = ("Cork", "Galway", "Limerick", "Sligo", "Tralee")


@dataclass(frozen=True)
class Server:
    """A running emulator process: where it listens and the token it accepts."""

    url: str
    token: str
    pid: int


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def emulator(*options: str) -> Iterator[Server]:
    """Run ``kianda-sync emulator`` with the given options until the block ends."""
    port, token = free_port(), secrets.token_urlsafe(16)
    command = [sys.executable, "-m", "sync", "-q", "emulator", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--token", token, *options], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the banner: it is listening
        yield Server(f"http://127.0.0.1:{port}", token, process.pid)
    finally:
        process.terminate()
        process.wait(30)


def write_mapping(folder: Path) -> Path:
    """The three-field mapping the benchmarks sync with."""
    path = folder / "staff.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


def write_rows(path: Path, rows: int) -> Path:
    """A CSV of ``rows`` staff rows, written as a stream."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["Ref", "Name", "City"])
        for i in range(1, rows + 1):
            out.writerow([f"S{i:07d}", f"Person {i}", CITIES[i % len(CITIES)]])
    return path


def post_create(session: requests.Session, server: Server, number: int) -> None:
    """POST the create of row ``number`` as the tool would, nothing more."""
    ref, name, city = f"S{number:07d}", f"Person {number}", CITIES[number % 5]
    fields = [
        {"fieldname": "ref", "text": ref, "value": ref},
        {"fieldname": "name", "text": name, "value": name},
        {"fieldname": "city", "text": city, "value": city},
    ]
    answer = session.post(
        f"{server.url}/api/instances/create",
        json={"processName": "staff", "instanceID": "staff", "FieldsMappings": fields},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=30,
    )
    answer.raise_for_status()


def bare_posts(server: Server, rows: int, concurrency: int) -> float:
    """Rows per second of ``concurrency`` threads doing nothing but posting creates."""
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=concurrency))
    started = time.perf_counter()
    if concurrency == 1:
        for number in range(1, rows + 1):
            post_create(session, server, number)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            for _ in pool.map(
                lambda n: post_create(session, server, n), range(1, rows + 1)
            ):
                pass
    return rows / (time.perf_counter() - started)


def table(header: list[str], lines: list[list[str]]) -> str:
    """A plain-text table with right-aligned columns, as printed to the README."""
    widths = [
        max(len(header[i]), *(len(line[i]) for line in lines))
        for i in range(len(header))
    ]
    rows = [header, *lines]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )
