"""Failures that happen before a request leaves: never ``unknown``, never pending.

An untrusted certificate, a name that cannot be looked up and a token that cannot go
in a header all fail before Kianda sees a byte, so the rows must not be reported as
"may already exist" (which would block them in every later run).
"""

from __future__ import annotations

import csv
import http.server
import shutil
import sqlite3
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from sync.client import KiandaClient
from sync.errors import ApiSetupError, ApiUnavailable
from sync.settings import Settings
from tests.conftest import invoke

MAPPING = """\
process: staff
key: [Ref]
fields:
  ref: {column: Ref, required: true}
"""
TOKEN = "unsent-test-token"


class _Counting(http.server.BaseHTTPRequestHandler):
    """Answers every request with 200 and counts the requests that arrive."""

    seen = 0

    def do_POST(self) -> None:
        type(self).seen += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def untrusted(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate nobody trusts (self-signed)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = [
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    openssl = shutil.which("openssl")
    assert openssl is not None, "these tests make their certificate with openssl"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", *made],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    _Counting.seen = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _sheet(folder: Path, rows: int) -> tuple[Path, Path]:
    mapping = folder / "staff.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    source = folder / "staff.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["Ref"])
        out.writerows([f"S{i:03d}"] for i in range(1, rows + 1))
    return mapping, source


def _run(folder: Path, domain: str) -> tuple[int, str, Counter[str], int]:
    """Run 50 rows into ``domain``: exit code, output, statuses, pending marks left."""
    mapping, source = _sheet(folder, 50)
    results, ledger = folder / "results.csv", folder / "ledger.sqlite3"
    env = {
        "KIANDA_DOMAIN": domain,
        "KIANDA_TOKEN": TOKEN,
        "KIANDA_LEDGER": str(ledger),
        "KIANDA_CONCURRENCY": "4",
        "KIANDA_MAX_RETRIES": "0",
    }
    outcome = invoke(["run", str(mapping), str(source), "-o", str(results)], env)
    with results.open(encoding="utf-8-sig", newline="") as handle:
        statuses = Counter(row["Sync Status"] for row in csv.DictReader(handle))
    with sqlite3.connect(ledger) as db:
        (pending,) = db.execute(
            "SELECT COUNT(*) FROM keys WHERE state='pending'"
        ).fetchone()
    return outcome.exit_code, outcome.output, statuses, pending


def test_untrusted_certificate_stops_the_client_before_sending(untrusted: str) -> None:
    """The TLS handshake fails: ApiSetupError names the cause; no request arrived."""
    client = KiandaClient(Settings(domain=untrusted, token=SecretStr(TOKEN)))

    with pytest.raises(ApiSetupError) as caught:
        client.create("staff", [])

    assert str(caught.value) == (
        f"The TLS certificate of {untrusted} is not trusted (self-signed "
        "certificate), so nothing was sent. Check KIANDA_DOMAIN; if your organisation "
        "uses its own certificate authority, set KIANDA_CA_BUNDLE to its certificate "
        "file."
    )
    assert _Counting.seen == 0


def test_untrusted_certificate_stops_the_run_leaving_no_unknown_rows(
    untrusted: str, tmp_path: Path
) -> None:
    """A run into an untrusted server stops at once: rows not attempted, no marks."""
    code, output, statuses, pending = _run(tmp_path, untrusted)

    assert code == 3
    assert statuses == Counter({"not attempted": 50})
    assert pending == 0
    assert "is not trusted (self-signed certificate)" in output
    assert _Counting.seen == 0


def test_name_not_found_is_failed_not_unknown(tmp_path: Path) -> None:
    """A name that cannot be looked up: rows fail (nothing sent), the breaker stops."""
    client = KiandaClient(
        Settings(domain="https://kianda.invalid", token=SecretStr(TOKEN), max_retries=0)
    )
    with pytest.raises(ApiUnavailable) as caught:
        client.create("staff", [])

    code, output, statuses, pending = _run(tmp_path, "https://kianda.invalid")

    assert caught.value.maybe_sent is False
    assert str(caught.value) == (
        "The address of kianda.invalid could not be looked up (DNS), so nothing was "
        "sent. Check KIANDA_DOMAIN and the network."
    )
    assert code == 3
    assert statuses["unknown"] == 0
    assert 10 <= statuses["failed"] <= 10 + 4
    assert statuses["failed"] + statuses["not attempted"] == 50
    assert pending == 0
    assert "the last 10 rows sent to Kianda all failed or are unknown" in output


@pytest.mark.parametrize(
    ("token", "said"),
    [
        ("abc\u2026def", "a horizontal ellipsis, at position 4"),
        ("abc def", "a space, at position 4"),
    ],
)
def test_token_that_cannot_be_sent_is_refused_before_the_run(
    tmp_path: Path, token: str, said: str
) -> None:
    """A token a header cannot carry is a configuration error (exit 2), not a crash."""
    mapping, source = _sheet(tmp_path, 3)
    env = {"KIANDA_DOMAIN": "https://acme.kianda.com", "KIANDA_TOKEN": token}

    outcome = invoke(["run", str(mapping), str(source)], env)

    assert outcome.exit_code == 2
    assert (
        f"KIANDA_TOKEN: the token holds a character a token cannot have ({said})"
        in (outcome.output)
    )
    assert token not in outcome.output


def test_token_line_end_is_dropped(tmp_path: Path) -> None:
    """A token read from a file with its line end still works."""
    settings = Settings(token=SecretStr(TOKEN + "\n"))

    assert settings.token is not None
    assert settings.token.get_secret_value() == TOKEN
