"""Path and query parameter types shared by the API and the pages, bounded for both dialects."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator, StringConstraints

from mediashelf.library.ids import VIDEO_ID
from mediashelf.web.schemas import INT32_MAX, ProblemClassName, scope

JobId = Annotated[int, Path(ge=1, le=INT32_MAX, description="job id")]
# Checked by the service (400 "malformed video id", the §4 contract), documented here.
VideoId = Annotated[
    str, Path(description="public track id", json_schema_extra={"pattern": VIDEO_ID.pattern})
]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX)]


def _blank_is_unset(value: object) -> object:
    return None if value == "" else value


def _folder(value: str | None) -> str | None:
    # "" for the whole library: the length constraint applies after this, and not to None.
    return None if value is None else scope(value) or ""


# An unknown class or a folder that leaves the library is a 422, like any invalid parameter.
ProblemClassQuery = Annotated[
    ProblemClassName | None,
    BeforeValidator(_blank_is_unset),
    Query(alias="class", description="only this problem class"),
]
# An empty value is no filter, as on the track list (`?action=` once matched only "").
NameQuery = Annotated[
    Annotated[str, StringConstraints(max_length=64)] | None,  # not on None: applied inside
    BeforeValidator(_blank_is_unset),
    Query(),
]
LogStreamQuery = Annotated[
    Literal["job", "progress"] | None, BeforeValidator(_blank_is_unset), Query()
]
JobStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
JobStatusQuery = Annotated[JobStatus | None, BeforeValidator(_blank_is_unset), Query()]
ScopeQuery = Annotated[
    str | None,
    AfterValidator(_folder),
    Query(max_length=1000, description="only this sub-folder of the library"),
]
