"""Settings the web app refuses to start with: a guessable token, an invalid schedule."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter

from mediashelf.config import MAKE_TOKEN, Settings, token_problem
from mediashelf.errors import ConfigError

SOME_DAY = datetime(2024, 1, 1, tzinfo=UTC)


def check_settings(settings: Settings) -> None:
    """Raise ConfigError for a guessable or unusable token, or an invalid scan schedule."""
    token = settings.api_token
    if token and (problem := token_problem(token)) is not None:
        raise ConfigError(f"MEDIASHELF_API_TOKEN {problem}. Make one with: {MAKE_TOKEN}")
    schedule = settings.scan_schedule
    if schedule:
        try:
            croniter(schedule, SOME_DAY).get_next(datetime)  # catches dates that never come
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"MEDIASHELF_SCAN_SCHEDULE {schedule!r} is not valid: {exc}") from exc
