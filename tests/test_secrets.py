"""The token and password never appear anywhere the tool writes, whatever fails."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.emulator import Emulator, EmulatorStore, Faults, User, load_processes
from tests.conftest import SAMPLE_MAPPING, SAMPLE_XLSX, Answering, invoke, serving

TOKEN = "TOKEN-7f3a9c-DO-NOT-LEAK"
PASSWORD = "PASSWORD-b21e-DO-NOT-LEAK"


def _everything_written(folder: Path, output: str) -> str:
    """Every byte the run left: its output, and the text inside every file it wrote."""
    texts = [output]
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        texts.append(data.decode("utf-8", "replace"))
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                texts.extend(
                    book.read(n).decode("utf-8", "replace") for n in book.namelist()
                )
    return "\n".join(texts)


def _bad_mapping(folder: Path) -> list[str]:
    mapping = folder / "m.yaml"
    mapping.write_text("process: x\nkey: [A]\nfields: {a: {colum: A}}\n")
    return [str(mapping)]


Scenario = Callable[[Path, Emulator], tuple[list[str], dict[str, str]]]


def _wrong_token(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    return [], {"KIANDA_TOKEN": TOKEN}


def _server_down(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    return [], {
        "KIANDA_TOKEN": TOKEN,
        "KIANDA_DOMAIN": "http://127.0.0.1:9",
        "KIANDA_MAX_RETRIES": "1",
    }


def _lost_answers(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    emu.faults.lose_create_answer = 0.5
    emu._token = TOKEN
    return [], {"KIANDA_TOKEN": TOKEN}


def _bad_password(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    return [], {
        "KIANDA_USERNAME": "admin",
        "KIANDA_PASSWORD": PASSWORD + "-wrong",
        "KIANDA_SUBSCRIPTION_ID": "emulator",
    }


def _good_login(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    return [], {
        "KIANDA_USERNAME": "admin",
        "KIANDA_PASSWORD": PASSWORD,
        "KIANDA_SUBSCRIPTION_ID": "emulator",
    }


def _not_admin(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    return [], {
        "KIANDA_USERNAME": "clerk",
        "KIANDA_PASSWORD": PASSWORD,
        "KIANDA_SUBSCRIPTION_ID": "emulator",
    }


def _broken_mapping(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    return _bad_mapping(folder), {"KIANDA_TOKEN": TOKEN}


def _missing_input(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    return [str(SAMPLE_MAPPING), str(folder / "nothing.xlsx")], {"KIANDA_TOKEN": TOKEN}


def _insecure_domain(folder: Path, emu: Emulator) -> tuple[list[str], dict[str, str]]:
    return [], {"KIANDA_TOKEN": TOKEN, "KIANDA_DOMAIN": "http://kianda.example"}


SCENARIOS: dict[str, Scenario] = {
    "wrong-token": _wrong_token,
    "server-down": _server_down,
    "lost-answers": _lost_answers,
    "bad-password": _bad_password,
    "good-login": _good_login,
    "not-admin": _not_admin,
    "bad-mapping": _broken_mapping,
    "missing-input": _missing_input,
    "insecure-domain": _insecure_domain,
}


@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["info", "debug"])
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_secrets_never_written(
    scenario: Scenario, verbosity: list[str], tmp_path: Path
) -> None:
    """No output, log, results workbook, summary JSON or ledger holds a secret."""
    folder = tmp_path / "run"
    folder.mkdir()
    sample = Path(shutil.copy(SAMPLE_XLSX, folder / "in.xlsx"))
    store = EmulatorStore()
    load_processes(store, SAMPLE_MAPPING)
    users = {"admin": User(PASSWORD), "clerk": User(PASSWORD, admin=False)}
    with Emulator(
        store, token="the-right-one", users=users, faults=Faults(seed=3)
    ) as emu:
        args, env = scenario(folder, emu)
        env = {
            "KIANDA_DOMAIN": emu.url,
            "KIANDA_LEDGER": str(folder / "ledger.sqlite3"),
            **env,
        }
        command = [*verbosity, "--log-file", str(folder / "run.log"), "run"]
        command += args or [str(SAMPLE_MAPPING), str(sample)]
        command += ["--summary-json", str(folder / "summary.json")]
        result = invoke(command, env)
        config = invoke(["config"], env)

    written = _everything_written(folder, result.output + config.output)
    assert result.exit_code in (0, 1, 2, 3)
    assert (folder / "run.log").exists()
    assert TOKEN not in written
    assert PASSWORD not in written
    assert "'Authorization'" not in written  # a header dict printed somewhere


def _run_through(
    url: str, folder: Path, secret: str, *, login: bool, verbosity: tuple[str, ...] = ()
) -> str:
    """Run the sample into the server at ``url`` with a token or a login whose
    password is ``secret``; return every byte the run left (see above)."""
    folder.mkdir()
    sample = Path(shutil.copy(SAMPLE_XLSX, folder / "in.xlsx"))
    credentials = (
        {
            "KIANDA_USERNAME": "admin",
            "KIANDA_PASSWORD": secret,
            "KIANDA_SUBSCRIPTION_ID": "s",
        }
        if login
        else {"KIANDA_TOKEN": secret}
    )
    env = {
        "KIANDA_DOMAIN": url,
        "KIANDA_LEDGER": str(folder / "ledger.sqlite3"),
        "KIANDA_MAX_RETRIES": "0",
        **credentials,
    }
    args = [str(SAMPLE_MAPPING), str(sample), "-o", str(folder / "results.xlsx")]
    log_file = str(folder / "run.log")
    result = invoke([*verbosity, "--log-file", log_file, "run", *args], env)
    assert result.exit_code in (1, 3)
    return _everything_written(folder, result.output)


@pytest.mark.parametrize("verbosity", [(), ("-v",)], ids=["info", "debug"])
@pytest.mark.parametrize("login", [False, True], ids=["token", "password"])
def test_secrets_echoed_by_the_server_are_masked(
    tmp_path: Path, verbosity: tuple[str, ...], login: bool
) -> None:
    """A server that repeats the request's token or password in its error message:
    every row's message, the log, the results and the ledger show it masked."""
    with serving(type("Handler", (_Hostile,), {"mode": "echo"})) as url:
        written = _run_through(
            url,
            tmp_path / "run",
            PASSWORD if login else TOKEN,
            login=login,
            verbosity=verbosity,
        )

    assert TOKEN not in written
    assert PASSWORD not in written
    if login:
        assert "password=********" in written
    else:
        assert "Authorization: Bearer ********" in written


class _Hostile(Answering):
    """A server whose answers repeat secrets in the awkward ways real ones do."""

    mode = ""

    def do_POST(self) -> None:
        sent = self.sent()
        said = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.mode == "echo" and self.path == "/token":
            self._json(400, {"message": f"bad login form: {sent}"})
        elif self.mode == "echo":
            header = self.headers.get("Authorization", "")
            self._json(
                400, {"message": f"bad request, got header Authorization: {header}"}
            )
        elif self.mode == "cut-text":
            text = "x" * 181 + " token=" + said
            self.answer(500, text.encode(), "text/plain")
        elif self.mode == "cut-json":
            self._json(500, {"message": "y" * 481 + " token " + said})
        elif self.mode == "bearer-then-stop":
            self._json(500, {"message": f"upstream rejected Bearer {said}. Later"})
        elif self.mode == "form-echo":
            self._json(400, {"error_description": f"could not parse {sent}"})
        elif self.mode == "errors-list":
            password = "P@ss w0rd&=%+\"x'y\\z"
            self._json(400, {"errors": [f"bad password {password}"]})

    def _json(self, status: int, data: object) -> None:
        self.answer(status, json.dumps(data).encode())


@pytest.mark.parametrize(
    ("mode", "login", "masked"),
    [
        ("cut-text", False, None),
        ("cut-json", False, None),
        ("bearer-then-stop", False, "upstream rejected Bearer ********. Later"),
        ("form-echo", True, "password=********&scope=s"),
        ("errors-list", True, "bad password ********"),
    ],
)
def test_secrets_cut_or_encoded_by_the_server_are_masked(
    tmp_path: Path, mode: str, login: bool, masked: str | None
) -> None:
    """Secrets are masked before a long answer is cut (so no prefix of one is left),
    and in their URL-encoded, form and JSON spellings; a mask keeps the full stop."""
    handler = type("Handler", (_Hostile,), {"mode": mode})
    password = "P@ss w0rd&=%+\"x'y\\z"
    with serving(handler) as url:
        written = _run_through(
            url,
            tmp_path / "run",
            password if login else TOKEN,
            login=login,
            verbosity=("-v",),
        )

    for leak in (TOKEN[:12], password[:8], "P%40ss", "P@ss+w0rd"):
        assert leak not in written
    if masked is not None:
        assert masked in written
