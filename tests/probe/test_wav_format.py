"""WAVE_FORMAT_EXTENSIBLE with fewer valid bits than its container is read as written."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import pytest

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.errors import ProbeError
from mediashelf.probe.base import Prober
from mediashelf.probe.fast_path import probe_fast
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.wav_format import wav_layout

RATE, CHANNELS, FRAMES = 48000, 2, 48000  # one second of stereo
PCM, FLOAT = 1, 3  # the subformat GUID's first field


def write_extensible(
    path: Path,
    container: int,
    valid: int,
    *,
    subformat: int = PCM,
    data_size: int | None = None,
    form: bytes = b"RIFF",
) -> int:
    """Write one second of silence; return the file's size. `data_size`: the size stated.

    `form` RF64 or BW64: the 64-bit form, its sizes in a ds64 chunk (with a LIST chunk after
    the data, so reading to the end of the file would be wrong).
    """
    block = CHANNELS * container // 8
    data = bytes(FRAMES * block)
    guid = struct.pack("<IHH", subformat, 0, 0x10) + bytes.fromhex("800000aa00389b71")
    fmt = struct.pack("<HHIIHH", 0xFFFE, CHANNELS, RATE, RATE * block, block, container)
    fmt += struct.pack("<HHI", 22, valid, 3) + guid
    stated = len(data) if data_size is None else data_size
    wide = form != b"RIFF"
    body = b"WAVE"
    if wide:
        ds64 = struct.pack("<QQQI", 0, stated, stated // block, 0)  # riff size patched below
        body += b"ds64" + struct.pack("<I", len(ds64)) + ds64
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 5) + b"INFO!" + b"\x00"  # an odd chunk, padded
    body += b"data" + struct.pack("<I", 0xFFFFFFFF if wide else stated) + data
    if wide:
        body += b"LIST" + struct.pack("<I", 4) + b"INFO"
        body = body[:12] + struct.pack("<Q", len(body)) + body[20:]
    path.write_bytes(form + struct.pack("<I", 0xFFFFFFFF if wide else len(body)) + body)
    return 8 + len(body)


@pytest.mark.parametrize(("container", "valid"), [(32, 24), (32, 20), (32, 16), (24, 20)])
@pytest.mark.parametrize("data_size", [None, 0xFFFFFFFF], ids=["stated", "piped"])
def test_valid_bits_in_wider_words_are_integer_pcm_of_the_words(
    each_way: Prober, tmp_path: Path, container: int, valid: int, data_size: int | None
) -> None:
    path = tmp_path / f"take-{container}-{valid}.wav"
    size = write_extensible(path, container, valid, data_size=data_size)
    result = each_way.probe(path)
    assert result.audio_codec == f"pcm_s{container}le"
    assert result.duration == 1.0
    assert result.audio_bit_depth == valid
    assert result.audio_bitrate == RATE * CHANNELS * container
    assert result.bitrate == size * 8


@pytest.mark.parametrize("form", [b"RF64", b"BW64"], ids=["rf64", "bw64"])
def test_the_64_bit_forms_are_read_by_their_ds64_sizes(
    each_way: Prober, tmp_path: Path, form: bytes
) -> None:
    """RF64/BW64 used to skip the reading (only "RIFF" was taken for a WAV): libav's
    pcm_f24le and 4/3 of the duration stood."""
    path = tmp_path / "long-take.wav"
    write_extensible(path, 32, 24, form=form)
    result = each_way.probe(path)
    assert (result.audio_codec, result.duration, result.audio_bit_depth) == ("pcm_s32le", 1.0, 24)


def test_the_file_is_the_case_libav_gets_wrong(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    write_extensible(path, 32, 24)
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.name == "pcm_f24le"
        assert container.duration is not None
        assert container.duration / 1e6 > 1.3


@pytest.mark.parametrize(("container", "valid"), [(32, 32), (24, 24)])
def test_full_width_samples_stay_as_libav_reads_them(
    each_way: Prober, tmp_path: Path, container: int, valid: int
) -> None:
    path = tmp_path / "full.wav"
    write_extensible(path, container, valid)
    result = each_way.probe(path)
    assert (result.audio_codec, result.duration) == (f"pcm_s{container}le", 1.0)
    assert result.audio_bit_depth == valid


def test_float_data_is_left_as_libav_reads_it(each_way: Prober, tmp_path: Path) -> None:
    """Only integer PCM keeps its valid bits at the top of integer words: 24-bit floats in
    32-bit words have no decoder in libav, and stay unsupported rather than guessed."""
    path = tmp_path / "float.wav"
    write_extensible(path, 32, 24, subformat=FLOAT)
    with pytest.raises(ProbeError) as raised:
        each_way.probe(path)
    assert raised.value.error_class == "unsupported"


def test_an_ordinary_wav_costs_its_first_bytes(tmp_path: Path) -> None:
    """The check runs on every WAV: one that is not narrower-bits PCM stops at its fmt chunk."""
    path = tmp_path / "plain.wav"
    write_clip(path, ClipSpec("wav", None, "pcm_s16le", duration_s=2.0, amplitude=0))
    with ProbeReader(path) as file:
        assert wav_layout(file) is None
        assert file.bytes_read <= 64


@pytest.mark.parametrize("data_bytes", [1, 7])
def test_less_data_than_one_sample_keeps_libavs_reading(
    each_way: Prober, tmp_path: Path, data_bytes: int
) -> None:
    """A capture stopped at once: fewer bytes than one 8-byte block; no division by zero."""
    path = tmp_path / "stopped.wav"
    write_extensible(path, 32, 24)
    data = path.read_bytes()
    cut = data.index(b"data") + 8 + data_bytes
    path.write_bytes(data[:cut])
    result = each_way.probe(path)
    assert result.audio_codec == "pcm_f24le"  # left as libav read it


def write_wrapped_wav(path: Path, seconds_past_limit: int, *, junk: bool = True) -> int:
    """Write a sparse 16-bit stereo 48 kHz WAV past 4 GiB whose sizes wrapped; return its
    data bytes. With `junk`, the bytes after the stated size open a JUNK chunk reaching to
    the end; without, silence (zeros) follows, as a long recording's quiet end would."""
    stated = seconds_past_limit * 48000 * 4
    data = (1 << 32) + stated
    fmt = struct.pack("<HHIIHH", 1, 2, 48000, 48000 * 4, 4, 16)
    header = (b"RIFF" + struct.pack("<I", (36 + data) % (1 << 32)) + b"WAVE" + b"fmt "
              + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", stated))  # fmt: skip
    with path.open("wb") as out:
        out.write(header)
        out.write(bytes(range(256)) * (stated // 256))  # the "100 s" libav believes in
        if junk:
            out.write(b"JUNK" + struct.pack("<I", 0xFFFFFF00))
        out.truncate(len(header) + data)  # sparse: the rest reads as zeros
    return data


def test_a_wav_past_4_gib_with_wrapped_sizes_lasts_to_its_end(
    tmp_path: Path, each_way: Prober
) -> None:
    """A 6 h recording stated 100 s: its data size wrapped at 2**32 (no RF64)."""
    path = tmp_path / "long recording.wav"
    data = write_wrapped_wav(path, 2)
    result = each_way.probe(path)
    assert result.duration == pytest.approx(data / (48000 * 4), abs=1e-3)
    assert result.audio_bitrate == 1_536_000
    assert result.bitrate is not None
    assert result.bitrate == pytest.approx(1_536_000, rel=1e-3)


def test_zeros_after_the_data_are_stepped_over_not_walked(tmp_path: Path) -> None:
    """libav took each 8 zero bytes after the data chunk for an empty chunk and read on: a
    2 s WAV with 400 MB of preallocated zeros after it failed as `timeout`."""
    path = tmp_path / "preallocated.wav"
    write_clip(path, ClipSpec("wav", None, "pcm_s16le", duration_s=1.0, amplitude=0))
    with path.open("r+b") as out:
        out.truncate(path.stat().st_size + 64 * 1024 * 1024)  # sparse: reads as zeros
    outcome = probe_fast(path, path.stat().st_size, "pyav")
    assert outcome.result is not None
    assert outcome.result.duration == 1.0
    assert outcome.bytes_read < 1024 * 1024


def test_a_wrapped_wav_ending_in_silence_lasts_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "long quiet recording.wav"
    data = write_wrapped_wav(path, 2, junk=False)
    result = PyAVProber().probe(path)
    assert result.duration == pytest.approx(data / (48000 * 4), abs=1e-3)
