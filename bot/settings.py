"""Process settings from the environment and `.env`, loaded once at start-up.

A name starting `IROBOT_` that is not a setting is refused rather than ignored: a misspelt
`IROBOT_DATABSE_URL` would otherwise quietly open a new, empty `irobot.db`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PREFIX = "IROBOT_"
TEST_PREFIX = "IROBOT_TEST_"  # the test suite's own (tests/auxil/db.py, scripts/test-all)
UNKNOWN = "unknown_setting"
_POSTGRES = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)


class Settings(BaseSettings):
    """The names local authority IT staff script around (INTERFACE.md, plus two tuning knobs)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    telegram_bot_token: str | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    database_url: str = Field(default="sqlite:///irobot.db", alias="IROBOT_DATABASE_URL")
    telegram_api_url: str = Field(
        default="https://api.telegram.org/bot", alias="IROBOT_TELEGRAM_API_URL"
    )
    policy_path: str | None = Field(default=None, alias="IROBOT_POLICY")
    dispatch_interval_seconds: float = Field(
        default=2.0, gt=0, le=60, alias="IROBOT_DISPATCH_INTERVAL_SECONDS"
    )
    dispatch_lease_seconds: float = Field(
        default=120.0, ge=1, le=3600, alias="IROBOT_DISPATCH_LEASE_SECONDS"
    )
    # Several `irobot run --webhook-url` processes behind one URL must all accept the secret
    # the registering one gave Telegram; unset, each start makes a fresh one.
    webhook_secret: str | None = Field(
        default=None, alias="IROBOT_WEBHOOK_SECRET", pattern=r"^[A-Za-z0-9_-]{16,256}$"
    )

    @field_validator("database_url")
    @classmethod
    def _psycopg(cls, url: str) -> str:
        """`postgres://` as hosts hand it out: SQLAlchemy would want psycopg2, which we lack."""
        scheme = _POSTGRES.match(url)
        return f"postgresql+psycopg://{url[scheme.end():]}" if scheme else url

    def telegram(self) -> dict[str, Any]:
        """The Bot API connection settings, as `handlers.sender.build_bot` takes them."""
        return {"token": self.telegram_bot_token, "api_url": self.telegram_api_url}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources in the usual order, after a check of every `IROBOT_` name."""
        check = _KnownNamesOnly(settings_cls, (init_settings, env_settings, dotenv_settings))
        return check, init_settings, env_settings, dotenv_settings, file_secret_settings


def known_names() -> list[str]:
    """Every setting's name, as the environment spells it."""
    return sorted(field.alias or name for name, field in Settings.model_fields.items())


class _KnownNamesOnly(PydanticBaseSettingsSource):
    """Gives no values: refuses an `IROBOT_` name no setting has, saying where it was found."""

    def __init__(
        self, settings_cls: type[BaseSettings], sources: tuple[PydanticBaseSettingsSource, ...]
    ) -> None:
        super().__init__(settings_cls)
        self.sources = sources

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Required by the base class; this source has no values."""
        return None, field_name, False

    def _names(self) -> list[tuple[str, str]]:
        """(name, where) for every name the other sources will read."""
        found: list[tuple[str, str]] = []
        for source in self.sources:
            if isinstance(source, DotEnvSettingsSource):  # before its base class, EnvSettings
                found += [(name, f"in {source.env_file}") for name in source.env_vars]
            elif isinstance(source, EnvSettingsSource):
                found += [(name, "in the environment") for name in source.env_vars]
            elif isinstance(source, InitSettingsSource):
                found += [(name, "given") for name in source.init_kwargs]
        return found

    def __call__(self) -> dict[str, Any]:
        """Nothing, or a ValidationError naming each unknown `IROBOT_` name."""
        known = {name.upper() for name in known_names()}
        unknown: dict[str, str] = {}
        for name, where in self._names():
            upper = name.upper()
            ours = upper.startswith(PREFIX) and not upper.startswith(TEST_PREFIX)
            if ours and upper not in known:
                unknown.setdefault(upper, where)
        if unknown:
            errors = [
                InitErrorDetails(
                    type=PydanticCustomError(UNKNOWN, "not a setting ({where})", {"where": where}),
                    loc=(name,),
                    input=name,
                )
                for name, where in sorted(unknown.items())
            ]
            raise ValidationError.from_exception_data(self.settings_cls.__name__, errors)
        return {}


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_PHRASES = {
    "float_parsing": "not a number",
    "float_type": "not a number",
    "finite_number": "not a number",
    "int_parsing": "not a whole number",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "missing": "missing",
}


def describe(exc: ValidationError) -> str:
    """One line naming each bad setting and what is wrong, never its value (it may be secret)."""
    aliases = {name: field.alias or name for name, field in Settings.model_fields.items()}
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = str(error["loc"][0]) if error["loc"] else "settings"
        ctx = {key: _number(value) for key, value in error.get("ctx", {}).items()}
        phrase = _PHRASES.get(error["type"])
        if phrase is not None:
            what = phrase.format(**ctx)
        else:
            what = str(error["msg"]).removeprefix("Value error, ")
            what = what.replace("Input should be", "should be", 1)
        parts.append(f"{aliases.get(loc, loc)}: {what}")
    line = "; ".join(parts)
    if any(error["type"] == UNKNOWN for error in exc.errors()):
        line += f"; known settings: {', '.join(known_names())}"
    return line
