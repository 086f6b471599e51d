"""Job kinds for the engine tests, loaded through MEDIASHELF_JOB_MODULES=tests.jobs.kinds.

Each kind misbehaves on purpose in one scripted way; none of them touches the library.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from mediashelf.config import Settings
from mediashelf.errors import PermanentJobError
from mediashelf.jobs.context import JobContext
from mediashelf.jobs.registry import JobKind, JobOutcome, Registry

RECORD = "record"
FLAKY = "flaky"
PERMANENT = "permanent"
SLEEPY = "sleepy"
CHATTY = "chatty"
SLOW_BATCH = "slow_batch"
MAX_ATTEMPTS = 3


class RecordParams(BaseModel):
    """Where to append the "job_id attempt pid" line."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)


class FlakyParams(BaseModel):
    """The attempt that finally succeeds (earlier ones raise RuntimeError)."""

    model_config = ConfigDict(extra="forbid")

    succeed_on: int = Field(default=2, ge=1)


class PermanentParams(BaseModel):
    """The attempt that succeeds (None: never); earlier ones raise PermanentJobError."""

    model_config = ConfigDict(extra="forbid")

    succeed_on: int | None = Field(default=None, ge=1)


class SleepyParams(BaseModel):
    """How many steps of `step_s` to sleep; `key` makes the job unique while active."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=10, ge=0)
    step_s: float = Field(default=0.1, ge=0)
    key: str | None = None


class ChattyParams(BaseModel):
    """How many lines to log, and to which stream."""

    model_config = ConfigDict(extra="forbid")

    lines: int = Field(default=100, ge=0)
    stream: Literal["job", "progress"] = "job"


class SlowBatchParams(BaseModel):
    """How many batches, how long each keeps the job's row locked, the pause between them."""

    model_config = ConfigDict(extra="forbid")

    batches: int = Field(default=2, ge=1)
    hold_s: float = Field(default=3.0, ge=0)
    pause_s: float = Field(default=1.0, ge=0)


def run_record(ctx: JobContext) -> JobOutcome:
    """Append one line naming this job, attempt and process."""
    assert isinstance(ctx.params, RecordParams)
    with open(ctx.params.path, "a", encoding="utf-8") as handle:
        handle.write(f"{ctx.job_id} {ctx.attempt} {os.getpid()}\n")
    return JobOutcome(summary=f"recorded by {os.getpid()}", result={"pid": os.getpid()})


def run_flaky(ctx: JobContext) -> JobOutcome:
    """Fail with RuntimeError until attempt `succeed_on`."""
    assert isinstance(ctx.params, FlakyParams)
    if ctx.attempt < ctx.params.succeed_on:
        raise RuntimeError(f"flaky failure on attempt {ctx.attempt}")
    return JobOutcome(summary=f"flaky succeeded on attempt {ctx.attempt}")


def run_permanent(ctx: JobContext) -> JobOutcome:
    """Raise PermanentJobError until attempt `succeed_on` (never when it is None)."""
    assert isinstance(ctx.params, PermanentParams)
    succeed_on = ctx.params.succeed_on
    if succeed_on is None or ctx.attempt < succeed_on:
        raise PermanentJobError(f"permanent failure on attempt {ctx.attempt}")
    return JobOutcome(summary=f"permanent succeeded on attempt {ctx.attempt}")


def run_sleepy(ctx: JobContext) -> JobOutcome:
    """Sleep step by step, checking for stop signals and logging each step."""
    assert isinstance(ctx.params, SleepyParams)
    for step in range(1, ctx.params.steps + 1):
        ctx.check()
        ctx.log(f"step {step}")
        ctx.report({"step": step, "steps": ctx.params.steps})
        ctx.sleep(ctx.params.step_s)  # the handler contract: wait only through the context
    ctx.check()
    return JobOutcome(summary=f"slept {ctx.params.steps} steps")


def run_chatty(ctx: JobContext) -> JobOutcome:
    """Log `lines` numbered lines."""
    assert isinstance(ctx.params, ChattyParams)
    for number in range(1, ctx.params.lines + 1):
        ctx.log(f"line {number}", stream=ctx.params.stream)
    return JobOutcome(summary=f"logged {ctx.params.lines} lines")


def run_slow_batch(ctx: JobContext) -> JobOutcome:
    """Run batches whose work outlasts the lease, as 5,000 tracks marked missing can."""
    assert isinstance(ctx.params, SlowBatchParams)
    hold_s = ctx.params.hold_s

    def work(session: Session, number: int) -> None:
        ctx.sleep(hold_s)  # the batch's work, with the job's row locked all along
        ctx.commit_batch(session, {"batches": number}, {"after": number})

    for number in range(1, ctx.params.batches + 1):
        if number > 1:
            ctx.sleep(ctx.params.pause_s)  # work between batches (probing, the next diff)
        ctx.batch(lambda session: work(session, number))  # noqa: B023 (called at once)
    return JobOutcome(summary=f"{ctx.params.batches} batches of {hold_s:g}s")


def sleepy_key(params: BaseModel) -> str | None:
    """Return the unique key of a sleepy job that names one."""
    assert isinstance(params, SleepyParams)
    return f"sleepy:{params.key}" if params.key else None


def register(registry: Registry, settings: Settings) -> None:
    """Register the test kinds (the MEDIASHELF_JOB_MODULES extension contract)."""
    del settings
    for name, handler, model in (
        (RECORD, run_record, RecordParams),
        (FLAKY, run_flaky, FlakyParams),
        (PERMANENT, run_permanent, PermanentParams),
        (CHATTY, run_chatty, ChattyParams),
        (SLOW_BATCH, run_slow_batch, SlowBatchParams),
    ):
        registry.register(JobKind(name, handler, model, max_attempts=MAX_ATTEMPTS))
    registry.register(
        JobKind(SLEEPY, run_sleepy, SleepyParams, max_attempts=MAX_ATTEMPTS, unique_key=sleepy_key)
    )
