"""The one place that talks HTTP to Kianda, and turns every failure into an ApiError.

Built on a pooled ``requests.Session`` (injectable, so tests and proxies plug in)
whose pool holds one connection per request in flight. Tokens come from
``KIANDA_TOKEN`` or from ``POST /token``; a login token is renewed before it expires,
and on a 401 unless the refused token is the one just issued for that very call.
Reads and updates are retried on 429, 502, 503, 504 and lost connections; a create
is retried only when Kianda cannot have acted on it (connection refused, 429, 503),
because Kianda has no idempotency key and a second create is a duplicate. Every
attempt passes ``sync.throttle``'s rate cap and adaptive limit.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from sync.convert import FieldValue
from sync.errors import (
    ApiAuthError,
    ApiError,
    ApiRateLimited,
    ApiRejected,
    ApiSetupError,
    ApiStopped,
    ApiUnavailable,
    ConfigError,
)
from sync.settings import Settings
from sync.throttle import Concurrency, RateLimit

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Statuses after which the server has certainly not acted, so even a create is resent.
NOT_ACTED_STATUSES = frozenset({429, 503})
# Renew a login token this long before Kianda says it expires (its life is ~299 s).
RENEW_MARGIN_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 60.0
# The longest Retry-After honoured; asked to wait longer, the request gives up.
MAX_RETRY_AFTER_SECONDS = 300.0
# The first retry waits about this long (with jitter); each further one twice as long.
FIRST_BACKOFF_SECONDS = 0.5
USER_AGENT = "kianda-sync"
NOT_SENT = "Not sent: the run stopped before this request's turn."
CREATE_PATH = "/api/instances/create"


@dataclass
class ClientStats:
    """Counters a run reports: requests sent, retries made, tokens obtained.

    ``renewals`` counts requests sent again with a new token after a 401; they are
    not retries, since Kianda refused them before acting.
    """

    requests: int = 0
    retries: int = 0
    logins: int = 0
    renewals: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        """Count one event, safely from any thread."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


class _Scrubber:
    """Masks the secrets this process holds in any text that came from the server.

    A proxy or firewall may echo a request's headers or form back in its error
    page, so Kianda's words can hold the bearer token or the password. Server text
    passes through here as it enters (its message, a redirect's Location, the
    DEBUG dump of an answer), before it is cut to length, so no error, log line,
    result or ledger row carries a secret.
    """

    MASK = "********"
    _BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;}<]+?(?=\.?(?:[\s\"',;}<]|$))")

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        """Remember a secret to mask, as written and as URL, form, JSON and Python
        escaping spell it (too short a one would mask ordinary words)."""
        if not secret or len(secret) < 4:
            return
        spellings = {
            secret,
            quote(secret, safe=""),
            quote_plus(secret),
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            repr(secret)[1:-1],
        }
        with self._lock:
            self._secrets.update(spellings)

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, self.MASK)
        return self._BEARER.sub(rf"\g<1>{self.MASK}", text)


_SCRUB = _Scrubber()


class KiandaClient:
    """Create, read and update Kianda process instances over its REST API."""

    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.domain:
            raise ConfigError("KIANDA_DOMAIN is not set.")
        self.domain = settings.domain
        self._settings = settings
        self._session = session or _pooled_session(settings.concurrency)
        _settle_environment(self._session, settings)
        self._stopping = threading.Event()
        self._sleep = sleep or self._pause
        self._clock = clock
        self.concurrency = Concurrency(settings.concurrency, clock=clock)
        self._rate = RateLimit(settings.max_rps, clock=clock, sleep=self._sleep)
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = float("inf")
        self._worked: str | None = None  # the latest token Kianda accepted
        if settings.token is not None and settings.token.get_secret_value():
            self._token = settings.token.get_secret_value()
        _SCRUB.add(self._token)
        if settings.password is not None:
            _SCRUB.add(settings.password.get_secret_value())
        self.stats = ClientStats()

    def __repr__(self) -> str:
        return f"KiandaClient(domain={self.domain!r})"

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when :meth:`stop` is called."""
        self._stopping.wait(seconds)

    def stop(self) -> None:
        """Send nothing more: a request waiting for a retry, or for its turn under
        the concurrency limit or rate cap, ends at once without being sent.

        For a run that is stopping, so that Ctrl+C or a stopped run does not wait out
        (or add to) a busy server's Retry-After.
        """
        self._stopping.set()
        self.concurrency.stop()

    # --- the API ---------------------------------------------------------------------

    def create(
        self, process: str, fields: Iterable[FieldValue], trigger_field: str = ""
    ) -> str:
        """Create an instance and return the ID Kianda chose for it."""
        body = create_body(process, fields, trigger_field)
        answer = self._call("POST", CREATE_PATH, json=body, create=True)
        instance_id = _get(answer, "instanceID")
        if not isinstance(instance_id, str) or not instance_id:
            # It said yes without saying to what: the instance may well exist.
            raise ApiUnavailable(
                "Kianda answered the create without an instance ID, so it may have "
                "created one. If every row says this, KIANDA_DOMAIN may point at "
                "another web site.",
                maybe_sent=True,
            )
        return instance_id

    def update(
        self,
        instance_id: str,
        process: str,
        fields: Iterable[FieldValue],
        *,
        partial: bool = True,
        trigger_field: str = "",
        status: str = "",
    ) -> None:
        """Change an instance: only the given fields (PATCH), or all of them (PUT)."""
        body = update_body(process, fields, trigger_field, status)
        method, path = update_target(self._settings, instance_id, partial=partial)
        self._call(method, path, json=body)

    def read_fields(
        self, instance_id: str, names: Iterable[str]
    ) -> dict[str, tuple[str, str]]:
        """The (text, value) Kianda holds for each named field of an instance."""
        wanted = list(names)
        path = f"/api/instances/{quote(instance_id, safe='')}/fields"
        answer = self._call("GET", path, params={"names": ",".join(wanted)})
        items: Any = answer
        if isinstance(answer, dict):
            items = next(
                (v for v in answer.values() if isinstance(v, list)),
                [answer],
            )
        found: dict[str, tuple[str, str]] = {}
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "name" in item:
                text, value = item.get("text"), item.get("value")
                found[str(item["name"])] = (
                    "" if text is None else str(text),
                    "" if value is None else str(value),
                )
        return found

    # --- plumbing --------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, create: bool = False, **kwargs: Any
    ) -> Any:
        """Send one request with retries and token renewal; return the JSON answer.

        A request that waits to be resent when the client is stopped raises
        ApiStopped if Kianda cannot have acted on it, else its last error.
        """
        url = self.domain + path
        renewed = False
        attempt = 0
        retry = False  # the next send is a retry, after its wait
        while True:
            try:
                response, token = self._attempt(method, url, retry=retry, **kwargs)
            except ApiUnavailable as exc:
                if (create and exc.maybe_sent) or attempt >= self._settings.max_retries:
                    raise
                attempt += 1
                why = f"{method} {path} failed: {str(exc).rstrip('.')}"
                if not self._backoff(attempt, None, why):
                    raise exc if exc.maybe_sent else _stopped(exc) from None
                retry = True
                continue

            retry = False  # a resend after a 401 renewal is not a retry
            status = response.status_code
            # A token that has worked and now gets 401 has expired: renew it. One
            # refused right after a renewal means Kianda refuses these credentials.
            expired = token == self._worked
            if status == 401 and (expired or not renewed) and self._can_login():
                renewed = True
                self.stats.add("renewals")
                self._invalidate(token)
                continue
            if status in RETRY_STATUSES:
                acted = status not in NOT_ACTED_STATUSES
                if (create and acted) or attempt >= self._settings.max_retries:
                    raise _status_error(method, path, response)
                asked = _retry_after_seconds(response.headers.get("Retry-After"))
                if asked is not None and asked > MAX_RETRY_AFTER_SECONDS:
                    raise _wait_too_long(status, asked)
                attempt += 1
                why = f"Kianda answered HTTP {status} to {method} {path}"
                if not self._backoff(attempt, asked, why):
                    error = _status_error(method, path, response)
                    raise error if acted else _stopped(error)
                retry = True
                continue
            return _answer(method, path, response)

    def _attempt(
        self, method: str, url: str, *, retry: bool = False, **kwargs: Any
    ) -> tuple[requests.Response, str]:
        """One request, once the adaptive limit and the rate cap allow it.

        Returns the answer and the token it carried. A busy answer (429, 503) lowers
        the limit of requests in flight; a successful one lets it grow back. A
        ``retry`` is counted here, only once it really goes out.
        """
        ticket = self.concurrency.acquire()
        if ticket is None:
            raise ApiStopped(NOT_SENT)
        busy = ok = False
        try:
            self._rate.wait()
            if self._stopping.is_set():
                raise ApiStopped(NOT_SENT)
            token = self._current_token()
            if retry:
                self.stats.add("retries")
            response = self._send(method, url, token, **kwargs)
            busy = response.status_code in NOT_ACTED_STATUSES
            ok = response.ok
            if ok:
                self._worked = token
            return response, token
        finally:
            self.concurrency.release(ticket, busy=busy, ok=ok)

    def _send(
        self, method: str, url: str, token: str, **kwargs: Any
    ) -> requests.Response:
        """Send one request, turning a failure to get an answer into ApiUnavailable."""
        headers = {"Authorization": f"Bearer {token}"}
        timeout = self._settings.timeout
        self.stats.add("requests")
        try:
            return self._session.request(
                method,
                url,
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,  # the token goes to KIANDA_DOMAIN only
                **kwargs,
            )
        except requests.ConnectTimeout:
            raise ApiUnavailable(
                f"Kianda at {self.domain} did not accept a connection within "
                f"{_seconds(timeout)}.",
                maybe_sent=False,
            ) from None
        except requests.ReadTimeout:
            raise ApiUnavailable(
                f"Kianda at {self.domain} did not answer within {_seconds(timeout)}.",
                maybe_sent=True,
            ) from None
        except requests.exceptions.SSLError as exc:
            raise _tls_error(self.domain, exc) from None
        except requests.exceptions.ProxyError:
            raise ApiUnavailable(
                f"The proxy for {self.domain} could not be reached, so nothing was "
                "sent. Check HTTPS_PROXY / HTTP_PROXY, or add the host to NO_PROXY.",
                maybe_sent=False,
            ) from None
        except requests.ConnectionError as exc:
            raise _connection_error(self.domain, exc) from None
        except requests.RequestException as exc:
            raise ApiUnavailable(
                f"The request to Kianda failed: {type(exc).__name__}.", maybe_sent=True
            ) from None

    def _backoff(self, attempt: int, asked: float | None, why: str) -> bool:
        """Wait before retry ``attempt``; False when the client was stopped instead.

        ``asked`` is the wait Kianda's Retry-After gave, if any; else the wait doubles
        with each attempt, with jitter so that threads do not retry in step.
        """
        if self._stopping.is_set():
            return False
        if asked is not None:
            delay = asked
            log.info("%s; retry %d in %.1f s, as Kianda asked", why, attempt, delay)
        else:
            delay = FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)
            delay = min(MAX_BACKOFF_SECONDS, delay)
            delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
            log.info("%s; retry %d in %.1f s", why, attempt, delay)
        self._sleep(delay)
        return not self._stopping.is_set()

    # --- tokens ----------------------------------------------------------------------

    def _can_login(self) -> bool:
        s = self._settings
        return bool(s.username and s.password and s.subscription_id)

    def _invalidate(self, refused: str) -> None:
        """Drop the refused token, unless another thread has already replaced it."""
        with self._token_lock:
            if self._token == refused:
                self._expires_at = 0.0

    def _current_token(self) -> str:
        with self._token_lock:
            if self._token is not None and self._clock() < self._expires_at:
                return self._token
            if not self._can_login():
                if self._token is not None:
                    return self._token
                raise ConfigError(
                    "No Kianda credentials: set KIANDA_TOKEN, or KIANDA_USERNAME, "
                    "KIANDA_PASSWORD and KIANDA_SUBSCRIPTION_ID."
                )
            self._login()
            assert self._token is not None
            return self._token

    def _login(self) -> None:
        """POST /token with the username, password and subscription ID."""
        s = self._settings
        assert s.password is not None
        form = {
            "grant_type": "password",
            "username": s.username,
            "password": s.password.get_secret_value(),
            "scope": s.subscription_id,
        }
        self.stats.add("logins")
        started = self._clock()
        try:
            response = self._session.post(
                self.domain + "/token",
                data=form,
                timeout=s.timeout,
                allow_redirects=False,  # the password goes to KIANDA_DOMAIN only
            )
        except requests.RequestException:
            raise ApiUnavailable(
                f"Kianda at {self.domain} could not be reached to log in. Check "
                "KIANDA_DOMAIN and the network, then run again.",
                maybe_sent=False,
            ) from None
        if response.is_redirect:
            raise _redirected(_origin(self.domain), response)
        if response.status_code != 200:
            detail = _server_message(response)
            raise ApiAuthError(
                f"Kianda refused the login for user '{s.username}'"
                + (f" ({detail})" if detail else "")
                + ". Check KIANDA_USERNAME, KIANDA_PASSWORD and "
                "KIANDA_SUBSCRIPTION_ID.",
                status=response.status_code,
            )
        data = _json(response)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiAuthError("Kianda's login answer held no access token.")
        if not re.fullmatch(r"[\x21-\x7e]+", token):
            raise ApiAuthError(
                "Kianda's login answer held an access token with spaces or characters "
                "an HTTP header cannot carry, so nothing was sent. Check that "
                "KIANDA_DOMAIN is your Kianda workspace."
            )
        try:
            lifetime = float(data.get("expires_in", 299))
        except (TypeError, ValueError):
            lifetime = 299.0
        _SCRUB.add(token)
        self._token = token
        self._expires_at = started + max(lifetime - RENEW_MARGIN_SECONDS, lifetime / 2)
        log.debug("logged in to %s; token valid for %.0f s", self.domain, lifetime)


def create_body(
    process: str, fields: Iterable[FieldValue], trigger_field: str = ""
) -> dict[str, Any]:
    """The JSON body of a create, keys spelled as Kianda's page spells them."""
    return {
        "processName": process,
        "instanceID": process,
        "TriggerField": trigger_field,
        "FieldsMappings": [f.as_json() for f in fields],
    }


def update_body(
    process: str,
    fields: Iterable[FieldValue],
    trigger_field: str = "",
    status: str = "",
) -> dict[str, Any]:
    """The JSON body of a PATCH or PUT; Status only when the mapping sets it."""
    body: dict[str, Any] = {
        "ProcessName": process,
        "FieldsMappings": [f.as_json() for f in fields],
        "TriggerField": trigger_field,
    }
    if status:
        body["Status"] = status
    return body


def update_target(
    settings: Settings, instance_id: str, *, partial: bool
) -> tuple[str, str]:
    """The method and path of an update: PATCH to KIANDA_PATCH_PATH, or PUT."""
    name = quote(instance_id, safe="")
    if partial:
        return "PATCH", settings.patch_path.replace("{name}", name)
    return "PUT", f"/api/instances/{name}"


def _pooled_session(concurrency: int) -> requests.Session:
    """A session with one pooled connection per request in flight, plus a login."""
    session = requests.Session()
    adapter = HTTPAdapter(
        pool_connections=2, pool_maxsize=concurrency + 1, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    return session


def _settle_environment(session: requests.Session, settings: Settings) -> None:
    """Take the proxy and CA bundle from the environment once, not on every request.

    Left to itself, requests reads every environment variable and ~/.netrc again for
    each call (a third of the CPU a request costs), and a .netrc entry for the Kianda
    host would replace the bearer token with a password. Every call goes to one host,
    so one look at HTTPS_PROXY / NO_PROXY / REQUESTS_CA_BUNDLE decides for them all.
    """
    assert settings.domain is not None
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(settings.domain))
    if settings.ca_bundle is not None:
        session.verify = str(settings.ca_bundle)
    else:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get(
            "CURL_CA_BUNDLE"
        )
        session.verify = bundle or True


def _tls_error(domain: str, exc: requests.exceptions.SSLError) -> ApiError:
    """An untrusted certificate stops the run; other TLS failures may follow a send.

    Certificates are checked during the handshake, before any byte of the request,
    so a refused certificate means nothing was sent.
    """
    text = str(exc)
    if "certificate" not in text.lower():
        return ApiUnavailable(
            f"The secure connection to {domain} broke off.", maybe_sent=True
        )
    found = re.search(r"certificate verify failed: ([^(]+)", text)
    why = found.group(1).strip() if found else "it could not be verified"
    return ApiSetupError(
        f"The TLS certificate of {domain} is not trusted ({why}), so nothing was "
        "sent. Check KIANDA_DOMAIN; if your organisation uses its own certificate "
        "authority, set KIANDA_CA_BUNDLE to its certificate file."
    )


def _connection_error(domain: str, exc: requests.ConnectionError) -> ApiUnavailable:
    """Refused connections and failed name look-ups happen before anything is sent."""
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    if isinstance(reason, NameResolutionError):
        host = urlsplit(domain).hostname
        return ApiUnavailable(
            f"The address of {host} could not be looked up (DNS), so nothing was "
            "sent. Check KIANDA_DOMAIN and the network.",
            maybe_sent=False,
        )
    if isinstance(reason, NewConnectionError) or "refused" in str(exc):
        return ApiUnavailable(
            f"Kianda at {domain} could not be reached (connection refused).",
            maybe_sent=False,
        )
    return ApiUnavailable(
        f"The connection to Kianda at {domain} broke before its answer came.",
        maybe_sent=True,
    )


def _seconds(value: float) -> str:
    """A number of seconds as a sentence says it: 1 second, 2.5 seconds."""
    return f"{value:g} second" + ("" if value == 1 else "s")


def _retry_after_seconds(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date).

    None for a header that is neither, such as a negative number: then the usual
    growing wait applies. A date already past means at once.
    """
    if not header:
        return None
    text = header.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _wait_too_long(status: int, seconds: float) -> ApiRateLimited:
    """Kianda asked for a longer pause than a run waits out."""
    limit = MAX_RETRY_AFTER_SECONDS / 60
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=min(seconds, 86400 * 365))
    until = until.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return ApiRateLimited(
        f"Kianda answered HTTP {status} (busy) and asked to wait "
        f"{_duration(seconds)}, longer than the {limit:g} minutes kianda-sync waits. "
        f"Run again after {until:%Y-%m-%d %H:%M} UTC.",
        status=status,
    )


def _duration(seconds: float) -> str:
    """A wait as a person says it, rounded up: 301 seconds, 2 hours, over a year."""
    if seconds > 86400 * 365:
        return "over a year"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size:
            count = math.ceil(seconds / size)
            return f"{count} {unit}s"
    count = math.ceil(seconds)
    return f"{count} second" + ("" if count == 1 else "s")


def _origin(url: str) -> str:
    """scheme://host:port of a URL, without a user name, password, path or query."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _redirected(domain: str, response: requests.Response) -> ApiSetupError:
    """Kianda's address answered with a redirect, which is never followed."""
    target = _SCRUB(response.headers.get("Location", "another address"))[:200]
    return ApiSetupError(
        f"{domain} answered HTTP {response.status_code}, a redirect to {target}. "
        "kianda-sync does not follow redirects, so the token and password only ever "
        "go to KIANDA_DOMAIN: if that address is right, set KIANDA_DOMAIN to it."
    )


def _stopped(error: ApiError) -> ApiStopped:
    """A request left waiting for its retry by a stopping run: it was never acted on."""
    return ApiStopped(
        f"Not sent: the run stopped while this request waited to be sent again "
        f"({str(error).rstrip('.')}).",
        status=error.status,
    )


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _get(answer: Any, key: str) -> Any:
    """A key of a JSON object, in whatever case Kianda spelled it."""
    if not isinstance(answer, dict):
        return None
    for name, value in answer.items():
        if name.lower() == key.lower():
            return value
    return None


def _server_message(response: requests.Response) -> str:
    """Kianda's own words about a failure, from whichever key it used."""
    data = _json(response)
    if isinstance(data, dict):
        for key in ("message", "error_description", "error", "errors", "Message"):
            value = data.get(key)
            if value:
                said = value if isinstance(value, str) else json.dumps(value)
                return _SCRUB(said)[:500].rstrip(". ")
    text = response.text.strip()
    if data is None and text.startswith("<"):
        return (
            "a web page came back instead of Kianda's answer, so KIANDA_DOMAIN may "
            "point at another web site"
        )
    if data is None and text:
        return _SCRUB(text)[:200]
    return ""


def _status_error(method: str, path: str, response: requests.Response) -> ApiError:
    """The exception for a failing status, with Kianda's message."""
    status = response.status_code
    detail = _server_message(response).rstrip(".")
    said = f": {detail}" if detail else ""
    log.debug("%s %s -> %s %s", method, path, status, _SCRUB(response.text)[:2000])
    if response.is_redirect:
        return _redirected(_origin(response.url), response)
    if status == 401:
        return ApiAuthError(
            f"Kianda refused the token (HTTP 401){said}. Set a fresh KIANDA_TOKEN, "
            "or KIANDA_USERNAME, KIANDA_PASSWORD and KIANDA_SUBSCRIPTION_ID.",
            status=status,
        )
    if status == 403:
        return ApiAuthError(
            f"Kianda refused access (HTTP 403){said}. The API needs a user with the "
            "administrator role.",
            status=status,
        )
    if status in NOT_ACTED_STATUSES:
        return ApiRateLimited(
            f"Kianda kept answering HTTP {status} (busy){said}. Run again later, or "
            "with a lower --concurrency or --max-rps.",
            status=status,
        )
    if status >= 500:
        return ApiUnavailable(
            f"Kianda failed with HTTP {status}{said}.",
            status=status,
            maybe_sent=True,
            advice="Run again later; if this row keeps failing, ask your Kianda "
            "administrator what the server logged.",
        )
    return ApiRejected(
        f"Kianda refused the request (HTTP {status}){said}.", status=status
    )


def _answer(method: str, path: str, response: requests.Response) -> Any:
    """The JSON of a successful answer, or the ApiError a failing one stands for."""
    if not 200 <= response.status_code < 300:
        raise _status_error(method, path, response)
    data = _json(response)
    success = _get(data, "success")
    if success is not None and success is not True:
        detail = _server_message(response)
        log.debug(
            "%s %s -> success=%r %s",
            method,
            path,
            success,
            _SCRUB(response.text)[:2000],
        )
        raise ApiRejected(
            "Kianda answered that the request did not succeed"
            + (f": {detail}" if detail else "")
            + "."
        )
    return data
