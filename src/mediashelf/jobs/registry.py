"""Job kinds: what a kind is called, how its params are checked, and who runs it.

Extension contract: a kind is registered with a pydantic params model (extra keys forbidden),
optionally a `check_request` run at enqueue time, and a handler
`handler(ctx: JobContext) -> JobOutcome | None`. The handler saves progress and checkpoints
through the context, waits only with `ctx.sleep`, calls `ctx.check()` between batches, and
raises PermanentJobError for failures a retry cannot fix; any other exception is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mediashelf.errors import InvalidJobRequest

if TYPE_CHECKING:
    from mediashelf.jobs.context import JobContext


@dataclass(frozen=True)
class JobOutcome:
    """What a finished job reports."""

    summary: str
    result: dict[str, Any] = field(default_factory=dict)
    error_summary: dict[str, Any] | None = None


Handler = Callable[["JobContext"], JobOutcome | None]


@dataclass(frozen=True)
class JobKind:
    """One registered kind of job."""

    name: str
    handler: Handler
    params_model: type[BaseModel]
    max_attempts: int = 3
    unique_key: Callable[[BaseModel], str | None] | None = None
    # Checks that need the world (a folder exists…), run when a job is enqueued, not when it
    # runs: a request that cannot succeed is refused before it becomes a job.
    check_request: Callable[[BaseModel], None] | None = None
    # A part of another job (a scan's chunk): only its parent enqueues it, and a retry is the
    # parent's; asked for on its own it would skip the checks and counts its parent owns.
    spawned_by: str | None = None

    def parse(self, params: dict[str, Any] | None) -> BaseModel:
        """Validate `params`, raising InvalidJobRequest with a readable message."""
        try:
            return self.params_model.model_validate(params or {})
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'params'}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise InvalidJobRequest(f"invalid params for {self.name}: {detail}") from exc

    def admit(self, params: dict[str, Any] | None) -> BaseModel:
        """Validate a new request fully (params and `check_request`); raise InvalidJobRequest."""
        parsed = self.parse(params)
        if self.check_request is not None:
            self.check_request(parsed)
        return parsed


class Registry:
    """The kinds a worker can run and the API accepts."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}
        self._why_not: dict[str, str] = {}

    def register(self, kind: JobKind) -> None:
        """Add `kind` (a later registration of the same name replaces it)."""
        self._kinds[kind.name] = kind

    def get(self, name: str) -> JobKind:
        """Return the kind called `name`, or raise InvalidJobRequest."""
        kind = self._kinds.get(name)
        if kind is None and name in self._why_not:
            raise InvalidJobRequest(f"{name} is not available here: {self._why_not[name]}")
        if kind is None:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise InvalidJobRequest(f"unknown job kind {name!r} (known: {known})")
        return kind

    def unavailable(self, name: str, reason: str) -> None:
        """Record why the kind `name` is not registered in this process (said when asked for)."""
        self._why_not[name] = reason

    def names(self) -> list[str]:
        """Return the registered kind names."""
        return sorted(self._kinds)
