"""The shared normalisation rules: unknown values, frame rates, stream choice, fallbacks."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import av
import pytest

from mediashelf.errors import ProbeCorrupt, ProbeError, ProbeNoStreams
from mediashelf.probe.ffprobe_backend import FfprobeProber
from mediashelf.probe.normalize import (
    build_result,
    choose_audio,
    choose_video,
    frame_rate,
    positive_float,
    positive_int,
)
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.pyav_dump import dumped_streams, split_top_level
from mediashelf.probe.result import ProbeResult, StreamFacts
from tests.conftest import Corpus

ATTACHED_PIC = av.stream.Disposition.attached_pic
UNKNOWN = ["N/A", "", "0", 0, 0.0, "-1", -5, float("nan"), "nan", float("inf"), "-inf", None]
UNKNOWN += ["junk", True, False, [1]]


@pytest.mark.parametrize("value", UNKNOWN)
def test_unknown_values_become_none(value: object) -> None:
    assert positive_int(value) is None
    assert positive_float(value) is None


@pytest.mark.parametrize(
    ("value", "expected"), [("128000", 128000), (44100, 44100), ("2.9", 2), (7.0, 7)]
)
def test_positive_int_parses_numbers(value: object, expected: int) -> None:
    assert positive_int(value) == expected


def test_positive_float_parses_numbers() -> None:
    assert positive_float("1.045") == 1.045
    assert positive_float(3) == 3.0


def test_positive_int_never_returns_zero() -> None:
    assert positive_int(0.5) is None
    assert positive_int("0.25") is None


def test_frame_rate_ntsc() -> None:
    assert frame_rate("30000/1001") == 29.97


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (("0/0", "25/1"), 25.0),
        (("N/A", "24000/1001"), 23.976),
        ((None, Fraction(50, 2)), 25.0),
        ((Fraction(0, 1), 30.0), 30.0),
        (("25",), 25.0),
        (("x/y", "-25/1", "25/-1"), None),
        (("0/0",), None),
        ((), None),
    ],
)
def test_frame_rate_takes_the_first_usable_candidate(
    candidates: tuple[object, ...], expected: float | None
) -> None:
    assert frame_rate(*candidates) == expected


def _video(
    codec: str,
    width: int | None,
    height: int | None,
    *,
    attached_pic: bool = False,
    default: bool = False,
) -> StreamFacts:
    return StreamFacts(
        kind="video",
        codec=codec,
        width=width,
        height=height,
        attached_pic=attached_pic,
        default=default,
    )


def test_choose_video_skips_cover_art_and_still_images_and_picks_the_largest() -> None:
    cover = _video("mjpeg", 3000, 3000, attached_pic=True)
    still = _video("png", 2000, 2000)
    small = _video("h264", 640, 360)
    large = _video("hevc", 1920, 1080)
    audio = StreamFacts(kind="audio", codec="aac")
    assert choose_video([cover, small, still, large, audio]) is large


def test_choose_video_prefers_default_among_equal_sizes() -> None:
    first = _video("h264", 640, 360)
    default = _video("vp9", 640, 360, default=True)
    assert choose_video([first, default]) is default


def test_a_picture_codec_track_is_the_video_only_when_nothing_else_is() -> None:
    # A cover remuxed into Matroska as a plain V_MJPEG track: no attached_pic flag, no frame
    # count, larger than the film. Seen as mjpeg 1000x1000 at "1000 fps" chosen over H.264.
    cover = _video("mjpeg", 1000, 1000)
    film = _video("h264", 1280, 720, default=True)
    assert choose_video([film, cover], "matroska,webm") is film
    assert choose_video([cover, film], "matroska,webm") is film
    motion_jpeg = replace(cover, frames=250)
    assert choose_video([motion_jpeg], "avi") is motion_jpeg
    # A motion-JPEG camera file with a small preview track: the container counts the frames.
    camera = _video("mjpeg", 1280, 720)
    preview = _video("mpeg4", 160, 120)
    assert choose_video([preview, replace(camera, frames=30)], "mov,mp4,m4a,3gp,3g2,mj2") == (
        replace(camera, frames=30)
    )


def test_choose_video_with_only_cover_art_is_none() -> None:
    assert choose_video([_video("mjpeg", 500, 500, attached_pic=True), _video("png", 9, 9)]) is None


def _audio(codec: str, *, default: bool = False) -> StreamFacts:
    return StreamFacts(kind="audio", codec=codec, sample_rate=44100, channels=2, default=default)


@pytest.mark.parametrize(
    ("codec", "channels", "rate", "real"),
    [
        ("pcm_s16le", 64, 768_000, True),  # 7th-order ambisonics; the highest PCM rate sold
        ("pcm_s16le", 65, 44_100, False),
        ("pcm_s16le", 2, 768_001, False),
        ("pcm_u8", 1, 4_000, True),  # old game sound
        ("pcm_s16le", 2, 999, False),  # 1 Hz made 5 s of sound last 61 hours
        ("dsd_lsbf_planar", 2, 5_644_800, True),  # DSD1024: libav states a 1/8 byte rate
        ("dsd_lsbf_planar", 2, 6_144_001, False),
        ("qoa", 153, 9_875_929, False),  # random bytes under QOA's forced demuxer
    ],
)
def test_audio_no_recording_has_is_a_corrupt_header(
    codec: str, channels: int, rate: int, real: bool
) -> None:
    stream = StreamFacts(kind="audio", codec=codec, sample_rate=rate, channels=channels)

    def build() -> ProbeResult:
        return build_result(container="wav", duration=1.0, size_bytes=1000, bitrate=None,
                            streams=[stream], prober="pyav")  # fmt: skip

    if real:
        result = build()
        assert (result.audio_channels, result.audio_sample_rate) == (
            channels,
            rate * 8 if codec.startswith("dsd") else rate,
        )
    else:
        with pytest.raises(ProbeCorrupt, match="Corrupt header: its audio stream states"):
            build()


def test_a_stream_without_a_sample_rate_is_unusable_not_implausible() -> None:
    stream = StreamFacts(kind="audio", codec="pcm_s16le", channels=2)
    with pytest.raises(ProbeCorrupt, match="no sample rate, channels or size"):
        build_result(container="wav", duration=1.0, size_bytes=1000, bitrate=None,
                     streams=[stream], prober="pyav")  # fmt: skip


def test_an_unusable_stream_is_settled_only_when_every_codec_is_known() -> None:
    """Another backend may know a codec this one does not and read that stream's rate."""
    known = StreamFacts(kind="audio", codec="flac")
    unknown = StreamFacts(kind="audio", codec="none")
    for streams, settled in (([known], True), ([known, unknown], False)):
        with pytest.raises(ProbeCorrupt) as caught:
            build_result(container="matroska,webm", duration=1.0, size_bytes=1000, bitrate=None,
                         streams=streams, prober="pyav")  # fmt: skip
        assert caught.value.settled is settled


def test_a_real_stream_beside_an_impossible_one_is_kept() -> None:
    impossible = StreamFacts(kind="audio", codec="pcm_s16le", sample_rate=44_100, channels=300)
    result = build_result(container="mov", duration=1.0, size_bytes=1000, bitrate=None,
                          streams=[impossible, _audio("aac")], prober="pyav")  # fmt: skip
    assert (result.audio_codec, result.audio_channels) == ("aac", 2)


def test_choose_audio_prefers_default_else_first() -> None:
    first = _audio("aac")
    default = _audio("opus", default=True)
    assert choose_audio([first, default]) is default
    assert choose_audio([first, _audio("mp3")]) is first
    assert choose_audio([_video("h264", 1, 1)]) is None


def test_choose_audio_looks_in_the_main_videos_programme_first() -> None:
    """A capture of a DVB multiplex: the film of one channel with another channel's sound
    described no programme (the first audio stream belonged to the first programme)."""
    first_channel = replace(_audio("mp2", default=True), programs=(1,))
    film = replace(_video("h264", 1920, 1080), programs=(2,))
    its_sound = replace(_audio("ac3"), programs=(2, 3))
    streams = [first_channel, film, its_sound]
    assert choose_audio(streams, film) is its_sound
    assert choose_audio(streams) is first_channel  # no video: the usual rule
    silent_film = replace(film, programs=(4,))  # no sound of its own: any audio, as before
    assert choose_audio(streams, silent_film) is first_channel
    result = build_result(container="mpegts", duration=2.0, size_bytes=1000, bitrate=None,
                          streams=streams, prober="pyav")  # fmt: skip
    assert (result.width, result.audio_codec) == (1920, "ac3")


def test_build_result_falls_back_to_size_over_duration_for_bitrate() -> None:
    result = build_result(
        container="mp3",
        duration="2.0",
        size_bytes=50_000,
        bitrate="N/A",
        streams=[_audio("mp3")],
        prober="test",
    )
    assert result.bitrate == 50_000 * 8 // 2
    assert result.duration == 2.0
    assert result.has_audio
    assert not result.has_video
    assert result.resolution is None


def test_build_result_keeps_a_known_bitrate_and_unknown_stays_none() -> None:
    streams = [_video("h264", 1280, 720)]
    known = build_result(
        container="matroska,webm",
        duration=1.0,
        size_bytes=1000,
        bitrate="4000",
        streams=streams,
        prober="t",
    )
    assert known.bitrate == 4000
    assert known.resolution == "1280x720"
    unknown = build_result(
        container="", duration="N/A", size_bytes=0, bitrate=None, streams=streams, prober="t"
    )
    assert unknown.bitrate is None
    assert unknown.duration is None
    assert unknown.size_bytes is None
    assert unknown.container is None


def test_build_result_rounds_duration_to_microseconds() -> None:
    """A 100 µs clip keeps its length instead of becoming 0.0 (libav's own precision)."""
    result = build_result(
        container="wav",
        duration=0.000113379,
        size_bytes=1,
        bitrate=1,
        streams=[_audio("pcm_s16le")],
        prober="t",
    )
    assert result.duration == 0.000113


def test_build_result_without_audio_or_video_raises_no_streams() -> None:
    with pytest.raises(ProbeNoStreams) as caught:
        build_result(
            container="matroska,webm",
            duration=1.0,
            size_bytes=10,
            bitrate=None,
            streams=[StreamFacts(kind="subtitle", codec="ass"), _video("png", 10, 10)],
            prober="t",
        )
    assert caught.value.error_class == "no_streams"


def test_cover_art_mp3_probes_as_audio_only(corpus: Corpus) -> None:
    path = corpus.root / "audio/cover.mp3"
    with av.open(str(path)) as container:  # the cover really is there, as a video stream
        covers = [s for s in container.streams.video if s.disposition & ATTACHED_PIC]
    assert len(covers) == 1
    result = PyAVProber().probe(path)
    assert result.has_audio
    assert not result.has_video
    assert result.audio_codec == "mp3"
    assert result.resolution is None
    assert result.width is None
    assert result.video_codec is None


@pytest.mark.usefixtures("require_ffprobe")
def test_cover_art_mp3_probes_as_audio_only_with_ffprobe(corpus: Corpus) -> None:
    result = FfprobeProber().probe(corpus.root / "audio/cover.mp3")
    assert result.has_audio
    assert not result.has_video
    assert result.resolution is None


# --------------------------------------------------------------------------- rules of v2


def test_field_rate_of_an_interlaced_stream_is_halved() -> None:
    interlaced = StreamFacts(
        kind="video", codec="h264", width=1920, height=1080, avg_frame_rate="50/1",
        r_frame_rate="50/1", field_order="tt",
    )  # fmt: skip
    progressive = replace(interlaced, field_order="progressive")
    assert _one(interlaced).video_fps == 25.0
    assert _one(progressive).video_fps == 50.0
    assert _one(replace(interlaced, avg_frame_rate="0/0", r_frame_rate="25/1")).video_fps == 25.0


def test_a_time_base_is_not_a_frame_rate() -> None:
    dv = StreamFacts(
        kind="video", codec="dvvideo", width=720, height=576, avg_frame_rate=60000,
        r_frame_rate=Fraction(25, 1),
    )  # fmt: skip
    assert _one(dv).video_fps == 25.0


def test_mpegts_bitrate_is_measured_not_the_pcr_estimate() -> None:
    video = StreamFacts(kind="video", codec="mpeg2video", width=64, height=48)
    result = build_result(
        container="mpegts", duration=1.0, size_bytes=10_000, bitrate=160_000,
        streams=[video], prober="t",
    )  # fmt: skip
    assert result.bitrate == 80_000


def test_dsd_is_one_bit_at_its_native_rate() -> None:
    dsd = StreamFacts(
        kind="audio", codec="dsd_lsbf_planar", sample_rate=352800, channels=2,
        sample_format="fltp", bits_per_raw_sample="N/A",
    )  # fmt: skip
    result = _one(dsd)
    assert (result.audio_sample_rate, result.audio_bit_depth) == (2_822_400, 1)


@pytest.mark.parametrize(
    ("codec", "raw", "sample_format", "expected"),
    [
        ("ape", None, "s16p", 16),
        ("wavpack", "24", "s32p", 24),
        ("tak", None, "s16p", 16),
        ("pcm_s24le", None, "s32", 24),
        ("adpcm_ms", None, "s16", 4),
        ("adpcm_sbpro_2", None, "s16", 2),
        ("pcm_mulaw", None, "s16", 8),
        ("aac", "16", "fltp", None),
        ("mp3", None, "s16p", None),
        ("wmalossless", None, "s16p", 16),
    ],
)
def test_bit_depth_rule(codec: str, raw: object, sample_format: str, expected: int | None) -> None:
    stream = StreamFacts(
        kind="audio", codec=codec, sample_rate=44100, channels=2, sample_format=sample_format,
        bits_per_raw_sample=raw,
    )  # fmt: skip
    assert _one(stream).audio_bit_depth == expected


@pytest.mark.parametrize(
    ("streams", "container", "error_class"),
    [
        ([StreamFacts(kind="audio", codec="flac", sample_rate=0, channels=0)], "flac", "corrupt"),
        ([StreamFacts(kind="video", codec="mjpeg", width=64, height=64)], "jpeg_pipe", "corrupt"),
        (
            [StreamFacts(kind="audio", codec="none", sample_rate=44100, channels=2)],
            "wav",
            "unsupported",
        ),
        ([StreamFacts(kind="subtitle", codec="ass")], "matroska,webm", "no_streams"),
    ],
)
def test_no_usable_stream_is_a_classified_error(
    streams: list[StreamFacts], container: str, error_class: str
) -> None:
    with pytest.raises(ProbeError) as caught:
        build_result(
            container=container, duration=1.0, size_bytes=10, bitrate=None, streams=streams,
            prober="t",
        )  # fmt: skip
    assert caught.value.error_class == error_class


def test_a_picture_in_an_audio_container_is_cover_art() -> None:
    cover = StreamFacts(kind="video", codec="mjpeg", width=500, height=500)
    assert choose_video([cover], "mp3") is None
    assert choose_video([replace(cover, frames=1)], "matroska,webm") is None
    assert choose_video([replace(cover, frames=250)], "avi") is not None


def test_unknown_bitrate_is_none_never_zero() -> None:
    result = _one(replace(_audio("ape"), bitrate=0), bitrate=0, duration=None)
    assert result.bitrate is None
    assert result.audio_bitrate is None


def test_dump_gives_facts_pyav_does_not_expose(corpus: Corpus) -> None:
    with av.open(str(corpus.root / "audio/flac24_5.1.flac")) as container:
        dumped = dumped_streams(container)
    assert dumped[0].bits_per_raw_sample == 24
    assert (dumped[0].sample_rate, dumped[0].channels) == (48000, 6)


def test_split_top_level_keeps_parenthesised_commas() -> None:
    line = "h264 (High), yuv420p(tv, bt709, top first), 1920x1080, 25 fps"
    assert split_top_level(line) == [
        "h264 (High)",
        "yuv420p(tv, bt709, top first)",
        "1920x1080",
        "25 fps",
    ]


def _one(stream: StreamFacts, *, bitrate: object = 1000, duration: object = 1.0) -> ProbeResult:
    return build_result(
        container="test", duration=duration, size_bytes=None, bitrate=bitrate, streams=[stream],
        prober="t",
    )  # fmt: skip
