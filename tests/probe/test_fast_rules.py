"""The pieces of the fast path: cover finding, demuxer hints and the second-pass rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediashelf.probe.analysis import DEMUXER_HINTS, demuxer_hint, has_signature
from mediashelf.probe.completeness import missing_fact
from mediashelf.probe.covers import find_covers, id3v2_end
from mediashelf.probe.pyav_streams import RawFacts
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import StreamFacts
from tests.conftest import Corpus
from tests.media.covers import cover_jpeg, write_covered_audio
from tests.media.generate import FORMAT_CLIPS


def test_id3v2_is_skipped_to_where_the_mp3_frames_start(tmp_path: Path) -> None:
    path = tmp_path / "tagged.mp3"
    write_covered_audio(path, "mp3", cover_jpeg(seed=2, side=64), seconds=1)
    with ProbeReader(path) as reader:
        end = id3v2_end(reader)
        assert reader.pread(end, 2)[0] == 0xFF  # a frame sync right after the tag
        assert find_covers(reader).skip_initial_bytes == end > 0


def test_flac_picture_blocks_are_shown_as_padding(tmp_path: Path) -> None:
    path = tmp_path / "covered.flac"
    write_covered_audio(path, "flac", cover_jpeg(seed=3, side=64), seconds=1)
    with ProbeReader(path) as reader:
        hiding = find_covers(reader)
        assert len(hiding.overlays) == 1
        ((offset, patch),) = hiding.overlays.items()
        assert reader.pread(offset, 1)[0] & 0x7F == 6  # PICTURE in the file
        assert patch[0] & 0x7F == 1  # PADDING as libav sees it
        reader.overlay(hiding.overlays)
        assert reader.pread(offset - 2, 4)[2] == patch[0]  # overlays apply inside a read


def test_mp4_cover_atom_is_shown_as_free(tmp_path: Path) -> None:
    path = tmp_path / "covered.m4a"
    write_covered_audio(path, "m4a", cover_jpeg(seed=4, side=64), seconds=1)
    with ProbeReader(path) as reader:
        overlays = find_covers(reader).overlays
        assert [reader.pread(at, 4) for at in overlays] == [b"covr"]
        assert list(overlays.values()) == [b"free"]


def _ebml(ident: str, body: bytes) -> bytes:
    """One EBML element: its ID (hex) and an 8-byte size."""
    return bytes.fromhex(ident) + (0x01 << 56 | len(body)).to_bytes(8, "big") + body


def test_matroska_attachments_after_the_clusters_are_found_through_the_seekhead(
    tmp_path: Path,
) -> None:
    attachments = _ebml("1941a469", _ebml("61a7", b"font" * 1000))
    cluster = _ebml("1f43b675", b"\x00" * 5000)

    def head(position: int) -> bytes:
        entry = _ebml("53ab", bytes.fromhex("1941a469")) + _ebml(
            "53ac", position.to_bytes(2, "big")
        )
        return _ebml("114d9b74", _ebml("4dbb", entry)) + _ebml("1549a966", b"info")

    at = len(head(0)) + len(cluster)  # where Attachments start, from the Segment's body
    segment = bytes.fromhex("18538067") + b"\x01\xff\xff\xff\xff\xff\xff\xff"  # unknown size
    path = tmp_path / "late.mkv"
    path.write_bytes(_ebml("1a45dfa3", b"webm") + segment + head(at) + cluster + attachments)
    with ProbeReader(path) as reader:
        overlays = find_covers(reader).overlays
        (offset,) = overlays
        assert offset == reader.size - len(attachments)
        assert reader.pread(offset, 4) == bytes.fromhex("1941a469")
        assert overlays[offset] != bytes.fromhex("1941a469")
        assert reader.bytes_read < 500  # headers only: the cluster is stepped over, never read


def test_a_file_without_cover_has_nothing_to_hide(corpus: Corpus) -> None:
    with ProbeReader(corpus.root / "video/h264_aac.mp4") as reader:
        hiding = find_covers(reader)
    assert hiding.skip_initial_bytes == 0
    assert hiding.overlays == {}


@pytest.mark.parametrize("ext", sorted(set(DEMUXER_HINTS) & set(FORMAT_CLIPS)))
def test_every_hinted_format_carries_its_signature(truth_corpus: Corpus, ext: str) -> None:
    path = truth_corpus.root / f"formats/sample.{ext}"
    hint = demuxer_hint(ext)
    assert hint is not None
    with ProbeReader(path) as reader:
        head = reader.pread(id3v2_end(reader), 400)
    assert has_signature(hint, head)


def test_junk_and_unlisted_extensions_get_no_hint(truth_corpus: Corpus) -> None:
    with ProbeReader(truth_corpus.root / "junk/random.mp3") as reader:
        assert not has_signature("mp3", reader.pread(0, 400))
    assert demuxer_hint(".AAC") is None  # raw ADTS resyncs past anything: detection
    assert demuxer_hint("MKV") == "matroska,webm"


def _video(**facts: object) -> StreamFacts:
    values: dict[str, object] = {"codec": "h264", "width": 1920, "height": 1080,
                                 "avg_frame_rate": 25, "field_order": "progressive"}  # fmt: skip
    values.update(facts)
    return StreamFacts(kind="video", **values)  # type: ignore[arg-type]


def _raw(*streams: StreamFacts, duration: float | None = 10.0) -> RawFacts:
    return RawFacts("matroska,webm", duration, None, streams)


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        (_raw(_video()), None),
        (_raw(_video(width=0)), "a video stream without codec or size"),
        (_raw(_video(width=0, attached_pic=True)), None),  # cover art needs no size
        (_raw(StreamFacts("audio", "mp3", sample_rate=0, channels=2)),
         "an audio stream without codec, sample rate or channels"),
        (_raw(_video(), duration=None), "no duration"),
        (_raw(_video(avg_frame_rate=None)), "no frame rate"),
        (_raw(_video(avg_frame_rate=50, field_order=None)), "field order unknown at a field rate"),
        (_raw(_video(avg_frame_rate=25, field_order=None)), None),
        # The fast analysis runs MPEG-1/2's decoder: what it did not state, nobody does.
        (_raw(_video(codec="mpeg2video")), None),
    ],
)  # fmt: skip
def test_a_second_pass_runs_only_for_a_missing_fact(raw: RawFacts, missing: str | None) -> None:
    assert missing_fact(raw) == missing
