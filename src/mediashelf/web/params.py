"""Path and query parameter types shared by the API and the pages, bounded for both dialects."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from mediashelf.web.schemas import INT32_MAX

JobId = Annotated[int, Path(ge=1, le=INT32_MAX, description="job id")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX)]
