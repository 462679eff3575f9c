"""The Kianda client against the emulator over real HTTP: calls, tokens, failures."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import SecretStr

import sync.client
from sync.client import KiandaClient
from sync.convert import FieldValue
from sync.emulator import Emulator, EmulatorStore, User
from sync.errors import (
    ApiAuthError,
    ApiRateLimited,
    ApiRejected,
    ApiSetupError,
    ApiStopped,
    ApiUnavailable,
)
from sync.settings import Settings
from tests.conftest import Answering, serving

TOKEN = "static-test-token"


class Clock:
    """A hand-wound monotonic clock shared by the emulator and the client."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A clock that only moves when a test moves it."""
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[Emulator]:
    """An emulator with one process, a static token and two logins."""
    store = EmulatorStore()
    store.add_process("leave", ["reason", "days"])
    users = {"admin": User("s3cret"), "clerk": User("pw", admin=False)}
    with Emulator(store, token=TOKEN, users=users, token_ttl=299, clock=clock) as emu:
        yield emu


def _client(
    emulator: Emulator, clock: Clock | None = None, **kw: object
) -> KiandaClient:
    settings = Settings(**{"domain": emulator.url, "max_retries": 0, **kw})
    return KiandaClient(settings, clock=clock or Clock(), sleep=lambda _: None)


def _login(**kw: object) -> dict[str, object]:
    return {
        "username": "admin",
        "password": SecretStr("s3cret"),
        "subscription_id": "emulator",
        **kw,
    }


def test_client_create_then_read_back(emulator: Emulator) -> None:
    """A create returns the server's ID and the fields read back as sent."""
    client = _client(emulator, token=SecretStr(TOKEN))

    first = client.create("leave", [FieldValue("reason", "Holiday", "Holiday")])
    second = client.create("leave", [FieldValue("days", "3", "3")])

    assert (first, second) == ("leave-1", "leave-2")
    assert client.read_fields(first, ["reason"]) == {"reason": ("Holiday", "Holiday")}
    assert client.read_fields(first, ["reason", "days"]) == {
        "reason": ("Holiday", "Holiday"),
        "days": ("", ""),
    }


def test_client_patch_keeps_other_fields_put_replaces(emulator: Emulator) -> None:
    """A partial update changes only what it sends; a full update blanks the rest."""
    client = _client(emulator, token=SecretStr(TOKEN))
    instance = client.create(
        "leave",
        [FieldValue("reason", "Holiday", "Holiday"), FieldValue("days", "3", "3")],
    )

    client.update(instance, "leave", [FieldValue("days", "4", "4")])
    after_patch = emulator.store.get(instance)
    client.update(instance, "leave", [FieldValue("days", "5", "5")], partial=False)
    after_put = emulator.store.get(instance)

    assert after_patch is not None and after_put is not None
    assert after_patch["fields"] == {
        "reason": {"text": "Holiday", "value": "Holiday"},
        "days": {"text": "4", "value": "4"},
    }
    assert after_put["fields"] == {"days": {"text": "5", "value": "5"}}
    assert emulator.store.request_log[-2:] == [
        ("PATCH", f"/api/instances/{instance}/update"),
        ("PUT", f"/api/instances/{instance}"),
    ]


def test_client_patch_path_is_a_setting(emulator: Emulator) -> None:
    """KIANDA_PATCH_PATH chooses the PATCH address."""
    client = _client(
        emulator, token=SecretStr(TOKEN), patch_path="/api/instances/{name}"
    )
    instance = client.create("leave", [FieldValue("days", "1", "1")])

    client.update(instance, "leave", [FieldValue("days", "2", "2")])

    assert emulator.store.request_log[-1] == ("PATCH", f"/api/instances/{instance}")


def test_client_rejection_carries_server_message(emulator: Emulator) -> None:
    """A 400 becomes ApiRejected with Kianda's own words."""
    client = _client(emulator, token=SecretStr(TOKEN))

    with pytest.raises(ApiRejected) as caught:
        client.create("leave", [FieldValue("colour", "red", "red")])

    assert caught.value.status == 400
    assert "colour" in str(caught.value)


def test_client_unknown_instance_is_rejected(emulator: Emulator) -> None:
    """An update of an instance Kianda does not have fails with 404."""
    client = _client(emulator, token=SecretStr(TOKEN))

    with pytest.raises(ApiRejected) as caught:
        client.update("leave-99", "leave", [FieldValue("days", "1", "1")])

    assert caught.value.status == 404


def test_client_wrong_static_token_is_an_auth_error(emulator: Emulator) -> None:
    """A refused KIANDA_TOKEN raises ApiAuthError, and the message omits the token."""
    client = _client(emulator, token=SecretStr("wrong-token-xyz"))

    with pytest.raises(ApiAuthError) as caught:
        client.create("leave", [])

    assert caught.value.status == 401
    assert "wrong-token-xyz" not in str(caught.value)
    assert "wrong-token-xyz" not in repr(client)


def test_client_logs_in_with_password(emulator: Emulator, clock: Clock) -> None:
    """Username, password and subscription ID get a token from POST /token."""
    client = _client(emulator, clock, **_login())

    client.create("leave", [])

    assert client.stats.logins == 1
    assert emulator.store.request_log[:2] == [
        ("POST", "/token"),
        ("POST", "/api/instances/create"),
    ]


def test_client_renews_token_before_expiry(emulator: Emulator, clock: Clock) -> None:
    """A login token is renewed before its five minutes run out."""
    client = _client(emulator, clock, **_login())
    client.create("leave", [])

    clock.now += 280  # inside the renewal margin, still valid on the server
    client.create("leave", [])

    assert client.stats.logins == 2
    assert emulator.store.count("POST", "/token") == 2


def test_client_renews_once_on_401(emulator: Emulator, clock: Clock) -> None:
    """A token the server has dropped is renewed once and the call succeeds."""
    client = _client(emulator, clock, **_login())
    client.create("leave", [])
    emulator._grants.clear()  # the server forgets every token it issued

    client.create("leave", [])

    assert client.stats.logins == 2
    assert [p for _, p in emulator.store.request_log] == [
        "/token",
        "/api/instances/create",
        "/api/instances/create",
        "/token",
        "/api/instances/create",
    ]


def test_client_bad_password_is_an_auth_error(emulator: Emulator) -> None:
    """A refused login says which user and never shows the password."""
    client = _client(emulator, **_login(password=SecretStr("nope-pass")))

    with pytest.raises(ApiAuthError) as caught:
        client.create("leave", [])

    assert "user 'admin'" in str(caught.value)
    assert "(The user name or password is incorrect)" in str(caught.value)
    assert "nope-pass" not in str(caught.value)


def test_client_non_admin_gets_403(emulator: Emulator) -> None:
    """A user without the administrator role is refused with a clear reason."""
    client = _client(emulator, **_login(username="clerk", password=SecretStr("pw")))

    with pytest.raises(ApiAuthError) as caught:
        client.create("leave", [])

    assert caught.value.status == 403
    assert "administrator role" in str(caught.value)


def test_client_server_down_is_unavailable_and_not_sent() -> None:
    """A refused connection raises ApiUnavailable that knows nothing was sent."""
    with Emulator() as emu:
        url = emu.url
    client = KiandaClient(
        Settings(domain=url, token=SecretStr(TOKEN), max_retries=0),
        sleep=lambda _: None,
    )

    with pytest.raises(ApiUnavailable) as caught:
        client.create("leave", [])

    assert caught.value.maybe_sent is False
    assert "could not be reached (connection refused)" in str(caught.value)


def test_client_lost_create_answer_is_maybe_sent(emulator: Emulator) -> None:
    """A create whose answer is lost is not retried: it may exist in Kianda."""
    emulator.faults.lose_create_answer = 1.0
    client = _client(emulator, token=SecretStr(TOKEN), max_retries=5)

    with pytest.raises(ApiUnavailable) as caught:
        client.create("leave", [FieldValue("days", "1", "1")])

    assert caught.value.maybe_sent is True
    assert emulator.store.count("POST", "/api/instances/create") == 1
    assert len(emulator.store.instances("leave")) == 1


class Sleeps:
    """Records the client's waits and moves its clock by them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.clock.now += seconds


def _faulty_client(
    emulator: Emulator, clock: Clock, **kw: object
) -> tuple[KiandaClient, Sleeps]:
    sleeps = Sleeps(clock)
    settings = Settings(
        **{"domain": emulator.url, "token": SecretStr(TOKEN), "max_retries": 2, **kw}
    )
    return KiandaClient(settings, clock=clock, sleep=sleeps), sleeps


def test_client_create_after_429_waits_retry_after(
    emulator: Emulator, clock: Clock
) -> None:
    """A 429 with Retry-After is resent after exactly that wait, even for a create."""
    emulator.faults.rate_429 = 1.0
    emulator.faults.retry_after = 0.25
    client, sleeps = _faulty_client(emulator, clock)

    with pytest.raises(ApiRateLimited) as caught:
        client.create("leave", [FieldValue("days", "1", "1")])

    assert sleeps.waits == [0.25, 0.25]
    assert client.stats.retries == 2
    assert emulator.store.count("POST", "/api/instances/create") == 3
    assert emulator.store.instances("leave") == {}
    assert "Kianda kept answering HTTP 429 (busy)" in str(caught.value)


def test_client_create_after_503_backs_off_exponentially(
    emulator: Emulator, clock: Clock
) -> None:
    """A 503 without Retry-After is resent after a growing, jittered wait."""
    emulator.faults.rate_503 = 1.0
    client, sleeps = _faulty_client(emulator, clock, max_retries=3)

    with pytest.raises(ApiRateLimited):
        client.create("leave", [FieldValue("days", "1", "1")])

    first, second, third = sleeps.waits
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0
    assert 1.0 <= third <= 2.0
    assert emulator.store.count("POST", "/api/instances/create") == 4


@pytest.mark.parametrize(
    ("fault", "stored", "said"),
    [
        ("rate_500", 1, "Kianda failed with HTTP 500"),
        ("rate_502", 1, "Kianda failed with HTTP 502: Bad gateway"),
        ("rate_504", 1, "Kianda failed with HTTP 504: Gateway timeout"),
        ("rate_reset", 0, "broke before its answer came"),
    ],
    ids=["500", "502", "504", "reset"],
)
def test_client_create_that_may_have_acted_is_never_resent(
    emulator: Emulator, clock: Clock, fault: str, stored: int, said: str
) -> None:
    """After a 500, 502, 504 or a reset, a create is not resent: Kianda may hold it."""
    setattr(emulator.faults, fault, 1.0)
    client, sleeps = _faulty_client(emulator, clock, max_retries=5)

    with pytest.raises(ApiUnavailable) as caught:
        client.create("leave", [FieldValue("days", "1", "1")])

    assert caught.value.maybe_sent is True
    assert said in str(caught.value)
    assert sleeps.waits == []
    assert emulator.store.count("POST", "/api/instances/create") == 1
    assert len(emulator.store.instances("leave")) == stored


@pytest.mark.parametrize("fault", ["rate_reset", "rate_502", "rate_504"])
def test_client_update_that_may_have_acted_is_resent(
    emulator: Emulator, clock: Clock, fault: str
) -> None:
    """An update after a reset, 502 or 504 is sent again: repeating it is harmless."""
    client, _ = _faulty_client(emulator, clock, max_retries=3)
    instance = client.create("leave", [FieldValue("days", "1", "1")])
    setattr(emulator.faults, fault, 1.0)

    with pytest.raises(ApiUnavailable):
        client.update(instance, "leave", [FieldValue("days", "2", "2")])

    assert emulator.store.count("PATCH") == 4
    assert client.stats.retries == 3


def test_client_update_after_500_is_not_resent(
    emulator: Emulator, clock: Clock
) -> None:
    """A 500 is Kianda failing, not busy: the update fails at once with its message."""
    client, sleeps = _faulty_client(emulator, clock, max_retries=3)
    instance = client.create("leave", [FieldValue("days", "1", "1")])
    emulator.faults.rate_500 = 1.0

    with pytest.raises(ApiUnavailable) as caught:
        client.update(instance, "leave", [FieldValue("days", "2", "2")])

    assert str(caught.value).startswith("Kianda failed with HTTP 500")
    assert emulator.store.count("PATCH") == 1
    assert sleeps.waits == []


def test_client_read_after_504_is_resent_and_answers(
    emulator: Emulator, clock: Clock
) -> None:
    """A read that meets a 504 is sent again and returns the instance's fields."""
    waits: list[float] = []

    def gateway_recovers(seconds: float) -> None:
        waits.append(seconds)
        emulator.faults.rate_504 = 0.0

    settings = Settings(domain=emulator.url, token=SecretStr(TOKEN), max_retries=3)
    client = KiandaClient(settings, clock=clock, sleep=gateway_recovers)
    instance = client.create("leave", [FieldValue("days", "1", "1")])
    emulator.faults.rate_504 = 1.0

    assert client.read_fields(instance, ["days"]) == {"days": ("1", "1")}
    assert emulator.store.count("GET") == 2
    assert client.stats.retries == 1
    assert len(waits) == 1


def test_client_create_waits_a_retry_after_given_as_a_date(
    emulator: Emulator, clock: Clock
) -> None:
    """Retry-After as an HTTP date is waited out until that time (whole seconds)."""
    emulator.faults.rate_429 = 1.0
    emulator.faults.retry_after = 3
    emulator.faults.retry_after_date = True
    client, sleeps = _faulty_client(emulator, clock, max_retries=1)

    with pytest.raises(ApiRateLimited):
        client.create("leave", [FieldValue("days", "1", "1")])

    assert len(sleeps.waits) == 1
    assert 1.5 <= sleeps.waits[0] <= 3.0
    assert emulator.store.count("POST", "/api/instances/create") == 2


def test_client_waits_a_long_retry_after_in_full(
    emulator: Emulator, clock: Clock
) -> None:
    """A Retry-After of four minutes is waited out as asked, not cut short."""
    emulator.faults.rate_429 = 1.0
    emulator.faults.retry_after = 240
    client, sleeps = _faulty_client(emulator, clock, max_retries=1)

    with pytest.raises(ApiRateLimited):
        client.create("leave", [FieldValue("days", "1", "1")])

    assert sleeps.waits == [240.0]
    assert emulator.store.count("POST", "/api/instances/create") == 2


def test_client_gives_up_when_asked_to_wait_longer_than_five_minutes(
    emulator: Emulator, clock: Clock
) -> None:
    """Asked to wait an hour, the row fails at once and the message says so."""
    emulator.faults.rate_429 = 1.0
    emulator.faults.retry_after = 3600
    client, sleeps = _faulty_client(emulator, clock, max_retries=5)

    with pytest.raises(ApiRateLimited) as caught:
        client.create("leave", [FieldValue("days", "1", "1")])

    assert sleeps.waits == []
    assert client.stats.retries == 0
    assert emulator.store.count("POST", "/api/instances/create") == 1
    assert re.fullmatch(
        r"Kianda answered HTTP 429 \(busy\) and asked to wait 60 minutes, longer "
        r"than the 5 minutes kianda-sync waits\. Run again after "
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\.",
        str(caught.value),
    )


def test_client_create_is_resent_after_a_refused_connection() -> None:
    """Nothing reached Kianda when the connection was refused: the create is resent."""
    with Emulator() as emu:
        url = emu.url
    waits: list[float] = []
    client = KiandaClient(
        Settings(domain=url, token=SecretStr(TOKEN), max_retries=2),
        sleep=waits.append,
    )

    with pytest.raises(ApiUnavailable) as caught:
        client.create("leave", [])

    assert caught.value.maybe_sent is False
    assert client.stats.retries == 2
    assert client.stats.requests == 3
    assert len(waits) == 2


def test_client_create_after_read_timeout_is_not_resent(emulator: Emulator) -> None:
    """A create Kianda answers too late is given up, not resent, and is stored."""
    emulator.faults.latency_ms = 300
    settings = Settings(
        domain=emulator.url, token=SecretStr(TOKEN), timeout=0.1, max_retries=5
    )
    client = KiandaClient(settings, sleep=lambda _: None)

    with pytest.raises(ApiUnavailable) as caught:
        client.create("leave", [FieldValue("days", "1", "1")])
    deadline = time.monotonic() + 5
    while not emulator.store.instances("leave") and time.monotonic() < deadline:
        time.sleep(0.02)

    assert caught.value.maybe_sent is True
    assert "did not answer within 0.1 seconds" in str(caught.value)
    assert emulator.store.count("POST", "/api/instances/create") == 1
    assert len(emulator.store.instances("leave")) == 1


def test_client_max_rps_spaces_requests(emulator: Emulator, clock: Clock) -> None:
    """With --max-rps 4, five creates start a quarter of a second apart."""
    client, sleeps = _faulty_client(emulator, clock, max_rps=4)

    for _ in range(5):
        client.create("leave", [])

    assert sleeps.waits == [0.25, 0.25, 0.25, 0.25]


def test_client_pool_keeps_one_connection_per_request_in_flight(
    emulator: Emulator,
) -> None:
    """Sixteen requests in flight are served by sixteen kept-alive connections."""
    emulator.faults.latency_ms = 50
    client = KiandaClient(
        Settings(domain=emulator.url, token=SecretStr(TOKEN), concurrency=16)
    )

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda _: client.create("leave", []), range(48)))

    assert len(set(ids)) == 48
    assert emulator.connections == 16


def test_client_token_refused_right_after_login_is_an_auth_error(clock: Clock) -> None:
    """A token refused as soon as it is issued is renewed once, then the call stops."""
    store = EmulatorStore()
    store.add_process("leave", ["days"])
    users = {"admin": User("s3cret")}
    with Emulator(
        store, users=users, token_ttl=0, announced_ttl=299, clock=clock
    ) as emulator:
        client = _client(emulator, clock, **_login())

        with pytest.raises(ApiAuthError) as caught:
            client.create("leave", [])

    assert caught.value.status == 401
    assert client.stats.logins == 2
    assert client.stats.renewals == 1
    assert store.instances("leave") == {}


def test_client_token_that_worked_is_renewed_whenever_it_expires(
    clock: Clock,
) -> None:
    """A token that worked and then expires early is renewed each time, not refused."""
    store = EmulatorStore()
    store.add_process("leave", ["days"])
    users = {"admin": User("s3cret")}
    with Emulator(
        store, users=users, token_ttl=10, announced_ttl=299, clock=clock
    ) as emulator:
        client = _client(emulator, clock, **_login())
        for _ in range(3):
            client.create("leave", [])
            clock.now += 11

    assert client.stats.logins == 3
    assert client.stats.renewals == 2
    assert len(store.instances("leave")) == 3


def _no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_client_goes_through_the_proxy_the_environment_names(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is used (here a dead one), unless NO_PROXY names the host."""
    with Emulator() as dead:
        proxy = dead.url
    _no_proxy_settings(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy)

    with pytest.raises(ApiUnavailable) as caught:
        _client(emulator, token=SecretStr(TOKEN)).create("leave", [])
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    created = _client(emulator, token=SecretStr(TOKEN)).create("leave", [])

    assert str(caught.value) == (
        f"The proxy for {emulator.url} could not be reached, so nothing was sent. "
        "Check HTTPS_PROXY / HTTP_PROXY, or add the host to NO_PROXY."
    )
    assert caught.value.maybe_sent is False
    assert created == "leave-1"


def test_client_netrc_entry_does_not_replace_the_token(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A ~/.netrc entry for the Kianda host leaves the bearer token in place."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    _no_proxy_settings(monkeypatch)

    created = _client(emulator, token=SecretStr(TOKEN)).create("leave", [])

    assert created == "leave-1"
    assert emulator.store.count("POST", "/api/instances/create") == 1


def test_client_stop_ends_a_retry_wait_at_once(emulator: Emulator) -> None:
    """A create waiting out a 20 s Retry-After ends as soon as the client stops, as
    not sent (Kianda refused it before acting), and no retry is counted."""
    emulator.faults.rate_429 = 1.0
    emulator.faults.retry_after = 20
    client = KiandaClient(
        Settings(domain=emulator.url, token=SecretStr(TOKEN), max_retries=5)
    )

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.create, "leave", [])
        deadline = time.monotonic() + 5
        while emulator.store.count("POST", "/api/instances/create") == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)  # until the first try has been answered 429
        client.stop()
        with pytest.raises(ApiStopped) as caught:
            waiting.result(timeout=5)  # not after five waits of 20 s

    assert emulator.store.count("POST", "/api/instances/create") == 1
    assert client.stats.retries == 0
    assert str(caught.value) == (
        "Not sent: the run stopped while this request waited to be sent again "
        "(Kianda kept answering HTTP 429 (busy): Too many requests. Run again later, "
        "or with a lower --concurrency or --max-rps)."
    )


def test_client_web_page_instead_of_kianda_says_check_the_domain(
    emulator: Emulator,
) -> None:
    """A web server that is not Kianda answers HTML: the message says so."""

    class WebPage(Answering):
        def do_POST(self) -> None:
            page = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
            self.answer(404, page, "text/html")

    with serving(WebPage) as url:
        client = KiandaClient(Settings(domain=url, token=SecretStr(TOKEN)))
        with pytest.raises(ApiRejected) as caught:
            client.create("leave", [])

    assert str(caught.value) == (
        "Kianda refused the request (HTTP 404): a web page came back instead of "
        "Kianda's answer, so KIANDA_DOMAIN may point at another web site."
    )


def test_client_stop_ends_requests_waiting_for_their_turn_unsent(
    emulator: Emulator,
) -> None:
    """With one request allowed in flight and it slow, the others wait for their
    turn; once the client stops, they end at once and none of them is sent."""
    emulator.faults.latency_ms = 500
    client = KiandaClient(
        Settings(domain=emulator.url, token=SecretStr(TOKEN), concurrency=1)
    )

    with ThreadPoolExecutor(4) as pool:
        sent = [pool.submit(client.create, "leave", []) for _ in range(4)]
        deadline = time.monotonic() + 5
        while emulator.store.count("POST", "/api/instances/create") == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)  # the first is with Kianda; the others wait their turn
        client.stop()
        done = [f.exception(timeout=5) or f.result() for f in sent]

    stopped = [d for d in done if isinstance(d, ApiStopped)]
    assert len(stopped) == 3
    assert {str(d) for d in stopped} == {
        "Not sent: the run stopped before this request's turn."
    }
    assert emulator.store.count("POST", "/api/instances/create") == 1
    assert client.stats.requests == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 0.25 ", 0.25),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("-5", None),
        ("-0", None),
        ("1_0", None),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        ("", None),
    ],
)
def test_client_reads_retry_after_as_http_allows_it(
    header: str, seconds: float | None
) -> None:
    """Whole or decimal seconds, or an HTTP date (one past means at once); anything
    else, such as a negative number, leaves the usual growing wait in charge."""
    assert sync.client._retry_after_seconds(header) == seconds


def test_client_counts_a_retry_only_when_it_is_sent(emulator: Emulator) -> None:
    """A retry whose wait ended just as the run stopped is never sent, so it is not
    counted: the summary's retries are the requests sent again, no more."""
    emulator.faults.rate_429 = 1.0
    client = KiandaClient(
        Settings(domain=emulator.url, token=SecretStr(TOKEN), max_retries=3),
        sleep=lambda _: client.concurrency.stop(),  # the stop lands during the wait
    )

    with pytest.raises(ApiStopped):
        client.create("leave", [])

    assert emulator.store.count("POST", "/api/instances/create") == 1
    assert (client.stats.requests, client.stats.retries) == (1, 0)


class _Redirect(Answering):
    """Answers every POST with a 307 to another address, counting what it saw."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        type(self).seen.append(self.path)
        where = {"Location": "http://localhost:9/elsewhere" + self.path}
        self.answer(307, headers=where)


@pytest.mark.parametrize("login", [False, True], ids=["token", "password"])
def test_client_never_follows_a_redirect_with_the_secrets(login: bool) -> None:
    """A redirect is not followed, so the token or password never reaches another
    address; the error says where Kianda's address pointed and what to do."""
    handler = type("Handler", (_Redirect,), {"seen": []})
    secrets = (
        {"username": "admin", "password": SecretStr("pw-1234"), "subscription_id": "s"}
        if login
        else {"token": SecretStr(TOKEN)}
    )
    with serving(handler) as url:
        client = KiandaClient(Settings(domain=url, **secrets))
        with pytest.raises(ApiSetupError) as caught:
            client.create("leave", [])

    path = "/token" if login else "/api/instances/create"
    assert handler.seen == [path]
    assert str(caught.value) == (
        f"{url} answered HTTP 307, a redirect to http://localhost:9/elsewhere{path}. "
        "kianda-sync does not follow redirects, so the token and password only ever "
        "go to KIANDA_DOMAIN: if that address is right, set KIANDA_DOMAIN to it."
    )


@pytest.mark.parametrize("token", ["abc\ndef", "abc\u20acdef", "abc def"])
def test_client_refuses_a_login_token_no_header_can_carry(
    emulator: Emulator, token: str
) -> None:
    """A login answer whose token cannot go in a header stops before any request,
    as a refused login: nothing is sent, so no row can be 'unknown'."""

    class OddToken(Answering):
        def do_POST(self) -> None:
            body = json.dumps({"access_token": token, "expires_in": 299}).encode()
            self.answer(200, body)

    with serving(OddToken) as url:
        client = KiandaClient(
            Settings(
                domain=url,
                username="admin",
                password=SecretStr("pw-1234"),
                subscription_id="s",
            )
        )
        with pytest.raises(ApiAuthError) as caught:
            client.create("leave", [])

    assert client.stats.requests == 0
    assert "an access token with spaces or characters an HTTP header cannot carry" in (
        str(caught.value)
    )
