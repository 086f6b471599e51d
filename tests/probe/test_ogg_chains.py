"""A chained Ogg file (a radio recording, two files joined) lasts as long as all its chains."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.audio.stream import AudioStream

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.probe.base import Prober
from mediashelf.probe.pyav_backend import PyAVProber

CHUNK = 1024


def write_vorbis(path: Path, seconds: float, rate: int, *, bitexact: bool = False) -> None:
    """Write `seconds` of silent Vorbis (libav's own encoder: the wheel has no libvorbis)."""
    options = {"fflags": "+bitexact"} if bitexact else {}
    with av.open(str(path), "w", format="ogg", container_options=options) as out:
        stream = out.add_stream("vorbis", rate=rate, layout="stereo",
                                options={"strict": "experimental"})  # fmt: skip
        assert isinstance(stream, AudioStream)
        for start in range(0, round(rate * seconds), CHUNK):
            frame = av.AudioFrame(format="fltp", layout="stereo", samples=CHUNK)
            for plane in frame.planes:
                plane.update(bytes(CHUNK * 4))
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two Vorbis songs at different rates and an Opus one, each a file of one chain."""
    folder = tmp_path_factory.mktemp("ogg")
    made = {name: folder / f"{name}.ogg" for name in ("vorbis-a", "vorbis-b", "opus")}
    write_vorbis(made["vorbis-a"], 3.0, 44100)
    write_vorbis(made["vorbis-b"], 2.0, 48000)
    write_clip(made["opus"], ClipSpec("ogg", None, "libopus", sample_rate=48000,
                                      duration_s=1.5, amplitude=0))  # fmt: skip
    return made


def _joined(songs: dict[str, Path], names: list[str], path: Path) -> Path:
    path.write_bytes(b"".join(songs[name].read_bytes() for name in names))
    return path


def _libav_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1e6


@pytest.mark.parametrize(
    "names",
    [["vorbis-a", "vorbis-b"], ["vorbis-b", "opus", "vorbis-a"]],
    ids=["two-vorbis", "vorbis-opus-vorbis"],
)
def test_a_chained_file_lasts_as_long_as_its_chains(
    each_way: Prober, songs: dict[str, Path], tmp_path: Path, names: list[str]
) -> None:
    path = _joined(songs, names, tmp_path / "recording.ogg")
    lengths = [PyAVProber().probe(songs[name]).duration or 0.0 for name in names]
    assert _libav_duration(path) < sum(lengths) - 1  # from the last page's granule alone
    result = each_way.probe(path)
    assert result.duration == pytest.approx(sum(lengths), abs=1e-3)
    assert result.bitrate == round(path.stat().st_size * 8 / (result.duration or 1))


def test_one_chain_keeps_libavs_duration(songs: dict[str, Path]) -> None:
    path = songs["vorbis-a"]
    assert PyAVProber().probe(path).duration == round(_libav_duration(path), 6)


def test_a_chain_cut_off_before_the_next_leaves_libavs_figure(
    songs: dict[str, Path], tmp_path: Path
) -> None:
    """No end-of-stream page before the next chain begins: not a clean chain to add up."""
    first = songs["vorbis-a"].read_bytes()
    path = tmp_path / "cut.ogg"
    path.write_bytes(first[: len(first) - 200] + songs["vorbis-b"].read_bytes())
    result = PyAVProber(fast=False).probe(path)
    assert result.duration == round(_libav_duration(path), 6)


def _crc(data: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, from 0."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def _shifted(data: bytes, samples: int) -> bytes:
    """The Ogg stream `data` with `samples` added to every audio page's granule position,
    as a recording that joined the stream `samples` in holds it (checksums redone)."""
    out, at = bytearray(), 0
    while at < len(data):
        segments = data[at + 26]
        size = 27 + segments + sum(data[at + 27 : at + 27 + segments])
        page = bytearray(data[at : at + size])
        granule = int.from_bytes(page[6:14], "little", signed=True)
        if granule > 0:
            page[6:14] = (granule + samples).to_bytes(8, "little", signed=True)
        page[22:26] = bytes(4)
        page[22:26] = _crc(bytes(page)).to_bytes(4, "little")
        out += page
        at += size
    return bytes(out)


def test_a_recording_that_joined_midway_counts_from_its_first_page(
    each_way: Prober, songs: dict[str, Path], tmp_path: Path
) -> None:
    joined = _shifted(songs["vorbis-a"].read_bytes(), 100 * 44100)  # 100 s into the song
    path = tmp_path / "radio.ogg"
    path.write_bytes(joined + songs["vorbis-b"].read_bytes())
    lengths = [PyAVProber().probe(songs[name]).duration or 0.0 for name in ("vorbis-a", "vorbis-b")]
    result = each_way.probe(path)
    assert result.duration is not None
    assert sum(lengths) - 1.5 <= result.duration <= sum(lengths)  # less the first page's


def test_tags_around_the_pages_are_stepped_over(
    each_way: Prober, songs: dict[str, Path], tmp_path: Path
) -> None:
    path = _joined(songs, ["vorbis-a", "vorbis-b"], tmp_path / "tagged.ogg")
    path.write_bytes(b"ID3\x03\x00\x00\x00\x00\x02\x00" + bytes(256) + path.read_bytes()
                     + b"TAG" + bytes(125))  # fmt: skip
    lengths = [PyAVProber().probe(songs[name]).duration or 0.0 for name in ("vorbis-a", "vorbis-b")]
    assert each_way.probe(path).duration == pytest.approx(sum(lengths), abs=1e-3)


@pytest.fixture(scope="module")
def fixed_serial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Songs written bitexact, as ffmpeg's `-fflags +bitexact` does: every file's stream
    has serial number 0, so files joined end to end keep one serial throughout."""
    folder = tmp_path_factory.mktemp("ogg-bitexact")
    made = {"long": folder / "long.ogg", "short": folder / "short.ogg"}
    write_vorbis(made["long"], 6.0, 44100, bitexact=True)
    write_vorbis(made["short"], 0.5, 44100, bitexact=True)
    return made


@pytest.mark.parametrize(
    "names",
    [["long", "long"], ["long", "short", "long"], ["long", "short"], ["short", "long"]],
    ids=["same-twice", "long-short-long", "short-tail", "short-head"],
)
def test_chains_of_one_serial_number_are_all_timed(
    each_way: Prober, fixed_serial: dict[str, Path], tmp_path: Path, names: list[str]
) -> None:
    """The last page having the first page's serial number used to be taken for one chain:
    libav's figure, the last chain's length, stood (3 s of a 6 s file)."""
    path = _joined(fixed_serial, names, tmp_path / "joined.ogg")
    lengths = [PyAVProber().probe(fixed_serial[name]).duration or 0.0 for name in names]
    result = each_way.probe(path)
    assert result.duration == pytest.approx(sum(lengths), abs=1e-3)


def test_one_chain_of_a_fixed_serial_keeps_libavs_duration(fixed_serial: dict[str, Path]) -> None:
    path = fixed_serial["long"]
    assert PyAVProber().probe(path).duration == round(_libav_duration(path), 6)
