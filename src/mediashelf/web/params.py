"""Path and query parameter types shared by the API and the pages, bounded for both dialects."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from mediashelf.library.ids import VIDEO_ID
from mediashelf.web.schemas import INT32_MAX

JobId = Annotated[int, Path(ge=1, le=INT32_MAX, description="job id")]
# Checked by the service (400 "malformed video id", the §4 contract), documented here.
VideoId = Annotated[
    str, Path(description="public track id", json_schema_extra={"pattern": VIDEO_ID.pattern})
]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX)]
