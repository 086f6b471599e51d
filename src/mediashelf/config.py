"""Settings: built once at the edge from MEDIASHELF_* variables and flags, then passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

KNOWN_PROBERS = ("pyav", "ffprobe")
ENV_PREFIX = "MEDIASHELF_"


def cron_error(expression: str) -> str | None:
    """Return why `expression` is not a usable cron schedule, or None when it is.

    Usable means valid and firing at least once in the future: "0 0 31 2 *" is valid
    syntax but never fires, which would leave a schedule silently dead.
    """
    from datetime import UTC, datetime

    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    try:
        croniter(expression, datetime.now(UTC)).get_next(datetime)
    except CroniterBadCronError as exc:
        return f"invalid cron expression {expression!r}: {exc}"
    except CroniterBadDateError:
        return f"cron expression {expression!r} never fires"
    except (ValueError, KeyError, TypeError) as exc:
        return f"invalid cron expression {expression!r}: {exc}"
    return None


MIN_TOKEN_LENGTH = 24
MIN_TOKEN_DISTINCT = 8  # different characters; a generated token of 24 has about 12 at least
MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def token_problem(token: str) -> str | None:
    """Return why `token` must not guard the web app ("is too short (…)"), or None.

    Short or repetitive tokens are guessable. `Authorization: Bearer …` is read without the
    blanks around it, so a token holding blanks could only ever be typed into the log-in
    form (thirty spaces passed a length check alone).
    """
    if len(token) < MIN_TOKEN_LENGTH:
        return f"is too short ({len(token)} characters; at least {MIN_TOKEN_LENGTH} needed)"
    if any(c.isspace() or not c.isprintable() for c in token):
        return "holds spaces or control characters"
    if len(set(token)) < MIN_TOKEN_DISTINCT:
        return f"is guessable (fewer than {MIN_TOKEN_DISTINCT} different characters)"
    return None


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the settings `environ` gives: MEDIASHELF_<FIELD> in any case, values as text."""
    size = len(ENV_PREFIX)
    return {
        name[size:].lower(): value
        for name, value in environ.items()
        if name[:size].upper() == ENV_PREFIX and name[size:].lower() in Settings.model_fields
    }


# Upper bounds of durations: a value past them is a typo (or "inf"), and a timedelta of it
# overflows where the job engine computes deadlines.
HOUR_S = 3600
DAY_S = 86_400
YEAR_S = 366 * DAY_S
# The URL schemes mediashelf runs on (plain postgresql:// is given psycopg 3 by db/engine.py).
DATABASE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgres",
                              "postgresql+psycopg"})  # fmt: skip


class Settings(BaseModel):
    """Every knob of mediashelf. Nothing else reads the environment.

    `Settings(**flags)` takes each field from its flag when given, else from the variable
    MEDIASHELF_<FIELD> (any case), else its default; text is converted and checked as a flag
    is. A plain pydantic model rather than pydantic-settings, whose import alone costs 0.1 s of
    every command's start (measured); lists are comma-separated.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, values: Any) -> Any:
        if isinstance(values, dict):  # the flags given, over the environment
            return {**from_environment(os.environ), **values}
        return values

    library: Path | None = None
    data_dir: Path = Path("data")
    database_url: str | None = None
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0, le=600_000)
    api_token: str | None = None
    probers: tuple[str, ...] = ("pyav", "ffprobe")
    probe_timeout_s: float = Field(default=15.0, gt=0, le=HOUR_S)
    probe_processes: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    ffprobe_path: str = "ffprobe"
    scan_schedule: str | None = None
    missing_brake: float = Field(default=0.2, ge=0, le=1)
    library_wait_s: float = Field(default=120.0, ge=0, le=86_400)
    scan_fanout: Literal["auto", "on", "off"] = "auto"  # auto: on with PostgreSQL
    scan_chunk_size: int = Field(default=2000, ge=10, le=1_000_000)
    job_retention_days: int = Field(default=30, ge=1, le=36_500)
    log_format: Literal["text", "json"] = "text"
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    heartbeat_s: float = Field(default=5.0, gt=0, le=HOUR_S)
    lease_s: float = Field(default=30.0, gt=0, le=DAY_S)
    poll_s: float = Field(default=1.0, gt=0, le=HOUR_S)
    job_retry_base_s: float = Field(default=10.0, ge=0, le=DAY_S)
    job_retry_max_s: float = Field(default=600.0, ge=0, le=7 * DAY_S)
    job_log_cap: int = Field(default=5000, ge=100)
    job_modules: tuple[str, ...] = ()
    extensions_extra: tuple[str, ...] = ()
    extensions_exclude: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    allowed_hosts: tuple[str, ...] = ()
    public_read: bool = False
    session_idle_s: float = Field(default=7 * DAY_S, gt=0, le=YEAR_S)
    session_max_s: float = Field(default=30 * DAY_S, gt=0, le=YEAR_S)
    login_failures_max: int = Field(default=5, ge=1)
    login_window_s: float = Field(default=300.0, gt=0, le=DAY_S)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    watch: bool = False
    watch_quiet_s: float = Field(default=5.0, gt=0, le=3600)
    watch_poll_s: float = Field(default=300.0, gt=0, le=86_400)

    @field_validator(
        "probers",
        "job_modules",
        "extensions_extra",
        "extensions_exclude",
        "allowed_hosts",
        mode="before",
    )
    @classmethod
    def _split_probers(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("library", "data_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """`MEDIASHELF_LIBRARY=` (set but empty) is no library, not the current folder."""
        if isinstance(value, str) and not value.strip():
            return cls.model_fields[info.field_name or ""].default
        return value

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str | None) -> str | None:
        """Refuse URLs no command could use, before any of them opens one."""
        if value is None or not value.strip():
            return None
        # Parsed here by hand: the probe layer reads the settings and never imports SQLAlchemy.
        scheme, separator, rest = value.strip().partition("://")
        if not separator or not scheme:
            raise ValueError("not a database URL: use sqlite:////path/to/file.db or "
                             "postgresql://user@host/database")  # fmt: skip
        if scheme.lower() not in DATABASE_DRIVERS:
            raise ValueError(f"{scheme}:// is not supported: use sqlite:/// (a file) or "
                             "postgresql://")  # fmt: skip
        database = rest.partition("?")[0].removeprefix("/")  # sqlite:///x.db names "x.db"
        if scheme.lower().startswith("sqlite") and database in ("", ":memory:"):
            raise ValueError("an in-memory SQLite database is a new empty one for every "
                             "connection: name a file, sqlite:////path/to/file.db")  # fmt: skip
        return value.strip()

    @field_validator("extensions_extra", "extensions_exclude")
    @classmethod
    def _bare_extensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bare = tuple(e.strip().lstrip(".").lower() for e in value if e.strip().lstrip("."))
        bad = [e for e in bare if len(e) > 16 or not e.isascii() or not e.isalnum()]
        if bad:
            raise ValueError(f"extensions are 1-16 letters or digits, not {bad}")
        return bare

    @field_validator("probers")
    @classmethod
    def _known_probers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in KNOWN_PROBERS]
        if unknown or not value:
            raise ValueError(f"probers must be a non-empty subset of {KNOWN_PROBERS}: {unknown}")
        return value

    @field_validator("scan_schedule")
    @classmethod
    def _usable_schedule(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            problem = cron_error(value.strip())
            if problem:
                raise ValueError(problem)
            return value.strip()
        return None

    @field_validator("lease_s")
    @classmethod
    def _lease_outlives_heartbeats(cls, value: float, info: ValidationInfo) -> float:
        heartbeat = info.data.get("heartbeat_s", 5.0)
        if value < 2 * heartbeat:
            raise ValueError("lease_s must be at least twice heartbeat_s")
        return value

    @property
    def fans_out_scans(self) -> bool:
        """Tell whether large scans fan out into chunk jobs (auto: with PostgreSQL)."""
        if self.scan_fanout == "auto":
            return self.effective_database_url.startswith(("postgresql", "postgres"))
        return self.scan_fanout == "on"

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'mediashelf.db').resolve()}"
