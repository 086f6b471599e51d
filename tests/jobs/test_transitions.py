"""Conformance of the job state machine (in the spirit of River's driver tests).

For every named transition of `JobStore` and every `JobStatus`, a job is put in that status
(columns set directly) and the transition is called: it must happen exactly when the status
is one of the transition's sources in `mediashelf.jobs.states.TRANSITIONS`, end in one of its
targets, and leave the row untouched otherwise. Fenced transitions refuse a wrong attempt or
worker. `docs/jobs.md` has a table row per transition. Both dialects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mediashelf.db.schema import Job
from mediashelf.db.session import Database
from mediashelf.jobs.failures import attempt_record
from mediashelf.jobs.states import AWAITING, FINISHED, TRANSITIONS, JobStatus
from mediashelf.jobs.store import Fence, JobStore

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STALE = T0 - timedelta(minutes=5)  # the set-up rows' heartbeat: silent for a while
SILENT_BEFORE = T0 - timedelta(seconds=30)  # the reaper's lease cutoff
WORKER = "w1"
ATTEMPT = 1
RECORD = attempt_record(ATTEMPT, T0, "WorkerLost", "interrupted: test", WORKER)


def fence_of(job: Job) -> Fence:
    """Return the fence of the attempt every set-up row is in."""
    return Fence(job.id, ATTEMPT, WORKER)


def claimed(store: JobStore, job: Job) -> bool:
    """Claim as another worker; True when `job` was taken."""
    return any(j.id == job.id for j in store.claim("w2", 10, T0, [job.kind]))


def beaten(store: JobStore, job: Job) -> bool:
    """Heartbeat the job's attempt; True when it was renewed."""
    return any(b.job_id == job.id for b in store.heartbeat([fence_of(job)], T0))


def enqueued(store: JobStore, job: Job) -> bool:
    """Enqueue `job` (a row that already exists); True when the call went through."""
    return store.enqueue(job) is not None


@dataclass(frozen=True)
class Case:
    """One way of calling one transition, with the targets that way must reach."""

    transition: str
    variant: str
    call: Callable[[JobStore, Job], bool]
    setup: dict[str, Any] = field(default_factory=dict)
    targets: tuple[JobStatus, ...] | None = None  # narrower than TRANSITIONS for this variant


P, R, C, F, X = (
    JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED,
    JobStatus.CANCELLED,
)  # fmt: skip
CASES: tuple[Case, ...] = (
    Case("enqueue", "existing row", enqueued),
    Case("claim", "due", claimed, targets=(R,)),
    Case("heartbeat", "own attempt", beaten),
    Case("hold", "own attempt", lambda s, j: s.hold(fence_of(j), T0) is not None),
    Case("checkpoint", "own attempt",
         lambda s, j: s.checkpoint(fence_of(j), T0, {"n": 2}, {"after": "x"}) is not None),
    Case("complete", "own attempt",
         lambda s, j: s.complete(fence_of(j), T0, "done", {"ok": True}, None)),
    Case("fail_attempt", "retry left",
         lambda s, j: s.fail_attempt(fence_of(j), T0, RECORD, T0 + timedelta(seconds=10)),
         targets=(P,)),
    Case("fail_attempt", "no retry left",
         lambda s, j: s.fail_attempt(fence_of(j), T0, RECORD, None), targets=(F,)),
    Case("requeue", "own attempt", lambda s, j: s.requeue(fence_of(j), T0)),
    Case("await_children", "own attempt",
         lambda s, j: s.await_children(fence_of(j), T0, {"n": 3}, {"chunks": [1]})),
    Case("rescue", "attempts left",
         lambda s, j: s.rescue(j, SILENT_BEFORE, T0, RECORD) is not None, targets=(P,)),
    Case("rescue", "attempts spent",
         lambda s, j: s.rescue(j, SILENT_BEFORE, T0, RECORD) is not None,
         setup={"attempt": 3, "max_attempts": 3}, targets=(F,)),
    Case("rescue", "cancel requested",
         lambda s, j: s.rescue(j, SILENT_BEFORE, T0, RECORD) is not None,
         setup={"cancel_requested_at": STALE}, targets=(X,)),
    Case("rescue", "a look-in, cancel requested",  # its children may still run: look again
         lambda s, j: s.rescue(j, SILENT_BEFORE, T0, RECORD) is not None,
         setup={"cancel_requested_at": STALE, "checkpoint": {AWAITING: True}}, targets=(P,)),
    Case("request_cancel", "first request", lambda s, j: s.request_cancel(j.id, T0) is not None,
         targets=(X, R)),
    Case("request_cancel", "a parent waiting for its children",
         lambda s, j: s.request_cancel(j.id, T0) is not None,
         setup={"checkpoint": {AWAITING: True}}, targets=(P, R)),
    Case("mark_cancelled", "own attempt",
         lambda s, j: s.mark_cancelled(fence_of(j), T0, "Cancelled")),
    Case("retry", "fresh attempts", lambda s, j: s.retry(j.id, T0, 6), targets=(P,)),
)  # fmt: skip


def put(db: Database, status: JobStatus, kind: str, **values: Any) -> int:
    """Insert one job in `status`, held by attempt 1 of worker w1 (columns set directly)."""
    finished = status in FINISHED
    row = Job(
        kind=kind, status=status.value, priority=0, params={"p": 1}, unique_key=None,
        created_at=STALE, run_at=STALE, started_at=STALE, heartbeat_at=STALE,
        finished_at=STALE if finished else None, attempt=ATTEMPT, max_attempts=3,
        worker_id=WORKER, cancel_requested_at=None, trigger="api", progress={"n": 1},
        checkpoint=None, summary=f"was {status}" if finished else None, result=None,
        error="earlier" if status is F else None, error_summary=None, errors=[],
    )  # fmt: skip
    for name, value in values.items():
        setattr(row, name, value)
    with db.unit_of_work() as session:
        session.add(row)
        session.flush()
        return row.id


def row_of(db: Database, job_id: int) -> dict[str, Any]:
    """Return every column of the job as stored now."""
    with db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return {c.key: getattr(job, c.key) for c in Job.__table__.columns}


def call(db: Database, case: Case, job_id: int) -> tuple[bool, BaseException | None]:
    """Run the case's transition on the job in one unit of work; (happened, error raised)."""
    try:
        with db.unit_of_work() as session:
            job = session.get(Job, job_id)
            assert job is not None
            return bool(case.call(JobStore(session), job)), None
    except Exception as exc:  # the unit of work rolled back
        return False, exc


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Return the columns that differ."""
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def conformance_problems(db: Database, case: Case) -> list[str]:
    """Run `case` from every status; return every way it broke the state machine."""
    sources, targets = TRANSITIONS[case.transition]
    wanted = case.targets or targets
    problems: list[str] = []
    for status in JobStatus:
        job_id = put(db, status, f"{case.transition}-{status}", **case.setup)
        before = row_of(db, job_id)
        happened, error = call(db, case, job_id)
        after = row_of(db, job_id)
        where = f"{case.transition} ({case.variant}) from {status}"
        if status in sources:
            if not happened:
                problems.append(f"{where}: refused, but {status} is a source ({error!r})")
            elif after["status"] not in wanted:
                problems.append(f"{where}: ended in {after['status']}, not in {wanted}")
            continue
        if happened:
            problems.append(
                f"{where}: happened, but {status} is not a source: {changes(before, after)}"
            )
        elif after != before:
            problems.append(f"{where}: refused but changed the row: {changes(before, after)}")
        if error is not None and case.transition != "enqueue":  # enqueue refuses by raising
            problems.append(f"{where}: raised {error!r} instead of refusing")
    return problems


@pytest.mark.parametrize("transition", sorted(TRANSITIONS))
def test_transition_happens_exactly_from_its_source_statuses(
    database: Database, transition: str
) -> None:
    cases = [case for case in CASES if case.transition == transition]
    assert cases, f"no conformance case for transition {transition!r}"
    assert callable(getattr(JobStore, transition, None)), f"JobStore has no {transition}()"
    problems = [problem for case in cases for problem in conformance_problems(database, case)]
    assert not problems, "\n".join(problems)


def test_enqueue_creates_a_pending_row_from_nothing(database: Database) -> None:
    sources, targets = TRANSITIONS["enqueue"]
    assert sources == (None,)
    with database.unit_of_work() as session:
        job = Job(
            kind="fresh", params={}, created_at=T0, run_at=T0, trigger="api", progress={},
            errors=[],
        )  # fmt: skip
        JobStore(session).enqueue(job)
        session.flush()
        job_id = job.id
    assert row_of(database, job_id)["status"] in targets


def test_every_transition_has_a_case_and_every_status_is_covered() -> None:
    assert {case.transition for case in CASES} == set(TRANSITIONS)
    statuses = {s for sources, _ in TRANSITIONS.values() for s in sources if s is not None}
    reached = {t for _, targets in TRANSITIONS.values() for t in targets}
    assert statuses | reached == set(JobStatus)


def test_cancel_requested_twice_is_refused_and_changes_nothing(database: Database) -> None:
    for status in (P, R):
        job_id = put(database, status, f"twice-{status}", cancel_requested_at=STALE)
        before = row_of(database, job_id)
        with database.unit_of_work() as session:
            assert JobStore(session).request_cancel(job_id, T0) is None
        assert row_of(database, job_id) == before


def test_request_cancel_cancels_pending_at_once_and_flags_running(database: Database) -> None:
    pending = put(database, P, "cancel-pending", worker_id=None, attempt=0)
    running = put(database, R, "cancel-running")
    with database.unit_of_work() as session:
        store = JobStore(session)
        assert store.request_cancel(pending, T0) is X
        assert store.request_cancel(running, T0) is R
    assert (row_of(database, pending)["status"], row_of(database, pending)["finished_at"]) == (
        "cancelled", T0,
    )  # fmt: skip
    flagged = row_of(database, running)
    assert (flagged["status"], flagged["cancel_requested_at"]) == ("running", T0)


def test_request_cancel_leaves_a_waiting_parent_pending_and_due_to_look_in(
    database: Database,
) -> None:
    """Cancelled at once, the parent kept its last look-in's counters while its children ran."""
    waiting = put(database, P, "cancel-parent", worker_id=None, attempt=0,
                  run_at=T0 + timedelta(seconds=1), checkpoint={AWAITING: True})  # fmt: skip
    with database.unit_of_work() as session:
        assert JobStore(session).request_cancel(waiting, T0) is P
    row = row_of(database, waiting)
    assert (row["status"], row["cancel_requested_at"], row["run_at"]) == ("pending", T0, T0)
    assert row["finished_at"] is None


def renewed(store: JobStore, fence: Fence) -> bool:
    """Heartbeat `fence` as its own worker; True when the job was renewed."""
    return any(b.job_id == fence.job_id for b in store.heartbeat([fence], T0))


FENCED: tuple[tuple[str, Callable[[JobStore, Fence], bool]], ...] = (
    ("heartbeat", renewed),
    ("hold", lambda s, f: s.hold(f, T0) is not None),
    ("checkpoint", lambda s, f: s.checkpoint(f, T0, {"n": 9}, {"after": "z"}) is not None),
    ("complete", lambda s, f: s.complete(f, T0, "stolen", {}, None)),
    ("fail_attempt", lambda s, f: s.fail_attempt(f, T0, RECORD, None)),
    ("requeue", lambda s, f: s.requeue(f, T0)),
    ("await_children", lambda s, f: s.await_children(f, T0, {"n": 9}, {"chunks": [2]})),
    ("mark_cancelled", lambda s, f: s.mark_cancelled(f, T0, "stolen")),
)  # fmt: skip


def test_fenced_transitions_refuse_another_attempt_or_worker(database: Database) -> None:
    problems: list[str] = []
    for transition, attempt_call in FENCED:
        job_id = put(database, R, f"fenced-{transition}", attempt=2)
        before = row_of(database, job_id)
        for fence in (Fence(job_id, 1, WORKER), Fence(job_id, 3, WORKER), Fence(job_id, 2, "w2")):
            with database.unit_of_work() as session:
                if attempt_call(JobStore(session), fence):
                    problems.append(f"{transition} went through with {fence}")
            if row_of(database, job_id) != before:
                problems.append(f"{transition} with {fence} changed the row")
        with database.unit_of_work() as session:  # the right fence still works
            if not attempt_call(JobStore(session), Fence(job_id, 2, WORKER)):
                problems.append(f"{transition} refused the attempt that holds the job")
    assert not problems, "\n".join(problems)


def test_rescue_refuses_another_attempt_or_a_worker_that_came_back(database: Database) -> None:
    job_id = put(database, R, "rescue-fenced", attempt=2)
    before = row_of(database, job_id)
    with database.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
    stale_copy = Job(**{**before, "attempt": 1})  # what a reaper read before a re-claim
    with database.unit_of_work() as session:
        assert JobStore(session).rescue(stale_copy, SILENT_BEFORE, T0, RECORD) is None
    assert row_of(database, job_id) == before
    with database.unit_of_work() as session:  # the worker heartbeats after the reaper read it
        JobStore(session).heartbeat([Fence(job_id, 2, WORKER)], T0)
    beaten_row = row_of(database, job_id)
    with database.unit_of_work() as session:
        assert JobStore(session).rescue(job, SILENT_BEFORE, T0, RECORD) is None
    assert row_of(database, job_id) == beaten_row


def test_docs_have_a_table_row_for_every_transition() -> None:
    doc = REPO / "docs" / "jobs.md"
    assert doc.is_file(), (
        "docs/jobs.md is missing: DESIGN §6 asks for the state machine's table there, "
        f"with one row per transition of mediashelf.jobs.states.TRANSITIONS: {sorted(TRANSITIONS)}"
    )
    rows = [line for line in doc.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    missing = [
        name for name in TRANSITIONS
        if not any(re.search(rf"(^|[^\w]){re.escape(name)}([^\w]|$)", row) for row in rows)
    ]  # fmt: skip
    assert not missing, f"docs/jobs.md has no table row for: {missing}"


def woken(db: Database, parent: int) -> bool:
    """Call wake_parent at T0 in its own unit of work; tell whether it moved the parent."""
    with db.unit_of_work() as session:
        return JobStore(session).wake_parent(parent, T0)


def test_a_waiting_parent_is_made_due_once_no_child_is_active(database: Database) -> None:
    # A parent waits for its chunks, looking in every few seconds; after a chunk ends,
    # wake_parent makes it due now if none is left active. Not before, and no status moves.
    later = T0 + timedelta(seconds=5)
    parent = put(database, P, "fan-parent", run_at=later, worker_id=None)
    running = put(database, R, "fan-chunk", parent_id=parent)
    for status in (C, F, X):
        put(database, status, "fan-chunk", parent_id=parent)
    before = row_of(database, parent)
    assert not woken(database, parent)
    assert row_of(database, parent) == before  # a chunk is still running
    with database.unit_of_work() as session:
        assert JobStore(session).complete(fence_of(Job(id=running)), T0, "done", {}, None)
    assert woken(database, parent)
    assert changes(before, row_of(database, parent)) == {"run_at": (later, T0)}
    assert not woken(database, parent)  # already due: nothing to move


@pytest.mark.parametrize("status", [R, C, F, X])
def test_a_parent_that_is_not_waiting_is_left_alone(database: Database, status: JobStatus) -> None:
    parent = put(database, status, "fan-parent", run_at=T0 + timedelta(seconds=5))
    put(database, C, "fan-chunk", parent_id=parent)
    before = row_of(database, parent)
    assert not woken(database, parent)
    assert row_of(database, parent) == before
