"""Settings: built once at the edge from MEDIASHELF_* variables and flags, then passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

KNOWN_PROBERS = ("pyav", "ffprobe")


class Settings(BaseSettings):
    """Every knob of mediashelf. Nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix="MEDIASHELF_", frozen=True, extra="ignore")

    library: Path | None = None
    data_dir: Path = Path("data")
    database_url: str | None = None
    api_token: str | None = None
    probers: Annotated[tuple[str, ...], NoDecode] = ("pyav", "ffprobe")
    probe_timeout_s: float = Field(default=15.0, gt=0)
    probe_processes: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    ffprobe_path: str = "ffprobe"
    scan_schedule: str | None = None
    missing_brake: float = Field(default=0.2, ge=0, le=1)
    job_retention_days: int = Field(default=30, ge=1)
    log_format: Literal["text", "json"] = "text"
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    heartbeat_s: float = Field(default=5.0, gt=0)
    lease_s: float = Field(default=30.0, gt=0)
    poll_s: float = Field(default=1.0, gt=0)
    job_retry_base_s: float = Field(default=10.0, ge=0)
    job_retry_max_s: float = Field(default=600.0, ge=0)
    job_log_cap: int = Field(default=5000, ge=100)
    job_modules: Annotated[tuple[str, ...], NoDecode] = ()
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    public_read: bool = False
    session_idle_s: float = Field(default=7 * 86400, gt=0)
    session_max_s: float = Field(default=30 * 86400, gt=0)
    login_failures_max: int = Field(default=5, ge=1)
    login_window_s: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)

    @field_validator("probers", "job_modules", "allowed_hosts", mode="before")
    @classmethod
    def _split_probers(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("probers")
    @classmethod
    def _known_probers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in KNOWN_PROBERS]
        if unknown or not value:
            raise ValueError(f"probers must be a non-empty subset of {KNOWN_PROBERS}: {unknown}")
        return value

    @field_validator("lease_s")
    @classmethod
    def _lease_outlives_heartbeats(cls, value: float, info: ValidationInfo) -> float:
        heartbeat = info.data.get("heartbeat_s", 5.0)
        if value < 2 * heartbeat:
            raise ValueError("lease_s must be at least twice heartbeat_s")
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mediashelf.db').resolve()}"
