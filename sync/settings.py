"""Configuration from KIANDA_* environment variables, a ``.env`` file and options.

Precedence, highest first: command-line options (passed as keyword arguments), the
environment, ``.env`` in the working directory, defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sync.errors import ConfigError


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
    timeout: float = Field(default=30.0, gt=0)
    concurrency: int = Field(default=8, ge=1, le=256)
    max_retries: int = Field(default=5, ge=0, le=50)
    max_rps: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    ledger: Path | None = None

    @field_validator("domain")
    @classmethod
    def _strip_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip().rstrip("/")

    @field_validator("max_rps", "max_error_rate", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("max_error_rate", mode="before")
    @classmethod
    def _percent(cls, value: object) -> object:
        """Accept a share (0.05) or a percentage (5%)."""
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                return float(value.strip()[:-1]) / 100
            except ValueError:
                raise ValueError("write a share such as 0.05, or 5%") from None
        return value

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


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one readable ConfigError."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "KIANDA_" + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError(
            "The configuration is not valid: "
            + "; ".join(problems)
            + ". Fix the environment variable, .env file or option and run again."
        ) from None
