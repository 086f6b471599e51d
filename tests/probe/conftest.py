"""The probing-truth corpus: one file per format, junk under media names, one file per rule."""

from __future__ import annotations

import pytest

from mediashelf.probe.base import Prober
from mediashelf.probe.ffprobe_backend import FfprobeProber
from mediashelf.probe.pyav_backend import PyAVProber
from tests.conftest import Corpus
from tests.media.generate import generate_truth_corpus


@pytest.fixture(scope="session")
def truth_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Generate the truth corpus once per run."""
    root = tmp_path_factory.mktemp("truth")
    return Corpus(root, tuple(generate_truth_corpus(root)))


@pytest.fixture(params=["fast", "full", "ffprobe"])
def each_way(request: pytest.FixtureRequest) -> Prober:
    """The fast path, the full analysis and ffprobe: a rule applied after either backend
    (the MP3 frame count, the Matroska timing) must give all three the same fact."""
    if request.param == "ffprobe":
        request.getfixturevalue("require_ffprobe")
        return FfprobeProber()
    return PyAVProber(fast=request.param == "fast")
