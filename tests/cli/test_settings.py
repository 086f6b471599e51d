"""Settings come from flags, else MEDIASHELF_* variables (any case), else defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediashelf.cli.wiring import load_settings
from mediashelf.config import Settings
from mediashelf.errors import ConfigError


def test_variables_in_any_case_fill_the_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIASHELF_LIBRARY", "/media/music")
    monkeypatch.setenv("mediashelf_port", "8123")
    monkeypatch.setenv("MediaShelf_Watch", "yes")
    monkeypatch.setenv("MEDIASHELF_ALLOWED_HOSTS", " nas.local , 192.0.2.7 ,")
    settings = Settings()
    assert settings.library == Path("/media/music")
    assert (settings.port, settings.watch) == (8123, True)
    assert settings.allowed_hosts == ("nas.local", "192.0.2.7")


def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIASHELF_PORT", "8123")
    assert Settings(port=9000).port == 9000
    assert load_settings(port=None).port == 8123  # a flag not given leaves the variable


def test_unknown_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MEDIASHELF_NO_SUCH_KNOB", "MEDIASHELF_", "MEDIASHELF_MODEL_CONFIG"):
        monkeypatch.setenv(name, "x")
    assert Settings().port == 8000


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("MEDIASHELF_PORT", "eighty", "MEDIASHELF_PORT"),
        ("MEDIASHELF_PROBE_PROCESSES", "0", "MEDIASHELF_PROBE_PROCESSES"),
        ("MEDIASHELF_WATCH", "maybe", "MEDIASHELF_WATCH"),
        ("MEDIASHELF_PROBERS", "pyav,mediainfo", "MEDIASHELF_PROBERS"),
        ("MEDIASHELF_SCAN_SCHEDULE", "0 0 31 2 *", "never fires"),
        ("MEDIASHELF_DATABASE_URL", "garbage", "not a database URL"),
        ("MEDIASHELF_DATABASE_URL", "mysql://media@db/media", "mysql:// is not supported"),
        ("MEDIASHELF_DATABASE_URL", "postgresql+psycopg2://db/m", "psycopg2:// is not supported"),
        ("MEDIASHELF_DATABASE_URL", "sqlite://", "in-memory SQLite"),
        ("MEDIASHELF_DATABASE_URL", "sqlite:///:memory:", "in-memory SQLite"),
        ("MEDIASHELF_LEASE_S", "inf", "MEDIASHELF_LEASE_S"),  # a timedelta of it overflowed
        ("MEDIASHELF_LEASE_S", "1e15", "MEDIASHELF_LEASE_S"),
        ("MEDIASHELF_JOB_RETRY_MAX_S", "nan", "MEDIASHELF_JOB_RETRY_MAX_S"),
        ("MEDIASHELF_SESSION_MAX_S", "1e300", "MEDIASHELF_SESSION_MAX_S"),
    ],
)
def test_an_invalid_variable_is_a_setting_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=said):
        load_settings()


@pytest.mark.parametrize("url", ["postgres://m@db/m", "postgresql://m@db/m",
                                 "postgresql+psycopg://m@db/m", "sqlite:///relative.db",
                                 "sqlite+pysqlite:////srv/m.db"])  # fmt: skip
def test_every_supported_database_url_is_taken(url: str) -> None:
    assert Settings(database_url=url).database_url == url


def test_an_empty_library_or_data_dir_is_unset_not_the_current_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`MEDIASHELF_LIBRARY=` indexed whatever folder the command ran in (/ under systemd)."""
    monkeypatch.setenv("MEDIASHELF_LIBRARY", "")
    monkeypatch.setenv("MEDIASHELF_DATA_DIR", "  ")
    settings = Settings()
    assert settings.library is None
    assert settings.data_dir == Path("data")
