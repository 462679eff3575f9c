"""Configuration from KIANDA_* environment variables, a ``.env`` file and options.

Precedence, highest first: command-line options (passed as keyword arguments), the
environment, ``.env`` in the working directory, defaults.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from sync.errors import ConfigError

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    """Everything a run needs to reach Kianda; secrets are ``SecretStr``."""

    model_config = SettingsConfigDict(
        env_prefix="KIANDA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    domain: str | None = None
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    subscription_id: str | None = None
    patch_path: str = "/api/instances/{name}/update"
    timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    concurrency: int = Field(default=8, ge=1, le=256)
    max_retries: int = Field(default=5, ge=0, le=50)
    max_rps: float | None = Field(default=None, ge=0.01, allow_inf_nan=False)
    max_error_rate: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    ledger: Path | None = None
    ca_bundle: Path | None = None
    allow_insecure_http: bool = False
    max_input_mb: float = Field(default=1024.0, gt=0)
    max_rows: int = Field(default=2_000_000, ge=1)

    @field_validator("domain")
    @classmethod
    def _strip_domain(cls, value: str | None) -> str | None:
        """One spelling per workspace, so the ledger's entries are found again."""
        if value is None or not value.strip():
            return None
        url = urlsplit(value.strip())
        if not url.scheme or not url.hostname:
            return value.strip().rstrip("/")
        scheme = url.scheme.lower()
        default = {"https": 443, "http": 80}.get(scheme)
        port = f":{url.port}" if url.port and url.port != default else ""
        return f"{scheme}://{url.hostname.lower()}{port}{url.path.rstrip('/')}"

    @field_validator("token")
    @classmethod
    def _clean_token(cls, value: SecretStr | None) -> SecretStr | None:
        """Drop the spaces and line ends a copy from a file or browser brings along.

        A token is plain ASCII with no spaces; anything else would fail on the first
        request (or crash inside the HTTP library), so it is refused up front, without
        showing the token.
        """
        if value is None:
            return None
        token = value.get_secret_value().strip()
        bad = next((c for c in token if not ("!" <= c <= "~")), None)
        if bad is not None:
            name = unicodedata.name(bad, "control character").lower()
            raise ValueError(
                f"the token holds a character a token cannot have (a {name}, at "
                f"position {token.index(bad) + 1}), often from copying it out of a "
                "web page or document; copy it again as plain text"
            )
        return SecretStr(token)

    @field_validator("ca_bundle")
    @classmethod
    def _bundle_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"there is no certificate file at {value}")
        return value

    @model_validator(mode="after")
    def _safe_domain(self) -> Settings:
        if self.domain is None:
            return self
        url = urlsplit(self.domain)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(
                f"KIANDA_DOMAIN '{self.domain}' is not a web address such as "
                "https://acme.kianda.com"
            )
        if url.scheme == "http" and not (
            _is_loopback(url.hostname) or self.allow_insecure_http
        ):
            raise ValueError(
                f"KIANDA_DOMAIN '{self.domain}' uses plain http://, which would send "
                "the token unencrypted; use https://, or --allow-insecure-http if you "
                "really mean it"
            )
        return self

    @field_validator("max_rps", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("max_error_rate", mode="before")
    @classmethod
    def _percent(cls, value: object) -> object:
        """Accept a share (0.05) or a percentage (5%), and nothing beyond all rows."""
        if value is None or isinstance(value, float | int):
            return value  # checked by the field's bounds
        text = str(value).strip()
        if not text:
            return None
        try:
            share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(
                f"'{text}' is not a share; write one such as 0.05, or 5%"
            ) from None
        if not 0 <= share <= 1:
            raise ValueError(
                f"'{text}' is not between 0 and 1 (0% and 100%); write a share such "
                "as 0.05, or 5%"
            )
        return share

    @field_validator("patch_path")
    @classmethod
    def _check_patch_path(cls, value: str) -> str:
        if "{name}" not in value:
            raise ValueError("it must contain {name}, where the instance ID goes")
        return value

    def has_credentials(self) -> bool:
        """Whether a token, or a full username/password/subscription login, is set."""
        if self.token is not None and self.token.get_secret_value():
            return True
        return bool(self.username and self.password and self.subscription_id)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Settings that `kianda-sync run` also takes as an option of the same name.
_OPTIONS = frozenset(
    {"concurrency", "max_rps", "max_error_rate", "ledger", "allow_insecure_http"}
)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one readable ConfigError."""
    _warn_unknown_variables()
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["loc"]:
                field = "_".join(str(part) for part in error["loc"])
                name = (
                    "--" + field.replace("_", "-")
                    if field in given and field in _OPTIONS
                    else f"KIANDA_{field.upper()}"
                )
                message = f"{name}: {message}"
            problems.append(message)
        raise ConfigError(
            "The configuration is not valid: "
            + "; ".join(problems)
            + ". Fix the environment variable, .env file or option and run again."
        ) from None


def describe_settings() -> list[tuple[str, str, str]]:
    """Each setting as (variable, shown value, where it came from), secrets masked."""
    from dotenv import dotenv_values

    settings = load_settings()
    dotenv = {
        key.upper(): value
        for key, value in dotenv_values(".env").items()
        if value is not None
    }
    lines = []
    for name in Settings.model_fields:
        variable = f"KIANDA_{name.upper()}"
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown = "********" if value.get_secret_value() else ""
        else:
            shown = "" if value is None else str(value)
        if variable in os.environ:
            source = "environment"
        elif variable in dotenv:
            source = ".env"
        else:
            source = "default"
        lines.append((variable, shown or "(not set)", source))
    return lines


def _warn_unknown_variables() -> None:
    """A misspelled KIANDA_* variable would be silently ignored: say so instead."""
    import difflib

    from dotenv import dotenv_values

    known = [f"KIANDA_{name.upper()}" for name in Settings.model_fields]
    seen = {k for k in os.environ if k.startswith("KIANDA_")}
    seen |= {
        k.upper() for k in dotenv_values(".env") if k.upper().startswith("KIANDA_")
    }
    for name in sorted(seen - set(known)):
        nearest = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {nearest[0]}?" if nearest else ""
        log.warning("%s is not a kianda-sync setting and is ignored.%s", name, hint)
