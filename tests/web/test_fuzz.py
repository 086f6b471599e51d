"""Schemathesis against the app's own OpenAPI schema, on each dialect: no 5xx, no off-schema answer.

Every operation gets valid and invalid inputs (NUL bytes and huge integers included) with a
bounded, derandomized budget, through the same guards a browser meets (loopback Host, the
service's own Origin).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import create_engine, text

from mediashelf.config import Settings
from mediashelf.db.engine import normalize_url
from mediashelf.db.migrate import upgrade
from mediashelf.db.session import Database
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app
from tests.conftest import Corpus, make_runtime
from tests.web.conftest import BASE_URL, index_library

EXAMPLES_PER_OPERATION = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HEADERS = {"host": "localhost:8000", "origin": BASE_URL}


def empty_database(dialect: str, request: pytest.FixtureRequest, folder: Path) -> Database:
    """Return a migrated, empty database of `dialect` (one per module and dialect)."""
    if dialect == "sqlite":
        database = Database(f"sqlite:///{folder / 'fuzz.db'}")
    else:
        url: str = request.getfixturevalue("pg_database")
        engine = create_engine(normalize_url(url))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        database = Database(url)
    upgrade(database)
    return database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed_app(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    corpus: Corpus,
    probe_pool: ProbePool,
) -> Iterator[FastAPI]:
    """An app over a scanned copy of the corpus, tokenless, shared by the whole fuzz run."""
    folder = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    library = folder / "library"
    shutil.copytree(corpus.root, library, ignore=shutil.ignore_patterns("big"))
    database = empty_database(request.param, request, folder)
    index_library(database, library, probe_pool)
    yield create_app(make_runtime(database, library, probe_pool))
    database.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> OpenApiSchema:
    """The app's OpenAPI schema, as schemathesis reads it."""
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app, headers=HEADERS)


def cases() -> list[tuple[GenerationMode, str, str]]:
    """Return (mode, method, path) for every documented operation; negative where it has input."""
    spec = create_app(Runtime(Settings(), Database("sqlite://"))).openapi()
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            found.append((GenerationMode.POSITIVE, method.upper(), path))
            if operation.get("parameters") or operation.get("requestBody"):
                found.append((GenerationMode.NEGATIVE, method.upper(), path))
    return sorted(found)


@pytest.mark.parametrize(("mode", "method", "path"), cases())
def test_api_never_answers_5xx_or_off_schema(
    api_schema: OpenApiSchema, mode: GenerationMode, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    # A negative id that spells a sibling route ("stats" for /api/jobs/{job_id}) calls that
    # route, whose answer is rightly not a job: not a case of this operation.
    literal = {p for p in api_schema.raw_schema["paths"] if "{" not in p} - {path}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))  # fmt: skip
    def call(case: Case[Any]) -> None:
        assume(case.formatted_path not in literal)
        case.call_and_validate(headers=HEADERS, checks=CHECKS)

    call()
