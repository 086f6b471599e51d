"""Fixtures of the job tests: a demo library of small real clips, shared read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediashelf.demo_library import write_demo_library

DEMO_FILES = 600


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write 600 small clips once per run (scans only read them)."""
    root = tmp_path_factory.mktemp("demo") / "library"
    assert write_demo_library(root, DEMO_FILES) == DEMO_FILES
    return root
