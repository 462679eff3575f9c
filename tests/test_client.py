"""The Kianda client against the emulator over real HTTP: calls, tokens, failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from sync.client import KiandaClient
from sync.convert import FieldValue
from sync.emulator import Emulator, EmulatorStore, User
from sync.errors import ApiAuthError, ApiRejected, ApiUnavailable
from sync.settings import Settings

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
    settings = Settings(**{"domain": emulator.url, "max_retries": 0, **kw})  # type: ignore[arg-type]
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
