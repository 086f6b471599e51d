"""The probing-truth corpus: one file per format, junk under media names, one file per rule."""

from __future__ import annotations

import pytest

from tests.conftest import Corpus
from tests.media.generate import generate_truth_corpus


@pytest.fixture(scope="session")
def truth_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Generate the truth corpus once per run."""
    root = tmp_path_factory.mktemp("truth")
    return Corpus(root, tuple(generate_truth_corpus(root)))
