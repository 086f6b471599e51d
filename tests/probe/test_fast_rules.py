"""The pieces of the fast path: cover finding, demuxer hints and the second-pass rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.errors import ProbeError
from mediashelf.probe.analysis import DEMUXER_HINTS, demuxer_hint, has_signature
from mediashelf.probe.base import Prober
from mediashelf.probe.completeness import missing_fact
from mediashelf.probe.covers import find_covers, id3v2_end
from mediashelf.probe.fast_path import probe_fast
from mediashelf.probe.normalize import channel_layout
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.pyav_streams import RawFacts
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import StreamFacts
from tests.conftest import Corpus
from tests.media.covers import cover_jpeg, id3v2_cover_tag, write_covered_audio
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


UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"
MKV_HEAD = _ebml("1a45dfa3", b"matroska")


def test_hostile_seekheads_cost_a_bounded_number_of_reads(tmp_path: Path) -> None:
    # 256 SeekHeads of ~200 Attachments entries each: a read per entry was 62,000 reads.
    entry = _ebml("4dbb", _ebml("53ab", bytes.fromhex("1941a469")) + _ebml("53ac", b"\x00\x10"))
    heads = b"".join(_ebml("114d9b74", entry * 100) for _ in range(256))
    path = tmp_path / "seekheads.mkv"
    path.write_bytes(MKV_HEAD + bytes.fromhex("18538067") + UNKNOWN_SIZE + heads)
    with ProbeReader(path) as reader:
        assert find_covers(reader).overlays == {}
        assert reader.reads < 300


def test_attachments_of_unknown_size_are_left_alone(tmp_path: Path) -> None:
    # Shown as unknown, an element of unknown size sends libav scanning the whole file.
    attachments = bytes.fromhex("1941a469") + UNKNOWN_SIZE + _ebml("61a7", b"font" * 100)
    path = tmp_path / "unsized.mkv"
    path.write_bytes(MKV_HEAD + bytes.fromhex("18538067") + UNKNOWN_SIZE + attachments)
    with ProbeReader(path) as reader:
        assert find_covers(reader).overlays == {}


def test_a_seekhead_pointing_into_media_data_changes_no_byte_of_it(tmp_path: Path) -> None:
    # Four bytes of a packet that happen to read as an Attachments header are not one.
    planted = bytes.fromhex("1941a469") + (0x01 << 56 | 64).to_bytes(8, "big") + bytes(64)
    cluster = _ebml("1f43b675", bytes(100) + planted + bytes(100))
    entry = _ebml("53ab", bytes.fromhex("1941a469")) + _ebml("53ac", b"\x00\x00")
    head = _ebml("114d9b74", _ebml("4dbb", entry))
    at = len(head) + 12 + 100  # the planted bytes, from the Segment's body
    head = head.replace(_ebml("53ac", b"\x00\x00"), _ebml("53ac", at.to_bytes(2, "big")))
    path = tmp_path / "planted.mkv"
    path.write_bytes(MKV_HEAD + bytes.fromhex("18538067") + UNKNOWN_SIZE + head + cluster)
    with ProbeReader(path) as reader:
        assert find_covers(reader).overlays == {}


def test_an_aiff_id3_chunk_smaller_than_its_tag_is_not_hidden(tmp_path: Path) -> None:
    # libav continues after the larger of chunk and tag: hiding a chunk of size 0 made it
    # read the chunks after the tag from the wrong place (the channel layout was lost).
    source = tmp_path / "source.aiff"
    write_covered_audio(source, "aiff", cover_jpeg(seed=8, side=64), seconds=1)
    data = source.read_bytes()
    comm, sound = data[12:38], data[38 : 38 + 8 + int.from_bytes(data[42:46], "big")]
    assert comm[:4] == b"COMM"
    assert sound[:4] == b"SSND"
    chan = b"CHAN" + (12).to_bytes(4, "big") + (103 << 16 | 2).to_bytes(4, "big") + bytes(8)
    tag = id3v2_cover_tag(cover_jpeg(seed=8, side=64))
    body = b"AIFF" + comm + b"ID3 " + bytes(4) + tag + chan + sound
    path = tmp_path / "short-chunk.aiff"
    path.write_bytes(b"FORM" + len(body).to_bytes(4, "big") + body)
    with ProbeReader(path) as reader:
        assert find_covers(reader).overlays == {}
    fast, full = PyAVProber().probe(path), PyAVProber(fast=False).probe(path)
    assert fast == full
    assert fast.audio_channel_layout == "downmix"


def test_the_riff_walk_stops_where_sizes_stop_meaning_the_next_chunk(tmp_path: Path) -> None:
    # A data chunk of size 0 runs to the end of the file: bytes after it are audio.
    fmt = b"fmt " + (16).to_bytes(4, "little") + bytes.fromhex("0100020044ac000010b1020004001000")
    payload = b"id3 " + (10).to_bytes(4, "little") + b"ID3\x03\x00\x00\x00\x00\x00\x00"
    body = b"WAVE" + fmt + b"data" + bytes(4) + payload
    path = tmp_path / "open-data.wav"
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with ProbeReader(path) as reader:
        assert find_covers(reader).overlays == {}


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


def _raw(
    *streams: StreamFacts, duration: float | None = 10.0, container: str = "matroska,webm"
) -> RawFacts:
    return RawFacts(container, duration, None, streams)


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        (_raw(_video()), None),
        (_raw(_video(width=0)), "a video stream without codec or size"),
        (_raw(_video(width=0, attached_pic=True)), None),  # cover art needs no size
        (_raw(StreamFacts("audio", "mp3", sample_rate=0, channels=2)),
         "an audio stream without codec, sample rate or channels"),
        (_raw(_video(), duration=None, container="mpegts"), "no duration"),
        # Matroska stating no duration is timed by its clusters after either analysis.
        (_raw(_video(), duration=None), None),
        (_raw(_video(avg_frame_rate=None)), "no frame rate"),
        (_raw(_video(avg_frame_rate=50, field_order=None)), "field order unknown at a field rate"),
        (_raw(_video(avg_frame_rate=25, field_order=None)), None),
        # The fast analysis runs MPEG-1/2's decoder: what it did not state, nobody does.
        (_raw(_video(codec="mpeg2video")), None),
        # MXF states a stored size (1920x1088 for 1080 lines): only the decoder the shown one.
        (_raw(_video(height=1088), container="mxf"),
         "an MXF picture's stored size, not its displayed one"),
        (_raw(_video(codec="mpeg2video"), container="mxf"), None),
    ],
)  # fmt: skip
def test_a_second_pass_runs_only_for_a_missing_fact(raw: RawFacts, missing: str | None) -> None:
    assert missing_fact(raw) == missing


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("old.flv", ClipSpec("flv", "flv", "libmp3lame", width=64, height=48, duration_s=0.3)),
        ("phone.3gp", ClipSpec("3gp", "h263", "aac", width=128, height=96, duration_s=0.3,
                               sample_rate=8000, layout="mono")),
        ("camcorder.avi", ClipSpec("avi", "dvvideo", "pcm_s16le", width=720, height=576,
                                   duration_s=0.2, sample_rate=48000, amplitude=0)),
    ],
)  # fmt: skip
def test_formats_whose_decoder_states_the_size_need_no_second_analysis(
    tmp_path: Path, name: str, spec: ClipSpec
) -> None:
    """Sorenson (FLV1), H.263 and DV state their picture size or rate only to their decoder."""
    path = tmp_path / name
    write_clip(path, spec)
    answered = probe_fast(path, path.stat().st_size, "test")
    assert answered.result is not None, answered
    assert answered.result.media_fields() == PyAVProber(fast=False).probe(path).media_fields()


@pytest.mark.parametrize(("encoder", "codec"), [("libx264", "h264"), ("jpeg2000", "jpeg2000")])
def test_mxf_video_has_its_displayed_size_and_picture_codecs_are_its_film(
    tmp_path: Path, each_way: Prober, encoder: str, codec: str
) -> None:
    """MXF states 160x128 for 160x120 H.264 (whole macroblocks); decoders say 120.

    JPEG 2000 is cinema's and broadcast cameras' codec: in MXF, which carries no cover art,
    it is the film, though libav states neither a frame count nor an average rate for it.
    The fast path said 160x128 for the first, and every way "no audio or video stream" for
    the second (ffprobe itself shows its 160x120 video).
    """
    path = tmp_path / f"camera-{encoder}.mxf"
    write_clip(path, ClipSpec("mxf", encoder, None, width=160, height=120, duration_s=0.4))
    probed = each_way.probe(path)
    assert (probed.video_codec, probed.resolution, probed.has_video) == (codec, "160x120", True)


def test_a_custom_order_layout_is_probed_and_decoded_without_killing_the_process(
    tmp_path: Path,
) -> None:
    """CAF 7.1 (as libav 8 writes it) holds its channels in a custom order.

    PyAV 18.1 frees such a layout's channel map twice when asked for it: probing aborted
    the pool process ("double free or corruption"), so the file failed as `crashed`, and
    verifying it did the same. In a pool, so the old failure is a result, not a dead test.
    """
    path = tmp_path / "surround.caf"
    spec = ClipSpec("caf", None, "pcm_s24le", layout="7.1", sample_rate=48000, duration_s=0.3)
    write_clip(path, spec)
    for prober in (PyAVProber(), PyAVProber(fast=False)):
        with ProbePool(prober, processes=1, timeout_s=20) as pool:
            probed = pool.probe(path)
            ((_, report),) = list(pool.decode_many([(path, 20.0)]))
        assert (probed.audio_channels, probed.audio_channel_layout) == (8, "7.1")
        assert probed.audio_bit_depth == 24
        assert not isinstance(report, ProbeError)
        assert report.errors == 0
        assert report.decoded_s == pytest.approx(0.3, abs=0.03)


@pytest.mark.parametrize(
    ("described", "named"),
    [
        ("8 channels (FL+FR+FC+LFE+SL+SR+BL+BR)", "7.1"),
        ("7 channels (FL+FR+FC+LFE+SL+SR+BC)", "6.1"),
        ("3 channels (FR+FL+LFE)", "2.1"),
        ("3 channels (FL+FR+TBC)", "3 channels (FL+FR+TBC)"),  # no named layout: as described
        ("2 channels", None),
        ("5.1(side)", "5.1(side)"),
    ],
)
def test_a_custom_order_is_named_by_its_channels(described: str, named: str | None) -> None:
    assert channel_layout(described) == named
