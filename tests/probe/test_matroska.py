"""A Matroska file written to a pipe states no duration: it is timed by its last cluster."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import av
import pytest

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.probe.base import Prober
from mediashelf.probe.fast_path import probe_fast
from mediashelf.probe.matroska import matroska_facts
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult
from tests.media.pipes import remux_through_pipe

SECONDS = 4.0
FILMS = {  # the audio's bitrate is known, the video's is not: libav's estimate uses the audio's
    "mpeg4_ac3": ClipSpec("matroska", "mpeg4", "ac3", width=320, height=240, duration_s=SECONDS,
                          sample_rate=48000, amplitude=0),
    "h264_mp3": ClipSpec("matroska", "libx264", "libmp3lame", width=320, height=240,
                         duration_s=SECONDS, amplitude=0),
    # neither bitrate is known: libav makes no guess at all
    "h264_aac": ClipSpec("matroska", "libx264", "aac", width=320, height=240,
                         duration_s=SECONDS, amplitude=0),
}  # fmt: skip


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each film finished (stating its Duration), piped, and piped as a live stream."""
    folder = tmp_path_factory.mktemp("mkv")
    made: dict[str, Path] = {}
    for name, spec in FILMS.items():
        finished = made[f"{name}.finished"] = folder / f"{name}.mkv"
        write_clip(finished, spec)
        remux_through_pipe(finished, made.setdefault(f"{name}.piped", folder / f"{name}-p.mkv"))
        live = made[f"{name}.live"] = folder / f"{name}-live.mkv"
        remux_through_pipe(finished, live, options={"live": "1"})
    return made


def _libav_duration(path: Path, options: dict[str, str] | None = None) -> float | None:
    with av.open(str(path), options=options or {}) as container:
        return container.duration / 1_000_000 if container.duration else None


def test_the_piped_files_are_the_case_libav_gets_wrong(films: dict[str, Path]) -> None:
    for name in FILMS:
        assert _libav_duration(films[f"{name}.finished"]) == pytest.approx(SECONDS, abs=0.1)
        for kind in ("piped", "live"):
            guesses = {_libav_duration(films[f"{name}.{kind}"], options)
                       for options in (None, {"max_ts_probe": "1"})}  # fmt: skip
            assert all(guess is None or abs(guess - SECONDS) > 1 for guess in guesses)
    assert _libav_duration(films["mpeg4_ac3.piped"]) is not None  # the size / audio bitrate


@pytest.mark.parametrize("kind", ["piped", "live"])
@pytest.mark.parametrize("name", sorted(FILMS))
def test_a_matroska_file_stating_no_duration_is_timed_by_its_last_cluster(
    each_way: Prober, films: dict[str, Path], name: str, kind: str
) -> None:
    path = films[f"{name}.{kind}"]
    result = each_way.probe(path)
    assert result.duration is not None
    assert result.duration == pytest.approx(SECONDS, abs=0.1)
    assert result.bitrate == round(path.stat().st_size * 8 / result.duration)


@pytest.mark.parametrize("kind", ["piped", "live"])
@pytest.mark.parametrize("name", sorted(FILMS))
def test_the_fast_path_times_them_without_a_second_pass(
    films: dict[str, Path], name: str, kind: str
) -> None:
    """The clusters time such a file after either analysis: a full one adds nothing."""
    path = films[f"{name}.{kind}"]
    outcome = probe_fast(path, path.stat().st_size, "test")
    assert outcome.result is not None, outcome.reason
    fast, full = PyAVProber(fast=True).probe(path), PyAVProber(fast=False).probe(path)
    assert fast.media_fields() == full.media_fields()


@pytest.mark.parametrize("name", sorted(FILMS))
def test_a_file_stating_its_duration_is_left_as_libav_read_it(
    films: dict[str, Path], name: str
) -> None:
    path = films[f"{name}.finished"]
    read = PyAVProber(fast=False).probe(path)
    assert matroska_facts(path, read) == read


def test_a_cut_off_recording_lasts_as_long_as_what_remains(
    each_way: Prober, films: dict[str, Path], tmp_path: Path
) -> None:
    whole = films["mpeg4_ac3.piped"].read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) // 2])
    result = each_way.probe(cut)
    assert result.duration is not None
    assert 1.0 < result.duration < 3.0


def _guessed(path: Path) -> ProbeResult:
    """What libav reported for a piped file: its size divided by the audio's bitrate."""
    read = PyAVProber(fast=False).probe(path)
    return replace(read, duration=57.1, bitrate=96_000)


@pytest.mark.parametrize(
    "body",
    [
        "zeros",  # no cluster at all
        "cluster IDs",  # 16 MB of cluster IDs: tried a bounded number of times
    ],
)
def test_no_cluster_to_time_makes_the_duration_unknown_not_a_guess(
    films: dict[str, Path], tmp_path: Path, body: str
) -> None:
    whole = films["mpeg4_ac3.piped"].read_bytes()
    first_cluster = whole.index(b"\x1f\x43\xb6\x75")
    rest = bytes(len(whole) - first_cluster) if body == "zeros" else b"\x1f\x43\xb6\x75" * (4 << 20)
    path = tmp_path / "no-clusters.mkv"
    path.write_bytes(whole[:first_cluster] + rest)
    guessed = replace(_guessed(films["mpeg4_ac3.piped"]), size_bytes=path.stat().st_size)
    result = matroska_facts(path, guessed)
    assert (result.duration, result.bitrate) == (None, None)


def test_damaged_clusters_never_raise_and_never_give_a_negative_length(
    films: dict[str, Path], tmp_path: Path
) -> None:
    whole = bytearray(films["h264_mp3.piped"].read_bytes())
    first_cluster = whole.index(b"\x1f\x43\xb6\x75")
    rng = random.Random(11)
    guessed = _guessed(films["h264_mp3.piped"])
    path = tmp_path / "damaged.mkv"
    for _ in range(60):
        damaged = bytearray(whole)
        for _ in range(rng.randint(1, 40)):
            at = rng.randrange(first_cluster, len(damaged))
            damaged[at] = rng.choice((0, 0xFF, 0x1F, rng.randrange(256)))
        path.write_bytes(bytes(damaged[: rng.randrange(first_cluster, len(damaged) + 1)]))
        result = matroska_facts(path, replace(guessed, size_bytes=path.stat().st_size))
        assert result.duration is None or 0 < result.duration < 1e6


def test_other_containers_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "a.mka"
    path.write_bytes(b"not even matroska")
    given = ProbeResult("mp3", 3.0, 17, 128_000, has_video=False, has_audio=True)
    assert matroska_facts(path, given) is given


def test_a_last_cluster_longer_than_a_step_is_found_steps_back(
    films: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tail is read in steps (1 MB): a cluster of video may start several steps back."""
    import mediashelf.probe.matroska as module

    monkeypatch.setattr(module, "TAIL_STEP", 701)  # a few hundred bytes: many steps, odd cuts
    path = films["h264_mp3.piped"]
    result = matroska_facts(path, _guessed(path))
    assert result.duration == pytest.approx(SECONDS, abs=0.1)


# --------------------------------------------------------------------------- built byte by byte


def _el(ident: int, payload: bytes) -> bytes:
    """One EBML element with an 8-byte size."""
    return (
        ident.to_bytes((ident.bit_length() + 7) // 8, "big")
        + ((1 << 56) | len(payload)).to_bytes(8, "big")
        + payload
    )


def _uint_el(ident: int, value: int) -> bytes:
    return _el(ident, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _block(track: int, relative: int, laced_frames: int = 1) -> bytes:
    flags = 0x80 | (0x02 if laced_frames > 1 else 0)
    lacing = bytes([laced_frames - 1]) if laced_frames > 1 else b""
    body = bytes([0x80 | track]) + relative.to_bytes(2, "big", signed=True) + bytes([flags])
    return _el(0xA3, body + lacing + bytes(64))


def _cluster(timestamp: int, *blocks: bytes) -> bytes:
    return _el(0x1F43B675, _uint_el(0xE7, timestamp) + b"".join(blocks))


def _matroska(*body: bytes, scale: int = 1_000_000, default_ns: int = 26_122_449) -> bytes:
    """A Segment without Duration: Info, one track with a default duration, then `body`."""
    info = _el(0x1549A966, _uint_el(0x2AD7B1, scale))
    track = _el(0xAE, _uint_el(0xD7, 1) + _uint_el(0x23E383, default_ns))
    segment = info + _el(0x1654AE6B, track) + b"".join(body)
    return _el(0x1A45DFA3, _el(0x4282, b"matroska")) + _el(0x18538067, segment)


def _timed(tmp_path: Path, data: bytes) -> ProbeResult:
    path = tmp_path / "built.mka"
    path.write_bytes(data)
    given = ProbeResult("matroska,webm", 99.0, len(data), 8, has_video=False, has_audio=True)
    return matroska_facts(path, given)


def test_laced_frames_and_the_default_duration_make_the_last_blocks_end(tmp_path: Path) -> None:
    frame = 26_122_449 / 1e9  # an MP3 frame at 44.1 kHz
    data = _matroska(_cluster(0, _block(1, 0)), _cluster(1000, _block(1, 0, laced_frames=8)))
    assert _timed(tmp_path, data).duration == round(1.0 + 8 * frame, 6)


def test_without_a_default_duration_a_block_lasts_as_long_as_the_ones_before_it(
    tmp_path: Path,
) -> None:
    data = _matroska(_cluster(0, _block(1, 0)), _cluster(900, _block(1, 0), _block(1, 50)),
                     default_ns=0)  # fmt: skip
    assert _timed(tmp_path, data).duration == 1.0


def test_the_latest_frame_in_the_cluster_before_the_last_ends_the_file(tmp_path: Path) -> None:
    """B-frames: blocks go in decoding order, so the frame shown last (at 160 ms) may be
    stored in the cluster before the last (a pipe cuts clusters every 32 KB); the last
    cluster's blocks alone ended at 160 ms, a frame short."""
    reordered = _cluster(0, _block(1, 0), _block(1, 160), _block(1, 40))
    last = _cluster(80, _block(1, 0), _block(1, 40))  # 80 and 120 ms
    data = _matroska(reordered, last, default_ns=40_000_000)
    assert _timed(tmp_path, data).duration == 0.2


def test_a_first_cluster_beyond_the_head_is_found_by_hopping(tmp_path: Path) -> None:
    attachments = _el(0x1941A469, bytes(200_000))  # fonts or a cover before the clusters
    data = _matroska(attachments, _cluster(3_600_000, _block(1, 0)),
                     _cluster(3_602_000, _block(1, 0)), default_ns=0)  # fmt: skip
    assert _timed(tmp_path, data).duration == 2.0


def test_a_cluster_of_thousands_of_blocks_is_walked_to_its_end(tmp_path: Path) -> None:
    blocks = [_block(1, n) for n in range(10_000)]  # 1 ms each: 10 s
    data = _matroska(_cluster(0, *blocks), scale=1_000_000, default_ns=1_000_000)
    assert _timed(tmp_path, data).duration == 10.0


@pytest.mark.parametrize(
    ("last_cluster", "scale"),
    [
        (1, 1),  # one nanosecond: rounds to nothing
        (1 << 56, 1_000_000),  # 2 billion years
        (1000, 1 << 60),  # a tick of 36 years
    ],
)
def test_a_timing_that_cannot_be_true_is_unknown(
    tmp_path: Path, last_cluster: int, scale: int
) -> None:
    data = _matroska(_cluster(0, _block(1, 0)), _cluster(last_cluster, _block(1, 0)),
                     scale=scale, default_ns=0)  # fmt: skip
    result = _timed(tmp_path, data)
    assert (result.duration, result.bitrate) == (None, None)


def test_elements_nested_to_exhaust_the_walk_give_an_unknown_duration(tmp_path: Path) -> None:
    voids = _el(0xA0, bytes.fromhex("ec80") * 40_000)  # a block group of 40,000 empty Voids
    data = _matroska(_cluster(0, _block(1, 0)), _cluster(1000, *[voids] * 4))
    assert _timed(tmp_path, data).duration is None


def _film(*blocks: bytes, frame_ns: int = 40_000_000) -> bytes:
    """A finished file (it states its Duration): track 1 MJPEG video, track 2 audio."""
    info = _el(0x1549A966, _uint_el(0x2AD7B1, 1_000_000) + _el(0x4489, bytes(8)))
    video = _el(0xAE, _uint_el(0xD7, 1) + _uint_el(0x83, 1) + _uint_el(0x23E383, frame_ns))
    audio = _el(0xAE, _uint_el(0xD7, 2) + _uint_el(0x83, 2))
    segment = info + _el(0x1654AE6B, video + audio) + _cluster(0, *blocks)
    return _el(0x1A45DFA3, _el(0x4282, b"matroska")) + _el(0x18538067, segment)


@pytest.mark.parametrize(
    ("blocks", "video"),
    [
        ([_block(1, 0), *(_block(2, n * 100) for n in range(12))], False),  # a cover
        ([_block(1, 0), _block(1, 40), *(_block(2, n * 100) for n in range(12))], True),
        ([*(_block(2, n * 100) for n in range(12)), _block(1, 1200)], True),  # starts late
        ([_block(1, 0), *(_block(2, n * 100) for n in range(5))], True),  # under a second
    ],
)
def test_one_picture_block_beside_a_second_of_sound_is_a_cover(
    tmp_path: Path, blocks: list[bytes], video: bool
) -> None:
    _assert_cover_verdict(tmp_path, _film(*blocks), video)


SLIDES = 2_000_000_000  # a slideshow at 0.5 fps: its track states 2 s per frame


@pytest.mark.parametrize(
    ("blocks", "video"),
    [
        ([_block(1, 0), *(_block(2, n * 100) for n in range(30)), _block(1, 2000)], True),
        ([_block(1, 0), *(_block(2, n * 100) for n in range(32))], False),  # 3.1 s: a cover
    ],
    ids=["second-slide", "one-picture"],
)
def test_a_slideshow_is_not_a_cover_for_its_frames_seconds_apart(
    tmp_path: Path, blocks: list[bytes], video: bool
) -> None:
    """Its first slide beside a second of sound was taken for a cover: no video facts."""
    _assert_cover_verdict(tmp_path, _film(*blocks, frame_ns=SLIDES), video)


def _assert_cover_verdict(tmp_path: Path, data: bytes, video: bool) -> None:
    path = tmp_path / "film.mkv"
    path.write_bytes(data)
    given = ProbeResult("matroska,webm", 1.2, path.stat().st_size, 8, has_video=True,
                        has_audio=True, width=600, height=600, video_codec="mjpeg",
                        video_fps=25.0)  # fmt: skip
    result = matroska_facts(path, given)
    assert result.has_video is video
    assert result.duration == 1.2  # stated: left alone
    assert (result.video_codec, result.width) == (("mjpeg", 600) if video else (None, None))
