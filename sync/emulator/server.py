"""A Kianda look-alike HTTP server on loopback, for tests and dry runs of kianda-sync.

It follows Kianda's documented token login and instances API and refuses what that
documentation does not allow, so a client that passes here sends what Kianda expects.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

import yaml

from sync.emulator.faults import ACTED_FIRST, Fault, Faults
from sync.emulator.store import EmulatorError, EmulatorStore

logger = logging.getLogger(__name__)

DENIED = "Authorization has been denied for this request."
NOT_ADMIN = "Authorization has been denied: the API needs the administrator role."
BAD_LOGIN = {
    "error": "invalid_grant",
    "error_description": "The user name or password is incorrect.",
}
BUSY = "Too many requests."
FAILED = "An error has occurred."
_ACTED_FIRST_ANSWERS = {
    Fault.SERVER_ERROR: (500, FAILED),
    Fault.BAD_GATEWAY: (502, "Bad gateway: the upstream server failed."),
    Fault.GATEWAY_TIMEOUT: (504, "Gateway timeout: the upstream server was too slow."),
}
MAX_BODY = 16 * 1024 * 1024
# Expired tokens are remembered this long, so a late request with one is still told
# apart (and counted) from a request with a token that was never issued.
EXPIRED_MEMORY_SECONDS = 3600.0
_JSON_KINDS = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
}


class _DropConnection(Exception):
    """Close the connection without answering: a lost answer, or a reset (RST)."""

    def __init__(self, *, reset: bool = False) -> None:
        super().__init__()
        self.reset = reset


@dataclass(frozen=True)
class User:
    """A login accepted by POST /token; a non-admin's token gets 403 from the API."""

    password: str
    admin: bool = True


@dataclass(frozen=True)
class _Grant:
    """An issued bearer token: whether it is an admin's, and when it expires."""

    admin: bool
    expires: float


def _names(raw: object, path: Path) -> list[str]:
    """Read field names from a YAML list of names or the keys of a YAML mapping."""
    if isinstance(raw, dict):
        return [str(k) for k in raw]
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        return list(raw)
    raise ValueError(f"{path}: fields must be a list of names or a mapping")


def load_processes(store: EmulatorStore, path: Path | str) -> None:
    """Register processes from `{processes: {name: [field, ...]}}` or a mapping file."""
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found: dict[str, list[str] | None] = {}
    if isinstance(data, dict) and isinstance(data.get("processes"), dict):
        for name, fields in data["processes"].items():
            found[str(name)] = None if fields is None else _names(fields, path)
    elif isinstance(data, dict) and isinstance(data.get("process"), str):
        found[data["process"]] = _names(data.get("fields") or {}, path)
    else:
        raise ValueError(f"{path}: neither 'processes' nor 'process' is set")
    known = store.processes()
    for name, fields in found.items():
        old = known.get(name)
        if old is None or fields is None:
            store.add_process(name, fields)
        elif old.fields is not None:
            store.add_process(name, old.fields | set(fields))
    logger.debug("Loaded processes %s from %s", sorted(found), path)


def _ci(data: Mapping[str, Any]) -> dict[str, Any]:
    """Lower-case a JSON object's keys: Kianda's pages disagree on their casing."""
    return {str(k).lower(): v for k, v in data.items()}


def _json(body: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object (400 otherwise)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EmulatorError(400, "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise EmulatorError(400, "The request body must be a JSON object.")
    return _ci(data)


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    """Return an optional string member, refusing any other JSON type (400)."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise EmulatorError(400, f"'{key}' must be a string.")
    return value


def _mappings(raw: object) -> dict[str, tuple[str, str]]:
    """Read FieldsMappings into {fieldname: (text, value)}, both JSON strings."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise EmulatorError(400, "FieldsMappings must be a list.")
    out: dict[str, tuple[str, str]] = {}
    for entry in raw:
        e = _ci(entry) if isinstance(entry, dict) else {}
        name = e.get("fieldname")
        if not isinstance(name, str) or not name:
            raise EmulatorError(400, "Each FieldsMappings entry needs a fieldname.")
        for key in ("text", "value"):
            if not isinstance(e.get(key), str):
                kind = _JSON_KINDS.get(type(e[key]), "?") if key in e else "nothing"
                raise EmulatorError(
                    400, f"Field '{name}': '{key}' must be a JSON string (got {kind})."
                )
        out[name] = (e["text"], e["value"])
    return out


class _Server(ThreadingHTTPServer):
    """The listening socket; it knows its Emulator and its open connections."""

    daemon_threads = True
    # socketserver's default backlog of 5 overflows when a client opens a dozen
    # connections at once: the kernel then falls back to SYN cookies and resets
    # some of them after the request was sent, a fault nobody asked for.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        """Bind to `address` and answer with `emulator`'s state."""
        self.emulator = emulator
        self.open: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up is normal here (killed runs, lost answers): log it."""
        logger.debug("Connection from %s ended abruptly", client_address)

    def close_connections(self) -> None:
        """Shut idle keep-alive connections so their handler threads end."""
        with self.open_lock:
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    logger.debug("Connection already closed")


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests (HTTP/1.1 keep-alive) from the emulator."""

    protocol_version = "HTTP/1.1"
    server_version = "KiandaEmulator/1.0"
    # An answer goes out as two writes (headers, body); with Nagle's algorithm the
    # second waits for the client's delayed ACK, about 40 ms per request.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        """Register the connection so stop() can close it."""
        super().setup()
        server = cast(_Server, self.server)
        with server.open_lock:
            server.open.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        server = cast(_Server, self.server)
        with server.open_lock:
            server.open.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stderr access log; _handle logs each request at DEBUG."""

    def _handle(self) -> None:
        """Read the body, answer from the emulator, and log the request."""
        emulator = cast(_Server, self.server).emulator
        url = urlsplit(self.path)
        emulator.store.record(self.command, url.path)
        auth, headers = self.headers.get("Authorization"), {}
        try:
            status, answer = 200, emulator.answer(self.command, url, auth, self._body())
        except EmulatorError as err:
            status, answer, headers = err.status, err.body, err.headers
        except _DropConnection as drop:
            self.close_connection = True
            if drop.reset:
                # Linger 0 makes the close send RST instead of FIN.
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            return
        except Exception:
            logger.exception("Emulator failed on %s %s", self.command, url.path)
            status, answer = 500, {"message": "Internal error."}
        logger.debug("%s %s -> %d", self.command, url.path, status)
        self._reply(status, answer, headers)

    def _reply(self, status: int, answer: object, headers: Mapping[str, str]) -> None:
        """Send a JSON answer with its Content-Length, as keep-alive needs."""
        data = json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """Answer malformed or unsupported requests in JSON too, then hang up."""
        self.close_connection = True
        text = message or self.responses.get(code, ("Error",))[0]
        self._reply(code, {"message": text}, {"Connection": "close"})

    def _body(self) -> bytes:
        """Read exactly Content-Length bytes, so the connection stays usable."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise EmulatorError(411, "Send a Content-Length: chunked is not supported.")
        raw = self.headers.get("Content-Length", "0")
        length = int(raw) if raw.strip().isdigit() else -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            raise EmulatorError(400, "Bad or too large Content-Length.")
        return self.rfile.read(length) if length else b""


for _method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
    setattr(_Handler, f"do_{_method}", _Handler._handle)


class Emulator:
    """A Kianda workspace on loopback: token login and the instances API."""

    def __init__(
        self,
        store: EmulatorStore | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        users: Mapping[str, User] | None = None,
        subscription_id: str = "emulator",
        token_ttl: float = 299.0,
        announced_ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        auto_processes: bool = False,
        faults: Faults | None = None,
    ) -> None:
        """Configure; `token` is a static admin token, `users` POST /token logins.

        Tokens expire after `token_ttl` seconds; POST /token announces
        `announced_ttl` (default: the truth), so a longer announced life makes
        tokens die before the client expects, as when sessions are ended early.
        """
        self.store = store if store is not None else EmulatorStore()
        self.faults = faults or Faults()
        if auto_processes:
            self.store.auto_processes = True
        self.host = host
        self._port = port
        self._token = token
        self._users = dict(users or {})
        self.subscription_id = subscription_id
        self.token_ttl = token_ttl
        self.announced_ttl = token_ttl if announced_ttl is None else announced_ttl
        self._clock = clock
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_mapping_files(cls, paths: Iterable[Path | str], **kw: Any) -> Emulator:
        """Build an emulator whose processes are those named in the given YAML files."""
        emulator = cls(**kw)
        for path in paths:
            load_processes(emulator.store, path)
        return emulator

    @property
    def port(self) -> int:
        """The bound TCP port (the configured one before start)."""
        return self._server.server_port if self._server is not None else self._port

    @property
    def connections(self) -> int:
        """Client connections open now (kept alive between requests)."""
        server = self._server
        if server is None:
            return 0
        with server.open_lock:
            return len(server.open)

    @property
    def url(self) -> str:
        """The base URL, the `{domain}` of Kianda's API pages."""
        return f"http://{self.host}:{self.port}"

    def _bind(self) -> _Server:
        """Open the listening socket."""
        if self._server is not None:
            raise RuntimeError("The emulator is already running.")
        self._server = _Server((self.host, self._port), self)
        logger.debug("Kianda emulator listening on %s", self.url)
        return self._server

    def start(self) -> Emulator:
        """Serve in a daemon thread and return self."""
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns quickly
            name="kianda-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Serve in the calling thread until KeyboardInterrupt (the CLI's command).

        ``ready`` is called once the port is open, so that what it announces can
        be connected to at once.
        """
        server = self._bind()
        if ready is not None:
            ready()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            logger.info("Kianda emulator stopped")
        finally:
            self._server = None
            server.server_close()

    def __enter__(self) -> Emulator:
        """Start serving for the `with` block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving at the end of the `with` block."""
        self.stop()

    def answer(
        self, method: str, url: SplitResult, auth: str | None, body: bytes
    ) -> Any:
        """Answer one request, with the faults turned on; raise EmulatorError else."""
        faults = self.faults
        if not url.path.lower().startswith("/api/"):
            time.sleep(faults.delay())
            return self._route(method, url, auth, body)
        if not faults.enter(method):
            raise EmulatorError(429, BUSY, body={"message": BUSY})
        try:
            time.sleep(faults.delay())
            fault = faults.draw()
            if fault is not None and fault not in ACTED_FIRST:
                faults.note(fault, method)
            if fault is Fault.RATE_LIMITED:
                wait = {"Retry-After": _retry_after(faults)}
                raise EmulatorError(429, BUSY, body={"message": BUSY}, headers=wait)
            if fault in (Fault.RATE_LIMITED_BARE, Fault.UNAVAILABLE):
                status = 429 if fault is Fault.RATE_LIMITED_BARE else 503
                raise EmulatorError(status, BUSY, body={"message": BUSY})
            if fault is Fault.RESET:
                raise _DropConnection(reset=True)
            answer = self._route(method, url, auth, body)
            if fault in ACTED_FIRST:
                faults.note(fault, method)
                status, message = _ACTED_FIRST_ANSWERS[fault]
                raise EmulatorError(status, message, body={"message": message})
            return answer
        finally:
            faults.leave()

    def _route(
        self, method: str, url: SplitResult, auth: str | None, body: bytes
    ) -> Any:
        """Route one request; return its 200 JSON answer or raise EmulatorError."""
        path, query = url.path, url.query
        parts = [unquote(p) for p in path.strip("/").split("/")]
        low = [p.lower() for p in parts]
        if low == ["token"]:
            _allow(method, "POST")
            return self._login(body)
        if low[0] == "api":
            self._authorize(auth, method)
        if low[:2] == ["api", "instances"] and len(parts) in (3, 4):
            name, tail = parts[2], low[3:]
            if tail == [] and low[2] == "create":
                _allow(method, "POST")
                return self._create(_json(body))
            if tail == []:
                _allow(method, "PUT", "PATCH")
                return self._update(name, _json(body), replace=method == "PUT")
            if tail == ["fields"]:
                _allow(method, "GET")
                return self._fields(name, query)
            if tail == ["update"]:
                _allow(method, "PATCH")
                return self._update(name, _json(body), replace=False)
        raise EmulatorError(404, f"No resource at '{path}'.")

    def _login(self, body: bytes) -> dict[str, Any]:
        """Check a password grant and issue a bearer token that expires by the clock."""
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        got = {k: v[0] for k, v in form.items() if len(v) == 1}
        username, password = got.get("username", ""), got.get("password", "")
        user = self._users.get(username)
        if not (
            user is not None
            and got.get("grant_type") == "password"
            and got.get("scope") == self.subscription_id
            and secrets.compare_digest(password.encode(), user.password.encode())
        ):
            raise EmulatorError(400, "invalid_grant", body=dict(BAD_LOGIN))
        token, now = secrets.token_urlsafe(32), self._clock()
        with self._lock:
            self._grants = {
                t: g
                for t, g in self._grants.items()
                if g.expires > now - EXPIRED_MEMORY_SECONDS
            }
            self._grants[token] = _Grant(user.admin, now + self.token_ttl)
        issued = time.time()
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(self.announced_ttl),
            "userName": username,
            "userId": str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"kianda-emulator/{username}")
            ),
            "subscriptionId": self.subscription_id,
            "hostURL": self.url,
            ".issued": formatdate(issued, usegmt=True),
            ".expires": formatdate(issued + self.announced_ttl, usegmt=True),
        }

    def _authorize(self, auth: str | None, method: str) -> None:
        """Accept the static token or an unexpired admin grant (else 401 or 403)."""
        scheme, _, token = (auth or "").partition(" ")
        token = token.strip()
        denied = EmulatorError(
            401,
            DENIED,
            body={"message": DENIED},
            headers={"WWW-Authenticate": "Bearer"},
        )
        if scheme.lower() != "bearer" or not token:
            raise denied
        if self._token is not None and secrets.compare_digest(
            token.encode(), self._token.encode()
        ):
            return
        with self._lock:
            grant = self._grants.get(token)
            if grant is not None and self._clock() >= grant.expires:
                self.faults.note(Fault.EXPIRED_TOKEN, method)
                grant = None
        if grant is None:
            raise denied
        if not grant.admin:
            raise EmulatorError(403, NOT_ADMIN, body={"message": NOT_ADMIN})

    def _create(self, data: dict[str, Any]) -> dict[str, Any]:
        """POST /api/instances/create: a new instance whose ID the server picks."""
        process = _optional_str(data, "processname")
        if not process:
            raise EmulatorError(400, "processName is required.")
        _optional_str(data, "triggerfield")
        fields = _mappings(data.get("fieldsmappings"))
        instance_id = self.store.create(process, fields)
        if self.faults.lose_answer_of_create(fields):
            logger.debug("losing the answer to the create of %s", instance_id)
            raise _DropConnection
        return {"success": True, "instanceID": instance_id}

    def _update(
        self, name: str, data: dict[str, Any], *, replace: bool
    ) -> dict[str, Any]:
        """PUT (replace all fields) or PATCH (only the sent ones) an instance."""
        process = _optional_str(data, "processname")
        if replace and not process:
            raise EmulatorError(400, "ProcessName is required.")
        trigger = _optional_str(data, "triggerfield")
        status = _optional_str(data, "status")
        fields = _mappings(data.get("fieldsmappings"))
        record = self.store.update(
            name, fields, replace=replace, process=process or None, status=status
        )
        return {
            "ProcessName": record["process"],
            "FieldsMappings": [
                {"fieldname": k, "text": v["text"], "value": v["value"]}
                for k, v in record["fields"].items()
            ],
            "TriggerField": trigger or "",
            "Status": record["status"],
            "success": True,
        }

    def _fields(self, name: str, query: str) -> Any:
        """GET fields: one object for one name, a list for several."""
        asked = parse_qs(query).get("names", [])
        names = [n.strip() for v in asked for n in v.split(",") if n.strip()]
        if not names:
            raise EmulatorError(400, "The 'names' query parameter is required.")
        found = self.store.read_fields(name, names)
        return found[0] if len(found) == 1 else found


def _allow(method: str, *allowed: str) -> None:
    """Refuse a method the path does not take with 405 and an Allow header."""
    if method not in allowed:
        raise EmulatorError(
            405,
            f"The requested resource does not support http method '{method}'.",
            headers={"Allow": ", ".join(allowed)},
        )


def _retry_after(faults: Faults) -> str:
    """The Retry-After of a 429: seconds, or the HTTP date that many seconds ahead."""
    if faults.retry_after_date:
        return formatdate(time.time() + faults.retry_after, usegmt=True)
    return f"{faults.retry_after:g}"
