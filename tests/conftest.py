"""Shared fixtures: a hermetic environment and a real emulator on a loopback port."""

from __future__ import annotations

import http.server
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sync.cli import cli
from sync.emulator import Emulator, EmulatorStore

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_MAPPING = ROOT / "mappings" / "training-request.yaml"
SAMPLE_XLSX = ROOT / "samples" / "training-requests.xlsx"
SAMPLE_CSV = ROOT / "samples" / "training-requests.csv"


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clears KIANDA_* variables and runs each test in its own empty folder."""
    for name in list(os.environ):
        if name.startswith("KIANDA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@dataclass
class Kianda:
    """A running emulator and the environment that points the tool at it."""

    emulator: Emulator
    token: str
    ledger: Path

    @property
    def store(self) -> EmulatorStore:
        """The emulator's state, for assertions."""
        return self.emulator.store

    def env(self, **extra: str) -> dict[str, str]:
        """KIANDA_* variables for a run against this emulator."""
        return {
            "KIANDA_DOMAIN": self.emulator.url,
            "KIANDA_TOKEN": self.token,
            "KIANDA_LEDGER": str(self.ledger),
            **extra,
        }


@pytest.fixture
def kianda(tmp_path: Path) -> Iterator[Kianda]:
    """An emulator that knows the sample mapping's process, with a fresh ledger path."""
    token = secrets.token_urlsafe(16)
    emulator = Emulator.from_mapping_files([SAMPLE_MAPPING], token=token)
    with emulator:
        yield Kianda(emulator, token, tmp_path / "ledger.sqlite3")


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    """Run the kianda-sync command in this process, as a user would type it."""
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


class Answering(http.server.BaseHTTPRequestHandler):
    """A request handler for stand-in servers: one way to answer, no access log."""

    def answer(
        self,
        status: int,
        body: bytes = b"",
        kind: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send ``status`` with ``body`` (of type ``kind``) and any extra headers."""
        self.send_response(status)
        for name, value in {"Content-Type": kind, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def sent(self) -> str:
        """The body of the request being answered."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8", "replace")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A plain HTTP server on a loopback port answering with ``handler``: a stand-in
    for a proxy or web site that is not Kianda. Yields its address."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
