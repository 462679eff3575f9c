"""The token and password never appear anywhere the tool writes, whatever fails."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.emulator import Emulator, EmulatorStore, Faults, User, load_processes
from tests.conftest import SAMPLE_MAPPING, SAMPLE_XLSX, invoke

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
