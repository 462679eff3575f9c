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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
