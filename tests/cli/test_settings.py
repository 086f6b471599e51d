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
    ],
)
def test_an_invalid_variable_is_a_setting_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=said):
        load_settings()
