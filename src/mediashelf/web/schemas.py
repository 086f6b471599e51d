"""Pydantic shapes of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    computed_field,
    field_validator,
    model_validator,
)

from mediashelf.jobs.service import JobRequest
from mediashelf.library.ids import VIDEO_ID
from mediashelf.library.listing import TrackListing
from mediashelf.library.listing.cursor import MAX_CURSOR
from mediashelf.library.listing.service import MAX_OFFSET
from mediashelf.library.problems.classes import PROBLEM_CLASSES, problem_class
from mediashelf.library.problems.service import Problem, ProblemPage
from mediashelf.library.rescan import RescanOutcome
from mediashelf.library.scan_request import normalize_scope
from mediashelf.library.store import FILTERABLE, SORTABLE
from mediashelf.probe.result import MEDIA_FIELDS

# Bounds that both dialects can bind: PostgreSQL INTEGER columns (ids, counters) hold 32 bits.
INT32_MAX = 2**31 - 1


class ErrorOut(BaseModel):
    """Every error response: a status, a one-line message, and sometimes a field or two more."""

    model_config = ConfigDict(extra="allow")

    status: Literal["error"] = "error"
    error: str
    job_id: int | None = Field(default=None, description="the active job (409 on duplicates)")
    error_class: str | None = Field(default=None, description="probe error class (422, 504)")
    component: str | None = Field(default=None, description="what failed (503, 507)")
    reason: str | None = Field(default=None, description="the class of failure (503, 507)")


class TrackOut(BaseModel):
    """A track with its media facts and probe record."""

    model_config = ConfigDict(from_attributes=True)

    video_id: str
    relpath: str
    title: str
    filetype: str
    size_bytes: int | None
    duration: float | None
    container: str | None
    bitrate: int | None
    width: int | None
    height: int | None
    resolution: str | None
    video_codec: str | None
    video_fps: float | None
    video_bitrate: int | None
    audio_codec: str | None
    audio_bitrate: int | None
    audio_channels: int | None
    audio_channel_layout: str | None
    audio_sample_rate: int | None
    audio_bit_depth: int | None
    probe_status: str
    probe_error_class: str | None
    probe_error: str | None
    prober: str | None
    probe_ms: float | None
    probed_at: datetime | None
    probe_failures: int
    probe_version: int | None
    failing_since: datetime | None
    missing_since: datetime | None
    verified_at: datetime | None
    decode_errors: int | None
    decode_error: str | None
    decode_error_at_s: float | None
    fingerprint_size: int | None
    fingerprint_mtime_ns: int | None
    added_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def problem_class(self) -> str | None:
        """The track's class in the problems view (missing, quarantined, corrupt…), or None."""
        return problem_class(
            self.probe_status, self.probe_error_class, self.probe_failures, self.decode_errors
        )


def rescan_json(outcome: RescanOutcome) -> dict[str, Any]:
    """Return the one JSON form of a successful rescan (§4), for the API and `--json`."""
    track = TrackOut.model_validate(outcome.track).model_dump(mode="json")
    return {
        "status": "ok", "video_id": track["video_id"],
        **{name: track[name] for name in MEDIA_FIELDS},
        "prober": track["prober"], "probed_at": track["probed_at"],
        "fields_updated": sorted(outcome.changes), "changes": outcome.as_json(),
    }  # fmt: skip


_TRACK_LIST = TypeAdapter(list[TrackOut])


class TrackPage(BaseModel):
    """One page of the track list; pass a cursor back as `cursor` to move to its neighbour."""

    items: list[TrackOut]
    total: int = Field(description="rows that match (counted a short while ago, see docs)")
    page: int
    per_page: int
    next_cursor: str | None = Field(default=None, description="the next page; null on the last")
    prev_cursor: str | None = Field(default=None, description="the previous page; null on page 1")

    @classmethod
    def of(cls, listing: TrackListing, per_page: int) -> TrackPage:
        """Return the JSON form of a page of the track list."""
        # A loaded row's attribute dict, validated as one list: reading each of 38 fields
        # through the ORM's descriptors took half a millisecond of a page's 4 ms.
        items = _TRACK_LIST.validate_python([vars(t) for t in listing.items])
        return cls(
            items=items, total=listing.total,
            page=listing.page, per_page=per_page, next_cursor=listing.next_cursor,
            prev_cursor=listing.prev_cursor,
        )  # fmt: skip


# A search is at most this many characters (each is a few trigrams to look up). The job
# view's error samples link to a search for their path: static/js/job_view.js cuts a longer
# path to its last SEARCH_MAX characters, which still find the file.
SEARCH_MAX = 200


class TrackListParams(BaseModel):
    """Query parameters of GET /api/tracks."""

    q: str | None = Field(default=None, max_length=SEARCH_MAX)
    sort: str = "title"
    order: Literal["asc", "desc"] = "asc"
    page: int = Field(
        default=1, ge=1, le=1_000_000,
        description=f"page number, while (page - 1) * per_page <= {MAX_OFFSET}; deeper: cursor",
    )  # fmt: skip
    per_page: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(
        default=None, max_length=MAX_CURSOR,
        description='next_cursor or prev_cursor of a page of this list, or "last"; wins over page',
    )  # fmt: skip
    filetype: str | None = None
    resolution: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    probe_status: Literal["ok", "error", "missing", "pending"] | None = None
    missing: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """Treat empty form fields ("?filetype=") as not given."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data

    @field_validator("sort")
    @classmethod
    def _sortable(cls, value: str) -> str:
        if value not in SORTABLE:
            raise ValueError(f"sort must be one of {', '.join(SORTABLE)}")
        return value


class RescanRequest(BaseModel):
    """Body of POST /api/track/{video_id}/rescan_media (all optional)."""

    model_config = ConfigDict(extra="forbid")

    refresh_duration: StrictBool = False
    refresh_size: StrictBool = False


class AuditOut(BaseModel):
    """One audit event."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    action: str
    actor: str
    video_id: str | None
    job_id: int | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of audit events, newest first."""

    events: list[AuditOut]
    total: int


assert set(FILTERABLE) <= set(TrackListParams.model_fields)


class ProblemOut(BaseModel):
    """One failing track in the problems view."""

    video_id: str
    relpath: str
    title: str
    problem_class: str
    message: str | None
    prober: str | None
    first_seen: datetime | None
    last_tried: datetime | None
    probe_failures: int
    decode_errors: int | None
    decode_error_at_s: float | None
    quarantined: bool

    @classmethod
    def of(cls, problem: Problem) -> ProblemOut:
        """Return the JSON form of a problem."""
        t = problem.track
        return cls(
            video_id=t.video_id, relpath=t.relpath, title=t.title,
            problem_class=problem.problem_class, message=problem.message, prober=t.prober,
            first_seen=problem.first_seen, last_tried=problem.last_tried,
            probe_failures=t.probe_failures, decode_errors=t.decode_errors,
            decode_error_at_s=t.decode_error_at_s,
            quarantined=problem.problem_class == "quarantined",
        )  # fmt: skip


class ProblemPageOut(BaseModel):
    """Problem counts by class and one page of failing tracks."""

    counts: dict[str, int]
    items: list[ProblemOut]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: ProblemPage, limit: int, offset: int) -> ProblemPageOut:
        """Return the JSON form of a problems page."""
        items = [ProblemOut.of(p) for p in page.items]
        return cls(counts=page.counts, items=items, total=page.total, limit=limit, offset=offset)


ProblemClassName = Literal[
    "missing", "quarantined", "permission", "empty", "corrupt", "unsupported", "no_streams",
    "timeout", "crashed", "decode_errors",
]  # fmt: skip
assert get_args(ProblemClassName) == PROBLEM_CLASSES


def scope(value: str | None) -> str | None:
    """Normalise a sub-folder scope ("a/b"); a path that leaves the library is a ValueError."""
    return normalize_scope(value) if value else None


class ProblemRetry(BaseModel):
    """Body of POST /api/problems/retry: one track, or a whole class (within a folder)."""

    model_config = ConfigDict(extra="forbid")

    video_id: str | None = Field(default=None, pattern=VIDEO_ID.pattern)
    problem_class: ProblemClassName | None = Field(default=None, alias="class")
    path: str | None = Field(default=None, max_length=1000, description="with class: a sub-folder")

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        return scope(value)

    @model_validator(mode="after")
    def _one_target(self) -> ProblemRetry:
        if (self.video_id is None) == (self.problem_class is None):
            raise ValueError("give exactly one of video_id or class")
        if self.video_id is not None and self.path is not None:
            raise ValueError("path goes with class, not with video_id")
        return self


class VerifyRequest(BaseModel):
    """Body of POST /api/problems/verify (all optional: verify the whole library)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, max_length=1000, description="only this sub-folder")
    lossless_only: StrictBool = False
    problems_only: StrictBool = Field(default=False, description="only tracks with decode errors")
    video_ids: list[Annotated[str, Field(pattern=VIDEO_ID.pattern)]] | None = Field(
        default=None, min_length=1, max_length=1000, description="only these tracks"
    )

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        return scope(value)


class JobRequestOut(BaseModel):
    """The job that answers a request: queued now, or the identical one already active."""

    job_id: int
    joined: bool = Field(description="true when an identical job was already active")
    kind: str

    @classmethod
    def of(cls, request: JobRequest) -> JobRequestOut:
        """Return the JSON form of a job request."""
        return cls(job_id=request.job_id, joined=request.joined, kind=request.kind)


class HealthOut(BaseModel):
    """A healthy service."""

    status: Literal["ok"]
    database: str
    disk: str
    workers: int
    watch: dict[str, Any]  # {"mode": "events" | "polling" | "off", "reason": ...}
    library: dict[str, Any]  # {"status": "ok" | "offline" | "not configured", "reason": ...}
