"""Tests of the built-in Kianda emulator, over real HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sync.emulator import Emulator, EmulatorStore, Process, User, load_processes

TOKEN = "static-admin-token"
PROCESS = "leave-request"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def call(method: str, url: str, **kw: Any) -> requests.Response:
    """Send one request with a timeout, so a hung emulator fails the test."""
    return requests.request(method, url, timeout=10, **kw)


class FakeClock:
    """A clock the tests move by hand, to expire tokens without waiting."""

    def __init__(self) -> None:
        """Start at an arbitrary monotonic time."""
        self.now = 1000.0

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    """A running emulator with one process, a static token and two logins."""
    store = EmulatorStore()
    store.add_process(PROCESS, ["reason", "days", "approver"])
    users = {"ann": User("s3cret"), "bob": User("pw", admin=False)}
    with Emulator(store, token=TOKEN, users=users, clock=clock) as emulator:
        yield emulator


def mapping(name: str, text: str, value: str | None = None) -> dict[str, str]:
    """Build one FieldsMappings entry."""
    return {"fieldname": name, "text": text, "value": text if value is None else value}


def create(
    emu: Emulator, *fields: dict[str, Any], process: str = PROCESS
) -> requests.Response:
    """POST a create request as the docs show it, and return the response."""
    body = {
        "processName": process,
        "instanceID": process,
        "TriggerField": "",
        "FieldsMappings": list(fields),
    }
    return call("POST", f"{emu.url}/api/instances/create", json=body, headers=AUTH)


def login(emu: Emulator, **form: str) -> requests.Response:
    """POST /token with a password grant for ann, overridden by `form`."""
    data = {
        "grant_type": "password",
        "username": "ann",
        "password": "s3cret",
        "scope": "emulator",
    }
    return call("POST", f"{emu.url}/token", data={**data, **form})


def test_create_returns_sequential_ids_per_process(emu: Emulator) -> None:
    """Create numbers instances from 1 per process and stores the sent fields."""
    emu.store.add_process("expense", None)
    first = create(emu, mapping("reason", "New employee"))
    second = create(emu)
    other = create(emu, process="expense")
    assert (first.status_code, first.json()) == (
        200,
        {"success": True, "instanceID": "leave-request-1"},
    )
    assert second.json() == {"success": True, "instanceID": "leave-request-2"}
    assert other.json() == {"success": True, "instanceID": "expense-1"}
    assert emu.store.get("leave-request-1") == {
        "process": PROCESS,
        "fields": {"reason": {"text": "New employee", "value": "New employee"}},
        "version": 1,
        "status": "",
    }
    assert list(emu.store.instances("expense")) == ["expense-1"]


def test_create_accepts_keys_in_any_case(emu: Emulator) -> None:
    """Create reads processName and mapping keys whatever their casing."""
    body = {
        "processname": PROCESS,
        "FIELDSMAPPINGS": [{"FieldName": "days", "Text": "Two", "VALUE": "2"}],
    }
    resp = call("POST", f"{emu.url}/api/instances/create", json=body, headers=AUTH)
    assert resp.json() == {"success": True, "instanceID": "leave-request-1"}
    record = emu.store.get("leave-request-1")
    assert record is not None
    assert record["fields"] == {"days": {"text": "Two", "value": "2"}}


def test_create_unknown_process_is_404(emu: Emulator) -> None:
    """Create refuses a process the emulator does not know."""
    resp = create(emu, process="nope")
    assert (resp.status_code, resp.json()) == (
        404,
        {"success": False, "message": "Process 'nope' not found."},
    )
    assert emu.store.instances() == {}


def test_create_unknown_field_is_400(emu: Emulator) -> None:
    """Create refuses a field name that the process does not have."""
    resp = create(emu, mapping("reason", "x"), mapping("colour", "red"))
    assert (resp.status_code, resp.json()) == (
        400,
        {
            "success": False,
            "message": "Field 'colour' does not exist in process 'leave-request'.",
        },
    )
    assert emu.store.instances() == {}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"fieldname": "days", "text": "2", "value": 2},
            "Field 'days': 'value' must be a JSON string (got a number).",
        ),
        (
            {"fieldname": "days", "text": None, "value": "2"},
            "Field 'days': 'text' must be a JSON string (got null).",
        ),
        (
            {"fieldname": "days", "text": "2"},
            "Field 'days': 'value' must be a JSON string (got nothing).",
        ),
    ],
)
def test_create_non_string_text_or_value_is_400(
    emu: Emulator, entry: dict[str, Any], message: str
) -> None:
    """Create refuses a text or value that is not a JSON string, naming the field."""
    resp = create(emu, entry)
    assert (resp.status_code, resp.json()) == (
        400,
        {"success": False, "message": message},
    )


def test_create_bad_json_is_400(emu: Emulator) -> None:
    """Create refuses a body that is not JSON."""
    resp = call(
        "POST", f"{emu.url}/api/instances/create", data=b"{not json", headers=AUTH
    )
    assert (resp.status_code, resp.json()) == (
        400,
        {"success": False, "message": "The request body is not valid JSON."},
    )


def test_create_concurrent_requests_get_distinct_ids(emu: Emulator) -> None:
    """Parallel creates each get their own number, 1 to 20."""
    ids: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        """Create one instance and keep its ID."""
        got = create(emu).json()["instanceID"]
        with lock:
            ids.append(got)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == sorted(f"leave-request-{n}" for n in range(1, 21))


def test_put_blanks_unsent_fields_and_bumps_version(emu: Emulator) -> None:
    """PUT replaces all fields, sets the status and bumps the version."""
    create(emu, mapping("reason", "Old"), mapping("days", "3"))
    body = {
        "ProcessName": PROCESS,
        "FieldsMappings": [mapping("days", "Five", "5")],
        "TriggerField": "days",
        "Status": "Approval",
    }
    resp = call(
        "PUT", f"{emu.url}/api/instances/leave-request-1", json=body, headers=AUTH
    )
    assert (resp.status_code, resp.json()) == (
        200,
        {
            "ProcessName": PROCESS,
            "FieldsMappings": [{"fieldname": "days", "text": "Five", "value": "5"}],
            "TriggerField": "days",
            "Status": "Approval",
            "success": True,
        },
    )
    assert emu.store.get("leave-request-1") == {
        "process": PROCESS,
        "fields": {"days": {"text": "Five", "value": "5"}},
        "version": 2,
        "status": "Approval",
    }


def test_put_other_process_name_is_400(emu: Emulator) -> None:
    """PUT refuses a ProcessName other than the instance's own."""
    create(emu, mapping("reason", "Old"))
    body = {"ProcessName": "expense", "FieldsMappings": []}
    resp = call(
        "PUT", f"{emu.url}/api/instances/leave-request-1", json=body, headers=AUTH
    )
    assert (resp.status_code, resp.json()["success"]) == (400, False)
    assert resp.json()["message"] == (
        "Instance 'leave-request-1' belongs to process 'leave-request', not 'expense'."
    )
    record = emu.store.get("leave-request-1")
    assert record is not None
    assert (record["version"], record["fields"]["reason"]["text"]) == (1, "Old")


@pytest.mark.parametrize("suffix", ["/update", ""])
def test_patch_keeps_unsent_fields(emu: Emulator, suffix: str) -> None:
    """PATCH on either path changes only the sent fields and bumps the version."""
    create(emu, mapping("reason", "Old"), mapping("days", "3"))
    body = {"ProcessName": PROCESS, "FieldsMappings": [mapping("days", "4")]}
    resp = call(
        "PATCH",
        f"{emu.url}/api/instances/leave-request-1{suffix}",
        json=body,
        headers=AUTH,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        {
            "ProcessName": PROCESS,
            "FieldsMappings": [
                {"fieldname": "reason", "text": "Old", "value": "Old"},
                {"fieldname": "days", "text": "4", "value": "4"},
            ],
            "TriggerField": "",
            "Status": "",
            "success": True,
        },
    )
    record = emu.store.get("leave-request-1")
    assert record is not None
    assert record["version"] == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/instances/leave-request-9"),
        ("PATCH", "/api/instances/leave-request-9/update"),
        ("GET", "/api/instances/leave-request-9/fields?names=reason"),
    ],
)
def test_instance_unknown_is_404(emu: Emulator, method: str, path: str) -> None:
    """Reads and updates of an instance that does not exist answer 404."""
    body = {"ProcessName": PROCESS, "FieldsMappings": []}
    resp = call(method, f"{emu.url}{path}", json=body, headers=AUTH)
    assert (resp.status_code, resp.json()) == (
        404,
        {"success": False, "message": "Instance 'leave-request-9' not found."},
    )


def test_fields_one_name_returns_an_object(emu: Emulator) -> None:
    """GET fields with one name answers a single {name, text, value} object."""
    create(emu, mapping("approver", "Ann", "ann@example.com"))
    resp = call(
        "GET",
        f"{emu.url}/api/instances/leave-request-1/fields",
        params={"names": "approver"},
        headers=AUTH,
    )
    assert (resp.status_code, resp.json()) == (
        200,
        {"name": "approver", "text": "Ann", "value": "ann@example.com"},
    )


def test_fields_several_names_return_a_list(emu: Emulator) -> None:
    """GET fields with several names answers a list; unset fields are blank."""
    create(emu, mapping("reason", "Trip"))
    resp = call(
        "GET",
        f"{emu.url}/api/instances/leave-request-1/fields?names=reason,days",
        headers=AUTH,
    )
    assert resp.json() == [
        {"name": "reason", "text": "Trip", "value": "Trip"},
        {"name": "days", "text": "", "value": ""},
    ]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_auth_missing_or_wrong_token_is_401(
    emu: Emulator, headers: dict[str, str]
) -> None:
    """An API call without a known bearer token is denied with 401."""
    resp = call(
        "POST",
        f"{emu.url}/api/instances/create",
        json={"processName": PROCESS},
        headers=headers,
    )
    assert (resp.status_code, resp.json()) == (
        401,
        {"message": "Authorization has been denied for this request."},
    )
    assert emu.store.instances() == {}


def test_auth_non_admin_token_is_403(emu: Emulator) -> None:
    """A token of a user without the administrator role gets 403."""
    token = login(emu, username="bob", password="pw").json()["access_token"]
    resp = call(
        "GET",
        f"{emu.url}/api/instances/x/fields?names=a",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (resp.status_code, resp.json()) == (
        403,
        {
            "message": "Authorization has been denied: "
            "the API needs the administrator role."
        },
    )


def test_token_login_issues_a_usable_token(emu: Emulator) -> None:
    """A good password grant answers the documented fields and a working token."""
    resp = login(emu)
    body = resp.json()
    assert resp.status_code == 200
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "userName",
        "userId",
        "subscriptionId",
        "hostURL",
        ".issued",
        ".expires",
    }
    assert (body["token_type"], body["expires_in"], body["userName"]) == (
        "bearer",
        299,
        "ann",
    )
    assert (body["subscriptionId"], body["hostURL"]) == ("emulator", emu.url)
    create_resp = call(
        "POST",
        f"{emu.url}/api/instances/create",
        json={"processName": PROCESS, "FieldsMappings": []},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert create_resp.json() == {"success": True, "instanceID": "leave-request-1"}


@pytest.mark.parametrize(
    "form",
    [
        {"password": "wrong"},
        {"username": "nobody"},
        {"scope": "other-subscription"},
        {"grant_type": "client_credentials"},
    ],
)
def test_token_bad_login_is_400_invalid_grant(
    emu: Emulator, form: dict[str, str]
) -> None:
    """A wrong password, user, scope or grant type answers 400 invalid_grant."""
    resp = login(emu, **form)
    assert (resp.status_code, resp.json()) == (
        400,
        {
            "error": "invalid_grant",
            "error_description": "The user name or password is incorrect.",
        },
    )


def test_token_expires_after_ttl(emu: Emulator, clock: FakeClock) -> None:
    """An issued token works until token_ttl seconds pass on the clock, then 401."""
    headers = {"Authorization": f"Bearer {login(emu).json()['access_token']}"}
    url = f"{emu.url}/api/instances/x/fields?names=a"
    clock.now += 298.9
    assert call("GET", url, headers=headers).status_code == 404
    clock.now += 0.1
    assert call("GET", url, headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/instances/create", "POST"),
        ("DELETE", "/api/instances/leave-request-1", "PUT, PATCH"),
        ("POST", "/api/instances/leave-request-1/fields", "GET"),
        ("GET", "/token", "POST"),
    ],
)
def test_routing_wrong_method_is_405(
    emu: Emulator, method: str, path: str, allow: str
) -> None:
    """A known path called with a method it does not take answers 405 and Allow."""
    resp = call(method, f"{emu.url}{path}", headers=AUTH)
    assert (resp.status_code, resp.headers["Allow"]) == (405, allow)
    assert resp.json() == {
        "success": False,
        "message": f"The requested resource does not support http method '{method}'.",
    }


def test_routing_unknown_path_is_404(emu: Emulator) -> None:
    """A path outside the API answers 404 with a JSON message."""
    resp = call("GET", f"{emu.url}/api/processes", headers=AUTH)
    assert (resp.status_code, resp.json()) == (
        404,
        {"success": False, "message": "No resource at '/api/processes'."},
    )


def test_connection_kept_alive_after_answers(emu: Emulator) -> None:
    """One HTTP/1.1 connection serves a refused POST with a body and a later GET."""
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    conn.request("POST", "/api/instances/create", body=b'{"processName": "x"}')
    first = conn.getresponse()
    assert (first.status, json.loads(first.read())) == (
        401,
        {"message": "Authorization has been denied for this request."},
    )
    sock = conn.sock
    conn.request("GET", "/api/instances/x/fields?names=a", headers=AUTH)
    second = conn.getresponse()
    assert (second.status, second.read(), conn.sock is sock) == (
        404,
        b'{"success": false, "message": "Instance \'x\' not found."}',
        True,
    )
    conn.close()


def test_store_persists_across_emulators(tmp_path: Path) -> None:
    """A second emulator on the same JSON file sees and continues the first's work."""
    state = tmp_path / "state.json"
    first = EmulatorStore(state)
    first.add_process(PROCESS, ["reason"])
    with Emulator(first, token=TOKEN) as emu:
        create(emu, mapping("reason", "Saved"))
    with Emulator(EmulatorStore(state), token=TOKEN) as emu:
        assert create(emu).json()["instanceID"] == "leave-request-2"
        resp = call(
            "GET",
            f"{emu.url}/api/instances/leave-request-1/fields?names=reason",
            headers=AUTH,
        )
        assert resp.json() == {"name": "reason", "text": "Saved", "value": "Saved"}
    assert sorted(EmulatorStore(state).instances()) == [
        "leave-request-1",
        "leave-request-2",
    ]
    assert list(tmp_path.iterdir()) == [state]


def test_store_changes_are_seen_over_http(emu: Emulator) -> None:
    """set_field and remove change what the API answers, as edits in Kianda would."""
    create(emu, mapping("reason", "Old"))
    emu.store.set_field("leave-request-1", "reason", "Edited", "edited")
    url = f"{emu.url}/api/instances/leave-request-1/fields?names=reason"
    assert call("GET", url, headers=AUTH).json() == {
        "name": "reason",
        "text": "Edited",
        "value": "edited",
    }
    emu.store.remove("leave-request-1")
    assert call("GET", url, headers=AUTH).status_code == 404


def test_store_request_log_counts_requests(emu: Emulator) -> None:
    """Every request is logged as (method, path) and counted by method and prefix."""
    create(emu)
    call("GET", f"{emu.url}/api/instances/leave-request-1/fields?names=reason")
    assert emu.store.request_log == [
        ("POST", "/api/instances/create"),
        ("GET", "/api/instances/leave-request-1/fields"),
    ]
    assert emu.store.count() == 2
    assert emu.store.count("post", "/api/instances/") == 1
    assert emu.store.count(path_prefix="/api/instances/leave") == 1


def test_load_processes_reads_both_yaml_shapes(tmp_path: Path) -> None:
    """Processes come from a processes file and from mapping files, merged."""
    listing = tmp_path / "processes.yaml"
    listing.write_text("processes:\n  expense: [amount]\n  open: null\n")
    mapped = tmp_path / "expense.yaml"
    mapped.write_text("process: expense\nfields:\n  payee: {column: B}\n")
    store = EmulatorStore()
    load_processes(store, listing)
    load_processes(store, mapped)
    assert store.processes() == {
        "expense": Process("expense", frozenset({"amount", "payee"})),
        "open": Process("open", None),
    }


def test_emulator_from_mapping_files_registers_processes(tmp_path: Path) -> None:
    """from_mapping_files builds an emulator that knows the mapped fields."""
    mapped = tmp_path / "m.yaml"
    mapped.write_text("process: expense\nfields:\n  amount: {column: C}\n")
    with Emulator.from_mapping_files([mapped], token=TOKEN) as emu:
        ok = create(emu, mapping("amount", "12.50"), process="expense")
        bad = create(emu, mapping("payee", "Bob"), process="expense")
    assert ok.json() == {"success": True, "instanceID": "expense-1"}
    assert (bad.status_code, bad.json()["message"]) == (
        400,
        "Field 'payee' does not exist in process 'expense'.",
    )


def test_emulator_auto_processes_accepts_anything() -> None:
    """With auto_processes any process and field name is accepted."""
    with Emulator(token=TOKEN, auto_processes=True) as emu:
        resp = create(emu, mapping("anything", "v"), process="made-up")
        assert resp.json() == {"success": True, "instanceID": "made-up-1"}
        assert emu.store.instances()["made-up-1"]["fields"] == {
            "anything": {"text": "v", "value": "v"}
        }


def test_routing_unsupported_method_is_501_json(emu: Emulator) -> None:
    """A method the server does not implement answers 501 with a JSON message."""
    resp = call("OPTIONS", f"{emu.url}/api/instances/create", headers=AUTH)
    assert (resp.status_code, resp.json()) == (
        501,
        {"message": "Unsupported method ('OPTIONS')"},
    )
