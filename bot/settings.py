"""Process settings from the environment and `.env`, loaded once at start-up."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once; every caller shares the same object."""
    return Settings()
