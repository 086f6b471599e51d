"""Probing truth on the generated corpus: formats, junk, rules, and both backends agreeing."""

from __future__ import annotations

import pytest

from mediashelf.errors import ProbeError
from mediashelf.probe.base import Prober
from mediashelf.probe.ffprobe_backend import FfprobeProber
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult
from tests.conftest import Corpus
from tests.media.generate import _CLIPS, FORMAT_CLIPS, JUNK, RULE_FILES
from tests.probe.test_parity import BITRATE_TOLERANCE, EXACT_FIELDS, _durations_agree, _within


@pytest.fixture(params=["pyav", "ffprobe"])
def prober(request: pytest.FixtureRequest) -> Prober:
    """Each backend on its own (the chain would hide one behind the other)."""
    if request.param == "ffprobe":
        request.getfixturevalue("require_ffprobe")
        return FfprobeProber()
    return PyAVProber()


@pytest.mark.parametrize("ext", sorted(FORMAT_CLIPS))
def test_listed_extension_probes_ok_as_its_kind(
    prober: Prober, truth_corpus: Corpus, ext: str
) -> None:
    kind, _spec = FORMAT_CLIPS[ext]
    result = prober.probe(truth_corpus.root / f"formats/sample.{ext}")
    assert result.has_video == (kind == "video")
    assert result.has_audio or result.has_video
    assert result.bitrate is None or result.bitrate > 0


@pytest.mark.parametrize(("relpath", "error_class"), sorted(JUNK.items()))
def test_junk_is_never_ok(
    prober: Prober, truth_corpus: Corpus, relpath: str, error_class: str
) -> None:
    with pytest.raises(ProbeError) as caught:
        prober.probe(truth_corpus.root / relpath)
    assert caught.value.error_class == error_class
    assert str(truth_corpus.root) not in caught.value.message


@pytest.mark.parametrize("relpath", sorted(RULE_FILES))
def test_rule_file_stores_the_true_facts(
    prober: Prober, truth_corpus: Corpus, relpath: str
) -> None:
    result = prober.probe(truth_corpus.root / relpath)
    facts = {name: getattr(result, name) for name in RULE_FILES[relpath]}
    assert facts == RULE_FILES[relpath]
    assert result.bitrate is None or result.bitrate > 0


def test_truncated_ts_bitrate_is_measured_not_doubled(truth_corpus: Corpus) -> None:
    path = truth_corpus.root / "rules/truncated.ts"
    result = PyAVProber().probe(path)
    assert result.duration is not None
    assert result.bitrate is not None
    measured = path.stat().st_size * 8 / result.duration
    assert abs(result.bitrate - measured) <= 0.05 * measured


def _outcome(prober: Prober, path: object) -> ProbeResult | str:
    try:
        return prober.probe(path)  # type: ignore[arg-type]
    except ProbeError as exc:
        return exc.error_class


def _disagreements(pyav: ProbeResult | str, ff: ProbeResult | str) -> list[str]:
    if isinstance(pyav, str) or isinstance(ff, str):
        return [] if pyav == ff else [f"outcome: pyav={pyav!r} ffprobe={ff!r}"]
    problems = [
        f"{name}: pyav={getattr(pyav, name)!r} ffprobe={getattr(ff, name)!r}"
        for name in (*EXACT_FIELDS, "audio_bitrate", "video_bitrate")
        if name not in ("audio_bitrate", "video_bitrate")
        and getattr(pyav, name) != getattr(ff, name)
    ]
    if not _durations_agree(pyav, ff):
        problems.append(f"duration: pyav={pyav.duration!r} ffprobe={ff.duration!r}")
    if not _within(pyav.bitrate, ff.bitrate, BITRATE_TOLERANCE):
        problems.append(f"bitrate: pyav={pyav.bitrate!r} ffprobe={ff.bitrate!r}")
    return problems


CONFORMANCE = [f"corpus:{relpath}" for relpath, _kind, _spec in _CLIPS] + [
    "corpus:broken/empty.mp3", "corpus:broken/truncated.mp4", "corpus:broken/random.mp4",
    "corpus:broken/notes.mkv",
    *(f"truth:formats/sample.{ext}" for ext in sorted(FORMAT_CLIPS)),
    *(f"truth:{relpath}" for relpath in sorted(JUNK)),
    *(f"truth:{relpath}" for relpath in sorted(RULE_FILES)),
]  # fmt: skip


def test_conformance_list_covers_both_corpora(corpus: Corpus, truth_corpus: Corpus) -> None:
    listed = {name.split(":", 1)[1] for name in CONFORMANCE}
    probed = {f.relpath for f in corpus.of_kind("video", "audio", "broken")}
    assert probed | {f.relpath for f in truth_corpus.files} == listed


@pytest.mark.usefixtures("require_ffprobe")
@pytest.mark.parametrize("name", CONFORMANCE)
def test_both_backends_store_the_same_facts_and_error_class(
    corpus: Corpus, truth_corpus: Corpus, name: str
) -> None:
    which, relpath = name.split(":", 1)
    path = (corpus if which == "corpus" else truth_corpus).root / relpath
    problems = _disagreements(_outcome(PyAVProber(), path), _outcome(FfprobeProber(), path))
    assert not problems, f"{relpath}:\n  " + "\n  ".join(problems)
