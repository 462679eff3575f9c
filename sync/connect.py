"""Where a command's requests go: the Kianda workspace the settings name, or the
built-in emulator, started in-process for the length of the command.

``run`` and ``reconcile`` both start here, so they refuse a missing configuration
with the same sentence and reach the emulator's kept instances in the same file.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from sync.errors import ConfigError
from sync.settings import Settings

EMULATOR_SCOPE = "emulator"
EMULATOR_NAME = "built-in emulator"


def require_connection(settings: Settings) -> None:
    """Stop, naming the variables to set, unless a domain and credentials are set."""
    if settings.domain and settings.has_credentials():
        return
    missing = "KIANDA_DOMAIN" if not settings.domain else "credentials"
    login = {
        "KIANDA_USERNAME": settings.username,
        "KIANDA_PASSWORD": settings.password,
        "KIANDA_SUBSCRIPTION_ID": settings.subscription_id,
    }
    given = [name for name, value in login.items() if value]
    if settings.domain and given:
        absent = ", ".join(name for name, value in login.items() if not value)
        raise ConfigError(
            f"The Kianda login is incomplete: {absent} is not set. Set it (in the "
            "environment or the .env file), or use KIANDA_TOKEN instead."
        )
    raise ConfigError(
        f"Kianda is not configured ({missing} missing). Set KIANDA_DOMAIN and either "
        "KIANDA_TOKEN, or KIANDA_USERNAME, KIANDA_PASSWORD and KIANDA_SUBSCRIPTION_ID "
        "(in the environment or a .env file); or add --emulator to try the mapping "
        "against the built-in emulator."
    )


@contextmanager
def emulated(
    settings: Settings,
    mapping_path: Path,
    ledger_path: Path,
    notice: Callable[[str], None],
) -> Iterator[Settings]:
    """Start the built-in emulator and yield settings that point at it.

    Its instances are kept in a file beside the ledger, so a later command sees what
    an earlier one created, as a real workspace would.
    """
    from sync.emulator import Emulator, EmulatorStore

    state = ledger_path.with_name(ledger_path.stem + ".emulator.json")
    state.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    emulator = Emulator.from_mapping_files(
        [mapping_path], store=EmulatorStore(state), token=token
    )
    with emulator:
        notice(
            f"Using the built-in Kianda emulator at {emulator.url} (its instances are "
            f"kept in {state}); nothing leaves this machine."
        )
        yield settings.model_copy(
            update={
                "domain": emulator.url,
                "token": SecretStr(token),
                "username": None,
                "password": None,
            }
        )
