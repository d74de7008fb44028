"""Settings read from the environment (prefix ``HOTLINE_``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from limits import parse
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Settings read by a library: what reads each, and what it expects.
_READERS: dict[str, tuple[Callable[[str], object], str]] = {
    "timezone": (ZoneInfo, "an IANA time zone such as Asia/Shanghai"),
    "rate_limit": (parse, "a rate such as 1200/minute"),
}


class Settings(BaseSettings):
    """Every knob of the service; each field is ``HOTLINE_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./hotline.db"
    bootstrap_token: str | None = None
    sweep_interval: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
    log_json: bool = True
    timezone: str = "Asia/Shanghai"
    points_base: float = 10.0
    # Weights of the response, resolution and satisfaction rates in a unit's score (考核).
    score_weights: str = "0.30,0.35,0.35"
    idempotency_ttl_hours: int = Field(default=48, ge=24)
    # Connections kept per process (as many again on demand), and requests at work at
    # once (the rest wait in arrival order: hotline.admission).
    db_pool_size: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,50400,72000,86400"
    webhook_allow_private: bool = False
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_jitter: float = Field(default=0.1, ge=0, le=1)
    webhook_poll_interval: float = Field(default=1.0, gt=0)
    webhook_secret_grace_hours: float = Field(default=24.0, ge=0)
    webhook_concurrency: int = Field(default=10, ge=1)
    rate_limit: str = "1200/minute"
    rate_limit_storage: str = "memory://"
    token_cache_seconds: float = Field(default=2.0, ge=0, le=5)
    reference_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    cors_origins: str = ""
    data_key: str | None = None
    data_keys_old: str = ""
    data_key_file: str | None = None

    @field_validator("score_weights")
    @classmethod
    def _weights(cls, value: str) -> str:
        parts = value.split(",")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 3 or any(n < 0 for n in numbers):
            raise ValueError("three non-negative numbers: response, resolution, satisfaction")
        return value

    @property
    def score_weight_values(self) -> tuple[float, float, float]:
        a, b, c = (float(p) for p in self.score_weights.split(","))
        return a, b, c

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        delays = [part.strip() for part in value.split(",")]
        if not delays or not all(d.replace(".", "", 1).isdigit() for d in delays):
            raise ValueError("a comma-separated list of seconds, e.g. 0,5,300")
        return value

    @property
    def retry_delays(self) -> list[float]:
        """Seconds to wait before each attempt: the first is the delay before attempt 1."""
        return [float(d) for d in self.webhook_retry_schedule.split(",")]

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("timezone", "rate_limit")
    @classmethod
    def _readable(cls, value: str, info: ValidationInfo) -> str:
        read, expected = _READERS[info.field_name or ""]
        try:
            read(value)
        except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(expected) from None
        return value

    @property
    def idempotency_ttl(self) -> timedelta:
        return timedelta(hours=self.idempotency_ttl_hours)

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def key_file(self) -> str | None:
        """Where the embedded default keeps its generated data key: beside the database."""
        if self.data_key_file:
            return self.data_key_file
        if self.is_sqlite and ":///" in self.database_url:
            path = self.database_url.split(":///", 1)[1]
            return f"{path}.key" if path and path != ":memory:" else None
        return None
