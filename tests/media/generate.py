"""Generator of a tiny, deterministic media test corpus (DESIGN §12), written with PyAV only.

The clip writer itself lives in :mod:`mediashelf.demo_library`.

Usage::

    python -m tests.media.generate OUTDIR            # corpus + JSON manifest on stdout
    python -m tests.media.generate --demo N OUTDIR   # demo library of N small clips
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from mediashelf.demo_library import ClipSpec, jpeg_bytes, write_clip, write_demo_library
from mediashelf.probe.formats import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = [
    "FORMAT_CLIPS",
    "HUGE_SIZE",
    "JUNK",
    "NOT_WRITABLE",
    "ClipSpec",
    "CorpusFile",
    "generate_corpus",
    "generate_truth_corpus",
    "main",
    "write_clip",
    "write_demo_library",
]

HUGE_SIZE = 8 * 1024**3
"""Apparent size of ``big/huge.mkv`` (sparse: almost no real disk use)."""

# Encoder name -> codec name as ffprobe reports it.
_PROBE_NAME: dict[str, str] = {
    "libx264": "h264",
    "libx265": "hevc",
    "libvpx-vp9": "vp9",
    "libsvtav1": "av1",
    "mpeg4": "mpeg4",
    "aac": "aac",
    "libopus": "opus",
    "libmp3lame": "mp3",
    "flac": "flac",
    "pcm_s16le": "pcm_s16le",
    "pcm_s24le": "pcm_s24le",
}

# PyAV/libavformat muxer name -> ffprobe's ``format_name`` of the result.
_PROBE_FORMAT: dict[str, str] = {
    "mp4": "mov,mp4,m4a,3gp,3g2,mj2",
    "ipod": "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska": "matroska,webm",
    "webm": "matroska,webm",
    "mp3": "mp3",
    "ogg": "ogg",
    "flac": "flac",
    "wav": "wav",
}


@dataclass(frozen=True)
class CorpusFile:
    """One entry of the corpus manifest."""

    relpath: str  # POSIX path relative to the corpus root
    kind: str  # "video" | "audio" | "broken" | "big" | "ignored"
    expect: Mapping[str, object]  # facts verified against ffprobe 5.1


# --------------------------------------------------------------------------- expectations


def _bit_depth(spec: ClipSpec) -> int | None:
    """Bit depth ffprobe reports (``bits_per_raw_sample``/``bits_per_sample``) for lossless."""
    if spec.audio_codec == "pcm_s16le":
        return 16
    if spec.audio_codec == "pcm_s24le":
        return 24
    if spec.audio_codec == "flac":
        if spec.bits_per_raw_sample is not None:
            return spec.bits_per_raw_sample
        return 16 if spec.sample_format in (None, "s16") else 32
    return None


_CHANNELS = {"mono": 1, "stereo": 2, "5.1": 6, "5.1(side)": 6}


def _probed_layout(spec: ClipSpec) -> str | None:
    """Channel layout ffprobe reports; plain (non-extensible) WAV headers carry none."""
    if spec.audio_codec is None:
        return None
    if spec.audio_codec == "pcm_s16le" and spec.layout in ("mono", "stereo"):
        return None  # 16-bit mono/stereo WAV is written as WAVE_FORMAT_PCM without a mask
    return spec.layout


def _expect(spec: ClipSpec) -> dict[str, object]:
    """Facts about a clip written from ``spec`` that ffprobe reports exactly."""
    has_video = spec.video_codec is not None
    facts: dict[str, object] = {
        "format_name": _PROBE_FORMAT[spec.container],
        "has_video": has_video,
        "video_codec": _PROBE_NAME[spec.video_codec] if spec.video_codec else None,
        "width": spec.width if has_video else None,
        "height": spec.height if has_video else None,
        "audio_codec": _PROBE_NAME[spec.audio_codec] if spec.audio_codec else None,
        "audio_channels": _CHANNELS[spec.layout] if spec.audio_codec else None,
        "audio_channel_layout": _probed_layout(spec),
        "audio_sample_rate": spec.sample_rate if spec.audio_codec else None,
        "audio_bit_depth": _bit_depth(spec),
        "has_cover_art": spec.cover_art,
        "title": spec.title,
        "approx_duration_s": spec.duration_s,  # not exact: compare with a tolerance
        "error": False,
    }
    return facts


# --------------------------------------------------------------------------- corpus

_MP4 = ClipSpec("mp4", "libx264", "aac")
_AUDIO_MP3 = ClipSpec("mp3", None, "libmp3lame")
_FLAC16 = ClipSpec("flac", None, "flac", sample_format="s16")

_CLIPS: tuple[tuple[str, str, ClipSpec], ...] = (
    ("video/h264_aac.mp4", "video", replace(_MP4, title="H264 AAC", seed=1)),
    (
        "video/vp9_opus.webm",
        "video",
        ClipSpec("webm", "libvpx-vp9", "libopus", sample_rate=48000, title="VP9 Opus", seed=2),
    ),
    ("video/h264_mp3.mkv", "video", ClipSpec("matroska", "libx264", "libmp3lame", seed=3)),
    ("video/mpeg4_flac.mkv", "video", ClipSpec("matroska", "mpeg4", "flac", seed=4)),
    (
        "video/av1_opus.mkv",
        "video",
        ClipSpec("matroska", "libsvtav1", "libopus", sample_rate=48000, seed=5),
    ),
    ("video/hevc_aac.mp4", "video", ClipSpec("mp4", "libx265", "aac", seed=6)),
    ("Videos/My Clip [dQw4w9WgXcQ].mp4", "video", replace(_MP4, title="My Clip", seed=7)),
    ("audio/plain.mp3", "audio", replace(_AUDIO_MP3, title="Plain MP3", seed=8)),
    (
        "audio/cover.mp3",
        "audio",
        replace(_AUDIO_MP3, cover_art=True, title="With Cover", artist="Corpus", seed=9),
    ),
    ("audio/aac.m4a", "audio", ClipSpec("ipod", None, "aac", title="M4A", seed=10)),
    ("audio/opus.opus", "audio", ClipSpec("ogg", None, "libopus", sample_rate=48000, seed=11)),
    (
        "audio/flac24_5.1.flac",
        "audio",
        ClipSpec(
            "flac",
            None,
            "flac",
            sample_rate=48000,
            layout="5.1(side)",
            sample_format="s32",
            bits_per_raw_sample=24,
            seed=12,
        ),
    ),
    ("audio/flac16_stereo.flac", "audio", replace(_FLAC16, seed=13)),
    ("audio/pcm_s16le_stereo.wav", "audio", ClipSpec("wav", None, "pcm_s16le", seed=14)),
    (
        "audio/pcm_s24le_mono.wav",
        "audio",
        ClipSpec("wav", None, "pcm_s24le", layout="mono", sample_rate=48000, seed=15),
    ),
    (
        "Música/Ñandú \u2013 canción.flac",
        "audio",
        replace(_FLAC16, title="Ñandú \u2013 canción", artist="Música", seed=16),
    ),
    ("日本語/テスト.mp3", "audio", replace(_AUDIO_MP3, title="テスト", seed=17)),
    (
        "Music/Some Artist/Album (2020)/01 - First Song.m4a",
        "audio",
        ClipSpec(
            "ipod",
            None,
            "aac",
            title="First Song",
            artist="Some Artist",
            album="Album (2020)",
            seed=18,
        ),
    ),
)

# What ffprobe 5.1 prints about the broken files (a substring of its stderr; exit status 1).
# The wording is ffmpeg-version specific: tests should rely on "error" and treat it as a hint.
_EMPTY_ERROR = "Invalid argument"  # mp3 demuxer: "Failed to read frame size: Could not seek"
_TRUNCATED_ERROR = "moov atom not found"
_INVALID_DATA = "Invalid data found when processing input"


def generate_corpus(root: Path, *, huge_size: int = HUGE_SIZE) -> list[CorpusFile]:
    """Write the whole test corpus under ``root`` and return its manifest."""
    root.mkdir(parents=True, exist_ok=True)
    manifest: list[CorpusFile] = []
    for relpath, kind, spec in _CLIPS:
        write_clip(root / relpath, spec)
        manifest.append(CorpusFile(relpath, kind, _expect(spec)))

    broken = root / "broken"
    broken.mkdir(exist_ok=True)

    (broken / "empty.mp3").write_bytes(b"")
    manifest.append(
        CorpusFile("broken/empty.mp3", "broken", {"error": True, "ffprobe_error": _EMPTY_ERROR})
    )

    # mp4 without faststart: the moov atom is at the end, so the first 30 % lacks it.
    source = broken / "truncated.mp4"
    write_clip(source, replace(_MP4, duration_s=2.0, seed=20))
    whole = source.read_bytes()
    source.write_bytes(whole[: len(whole) * 3 // 10])
    manifest.append(
        CorpusFile(
            "broken/truncated.mp4",
            "broken",
            {"error": True, "ffprobe_error": _TRUNCATED_ERROR},
        )
    )

    # Probed as mp4 by extension, then "moov atom not found" + invalid data.
    (broken / "random.mp4").write_bytes(random.Random(1234).randbytes(64 * 1024))
    manifest.append(
        CorpusFile("broken/random.mp4", "broken", {"error": True, "ffprobe_error": _INVALID_DATA})
    )

    (broken / "notes.mkv").write_text(
        "These are plain-text notes, renamed to .mkv.\n" * 40, encoding="utf-8"
    )
    # Probed as matroska by extension: "EBML header parsing failed" + invalid data.
    manifest.append(
        CorpusFile("broken/notes.mkv", "broken", {"error": True, "ffprobe_error": _INVALID_DATA})
    )

    # A valid mkv padded with a sparse hole: the header (and its Segment size) still probe fine.
    huge_spec = ClipSpec("matroska", "libx264", "aac", seed=21)
    huge = root / "big" / "huge.mkv"
    write_clip(huge, huge_spec)
    os.truncate(huge, huge_size)
    manifest.append(
        CorpusFile("big/huge.mkv", "big", {**_expect(huge_spec), "size_bytes": huge_size})
    )

    misc = root / "misc"
    misc.mkdir(exist_ok=True)
    (misc / "notes.txt").write_text("not media\n", encoding="utf-8")
    manifest.append(CorpusFile("misc/notes.txt", "ignored", {"ignored": True}))
    cover = root / "Music/Some Artist/Album (2020)/cover.jpg"
    cover.write_bytes(jpeg_bytes(32, 22))
    manifest.append(
        CorpusFile("Music/Some Artist/Album (2020)/cover.jpg", "ignored", {"ignored": True})
    )
    return manifest


# --------------------------------------------------------------------------- one file per format

_AUDIO_SPECS: dict[str, tuple[str, str]] = {
    # extension: (muxer, audio encoder)
    "mp3": ("mp3", "libmp3lame"), "mp2": ("mp2", "mp2"), "mp1": ("mp2", "mp2"),
    "mpa": ("mp2", "mp2"), "m2a": ("mp2", "mp2"), "aac": ("adts", "aac"), "adts": ("adts", "aac"),
    "m4a": ("ipod", "aac"), "m4b": ("ipod", "aac"), "m4r": ("ipod", "aac"), "3ga": ("3gp", "aac"),
    "alac": ("ipod", "alac"), "ogg": ("ogg", "flac"), "oga": ("oga", "flac"),
    "opus": ("opus", "libopus"), "flac": ("flac", "flac"), "wav": ("wav", "pcm_s16le"),
    "wave": ("wav", "pcm_s16le"), "w64": ("w64", "pcm_s16le"), "rf64": ("wav", "pcm_s16le"),
    "bwf": ("wav", "pcm_s16le"), "aif": ("aiff", "pcm_s16be"), "aiff": ("aiff", "pcm_s16be"),
    "aifc": ("aiff", "pcm_s16be"), "au": ("au", "pcm_s16be"), "snd": ("au", "pcm_s16be"),
    "caf": ("caf", "pcm_s16le"), "wv": ("wv", "wavpack"), "tta": ("tta", "tta"),
    "ac3": ("ac3", "ac3"), "eac3": ("eac3", "eac3"), "ec3": ("eac3", "eac3"),
    "wma": ("asf", "libmp3lame"), "mka": ("matroska", "libopus"), "ra": ("rm", "ac3"),
    "amr": ("amr", "libopencore_amrnb"), "voc": ("voc", "pcm_u8"), "ircam": ("ircam", "pcm_s16le"),
}  # fmt: skip
_VIDEO_SPECS: dict[str, tuple[str, str, str | None]] = {
    # extension: (muxer, video encoder, audio encoder)
    "mp4": ("mp4", "libx264", "aac"), "m4v": ("mp4", "libx264", "aac"),
    "mov": ("mov", "libx264", "aac"), "qt": ("mov", "libx264", "aac"),
    "3gp": ("3gp", "libx264", "aac"), "3g2": ("3g2", "libx264", "aac"),
    "f4v": ("f4v", "libx264", "aac"), "mkv": ("matroska", "libx264", "aac"),
    "mk3d": ("matroska", "libx264", "aac"), "webm": ("webm", "libvpx-vp9", "libopus"),
    "avi": ("avi", "mpeg4", "libmp3lame"), "divx": ("avi", "mpeg4", "libmp3lame"),
    "wmv": ("asf", "wmv2", "libmp3lame"), "asf": ("asf", "wmv2", "libmp3lame"),
    "flv": ("flv", "flv", "libmp3lame"), "mpg": ("mpeg", "mpeg2video", "mp2"),
    "mpeg": ("mpeg", "mpeg1video", "mp2"), "vob": ("vob", "mpeg2video", "ac3"),
    "m1v": ("mpeg1video", "mpeg1video", None), "m2v": ("mpeg2video", "mpeg2video", None),
    "mpv": ("mpeg2video", "mpeg2video", None), "ts": ("mpegts", "libx264", "aac"),
    "m2ts": ("mpegts", "libx264", "ac3"), "mts": ("mpegts", "libx264", "ac3"),
    "m2t": ("mpegts", "mpeg2video", "mp2"), "tod": ("mpegts", "mpeg2video", "mp2"),
    "ogv": ("ogg", "libvpx", "libopus"), "rm": ("rm", "rv20", "ac3"), "rmvb": ("rm", "rv20", "ac3"),
    "mxf": ("mxf", "mpeg2video", None), "nut": ("nut", "mpeg4", "flac"),
    "y4m": ("yuv4mpegpipe", "rawvideo", None), "ivf": ("ivf", "libvpx-vp9", None),
    "wtv": ("wtv", "mpeg2video", "mp2"),
}  # fmt: skip
_OPUS_RATE = {"libopus": 48000, "libopencore_amrnb": 8000}


def _audio_clip(muxer: str, codec: str) -> ClipSpec:
    rate = _OPUS_RATE.get(codec, 44100)
    layout = "mono" if codec == "libopencore_amrnb" else "stereo"
    # MP3: 1 s, so that the encoder delay newer libav trims stays inside the tolerances.
    seconds = 1.0 if codec == "libmp3lame" else 0.2
    return ClipSpec(
        muxer, None, codec, sample_rate=rate, layout=layout, duration_s=seconds, amplitude=0
    )


def _video_clip(muxer: str, video: str, audio: str | None) -> ClipSpec:
    rate = _OPUS_RATE.get(audio or "", 48000 if audio == "ac3" else 44100)
    return ClipSpec(
        muxer, video, audio, width=64, height=48, sample_rate=rate, duration_s=0.2, amplitude=0
    )


FORMAT_CLIPS: dict[str, tuple[str, ClipSpec]] = {
    **{ext: ("audio", _audio_clip(*spec)) for ext, spec in _AUDIO_SPECS.items()},
    **{ext: ("video", _video_clip(*spec)) for ext, spec in _VIDEO_SPECS.items()},
    "dv": ("video", ClipSpec("dv", "dvvideo", None, width=720, height=576, duration_s=0.2)),
}
"""One PyAV-written clip per listed extension: (kind, spec)."""

NOT_WRITABLE: dict[str, str] = {
    "spx": "no Speex encoder in PyAV's FFmpeg",
    "ape": "no Monkey's Audio encoder in FFmpeg",
    "tak": "no TAK encoder in FFmpeg",
    "shn": "no Shorten encoder in FFmpeg",
    "mpc": "no Musepack encoder in FFmpeg",
    "dff": "DSDIFF: no muxer; DSD itself is covered by the hand-built DSF",
    "dsf": "no muxer: written by hand below (write_dsf)",
    "mlp": "the MLP encoder is not in PyAV's FFmpeg build",
    "thd": "the TrueHD encoder is not in PyAV's FFmpeg build",
    "truehd": "the TrueHD encoder is not in PyAV's FFmpeg build",
    "dts": "the DTS (dca) encoder is not in PyAV's FFmpeg build",
    "dtshd": "the DTS (dca) encoder is not in PyAV's FFmpeg build",
    "oma": "no ATRAC encoder in FFmpeg",
    "aa3": "no ATRAC encoder in FFmpeg",
    "gsm": "no GSM encoder (libgsm) in PyAV's FFmpeg build",
    "awb": "no AMR-WB encoder in PyAV's FFmpeg build",
    "sph": "no NIST Sphere muxer in FFmpeg",
    "nist": "no NIST Sphere muxer in FFmpeg",
    "qoa": "no QOA encoder in FFmpeg",
    "amv": "the AMV encoder needs fixed sizes and rates PyAV's generic writer does not set",
}
"""Listed extensions without a PyAV writer, and why (their demuxers exist in libav)."""

assert set(FORMAT_CLIPS) | set(NOT_WRITABLE) == AUDIO_EXTENSIONS | VIDEO_EXTENSIONS


def write_format_samples(root: Path) -> dict[str, str]:
    """Write one clip per writable extension under ``root``; return {relpath: kind}."""
    written: dict[str, str] = {}
    for ext, (kind, spec) in FORMAT_CLIPS.items():
        relpath = f"formats/sample.{ext}"
        write_clip(root / relpath, spec)
        written[relpath] = kind
    return written


# --------------------------------------------------------------------------- hand-built files


def write_dsf(path: Path, channels: int = 2, rate: int = 2_822_400, block: int = 4096) -> None:
    """Write a minimal valid DSF (DSD64, one block per channel of DSD silence)."""
    data = b"\x69" * (block * channels)
    layout = 2 if channels == 2 else 1
    fields = (52, 1, 0, layout, channels, rate, 1, block * 8, block, 0)
    fmt = b"fmt " + struct.pack("<QIIIIIIQII", *fields)
    chunk = b"data" + struct.pack("<Q", 12 + len(data)) + data
    total = 28 + len(fmt) + len(chunk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"DSD " + struct.pack("<QQQ", 28, total, 0) + fmt + chunk)


def write_wav_header(
    path: Path, tag: int, channels: int, rate: int, bits: int, data: bytes
) -> None:
    """Write a RIFF/WAVE file with a plain fmt chunk of format `tag` and `data`."""
    align = max(1, channels * bits // 8)
    fmt = struct.pack("<HHIIHHH", tag, channels, rate, rate * align, align, bits, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


# --------------------------------------------------------------------------- junk

JUNK: dict[str, str] = {
    # relpath: error class every backend must give
    "junk/one-byte.flac": "corrupt",
    "junk/one-byte.mp3": "corrupt",
    "junk/one-byte.m4a": "corrupt",
    "junk/one-byte.ogg": "corrupt",
    "junk/one-byte.wav": "corrupt",
    "junk/one-byte.mkv": "corrupt",
    "junk/one-byte.mp4": "corrupt",
    "junk/one-byte.ac3": "corrupt",
    "junk/random.aac": "corrupt",
    "junk/random.flac": "corrupt",
    "junk/random.mp3": "corrupt",
    "junk/random.ogg": "corrupt",
    "junk/random.wav": "corrupt",
    "junk/random.m4a": "corrupt",
    "junk/random.ac3": "corrupt",
    "junk/random.avi": "corrupt",
    "junk/random.ts": "corrupt",
    "junk/random.webm": "corrupt",
    "junk/random.dts": "corrupt",
    "junk/photo.mp3": "corrupt",
    "junk/text.mkv": "corrupt",
    "junk/text.mp3": "corrupt",
    "junk/vorbis-tag.wav": "unsupported",
    "junk/overwritten.flac": "corrupt",
    # Headers stating what no recording has; libav (and ffprobe) read them as stated.
    "junk/200-channels.wav": "corrupt",
    "junk/10-mhz.wav": "corrupt",
    "junk/1-hz.wav": "corrupt",
    "junk/random.qoa": "corrupt",  # libav forces QOA's demuxer on its extension: any channels
}
"""Files named like media that are not (or no longer) media, and their error class."""


def write_junk(root: Path) -> None:
    """Write every JUNK file: 1-byte files, random bytes, a JPEG and text under media names."""
    rng = random.Random(4321)
    for relpath in JUNK:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        name = path.name
        if name.startswith("one-byte"):
            path.write_bytes(b"\x00")
        elif name.startswith("random"):
            path.write_bytes(rng.randbytes(64 * 1024))
        elif name.startswith("text"):
            path.write_text("Plain-text notes under a media name.\n" * 40, encoding="utf-8")
    (root / "junk/photo.mp3").write_bytes(jpeg_bytes(64, 3))
    # WAVE_FORMAT 0x674f ("Og", Ogg Vorbis mode 1): libav knows no codec for the tag.
    write_wav_header(root / "junk/vorbis-tag.wav", 0x674F, 2, 44100, 0, bytes(4096))
    write_wav_header(root / "junk/200-channels.wav", 1, 200, 44100, 16, bytes(200 * 2 * 400))
    write_wav_header(root / "junk/10-mhz.wav", 1, 2, 10_000_000, 16, bytes(4 * 4000))
    write_wav_header(root / "junk/1-hz.wav", 1, 2, 1, 16, bytes(4 * 4000))
    # A good FLAC overwritten in place with random bytes of another length.
    overwritten = root / "junk/overwritten.flac"
    write_clip(overwritten, ClipSpec("flac", None, "flac", duration_s=0.2, amplitude=0))
    overwritten.write_bytes(rng.randbytes(48 * 1024))


# --------------------------------------------------------------------------- rule files

RULE_FILES: dict[str, dict[str, object]] = {
    # relpath: stored facts every backend must give
    "rules/dsd64.dsf": {"audio_codec": "dsd_lsbf_planar", "audio_sample_rate": 2_822_400,
                        "audio_bit_depth": 1, "audio_channels": 2},
    "rules/adpcm_ms.wav": {"audio_codec": "adpcm_ms", "audio_bit_depth": 4, "audio_channels": 2},
    "rules/adpcm_ima.wav": {"audio_codec": "adpcm_ima_wav", "audio_bit_depth": 4},
    "rules/alaw.wav": {"audio_codec": "pcm_alaw", "audio_bit_depth": 8},
    "rules/pcm_u8.wav": {"audio_codec": "pcm_u8", "audio_bit_depth": 8},
    "rules/wavpack16.wv": {"audio_codec": "wavpack", "audio_bit_depth": 16},
    "rules/tta16.tta": {"audio_codec": "tta", "audio_bit_depth": 16},
    "rules/alac16.m4a": {"audio_codec": "alac", "audio_bit_depth": 16},
    "rules/mp3.mp3": {"audio_codec": "mp3", "audio_bit_depth": None},
    # LPCM of DVD-Video and Blu-ray: the width is in the header, not in the codec's name.
    "rules/dvd_lpcm16.vob": {"audio_codec": "pcm_dvd", "audio_bit_depth": 16},
    "rules/dvd_lpcm24.vob": {"audio_codec": "pcm_dvd", "audio_bit_depth": 24},
    "rules/bluray_lpcm24.m2ts": {"audio_codec": "pcm_bluray", "audio_bit_depth": 24},
    # DV in AVI: only the DV decoder states what the full analysis stores (its bitrate).
    "rules/dv_pal.avi": {"video_codec": "dvvideo", "video_fps": 25.0, "width": 720},
    "rules/interlaced_25i.ts": {"video_codec": "mpeg2video", "video_fps": 25.0},
    "rules/field_rate_50.ts": {"video_codec": "h264", "video_fps": 25.0},
    "rules/truncated.ts": {"video_codec": "mpeg2video", "video_fps": 25.0},
    # MPEG-1 without a maximum rate: its header's bit_rate is the mark for "variable".
    "rules/mpeg1_vbr.mpg": {"video_codec": "mpeg1video", "video_bitrate": None},
    "rules/mpeg1_vbr.m1v": {"video_codec": "mpeg1video", "duration": None, "bitrate": None},
    "rules/mpeg1_cbr.mpg": {"video_codec": "mpeg1video", "video_bitrate": 1_150_000},
    # Bare elementary video: the stream's headers state the rate (libav 8 says 25 for all).
    "rules/ntsc_raw.m2v": {"video_codec": "mpeg2video", "video_fps": 29.97},
    "rules/film_raw.m1v": {"video_codec": "mpeg1video", "video_fps": 23.976},
    "rules/film_raw.h264": {"video_codec": "h264", "video_fps": 23.976, "width": 64},
    # Picture codecs as motion video (editing and cinema formats): the film, not a cover.
    "rules/tiff_motion.mov": {"has_video": True, "video_codec": "tiff", "video_fps": 25.0},
    "rules/jpeg2000_motion.mov": {"has_video": True, "video_codec": "jpeg2000", "width": 64},
}  # fmt: skip
"""Small files that exercise one rule each, with the facts they must store."""


def _short(muxer: str, codec: str, **facts: str | float) -> ClipSpec:
    """Return a 0.2 s silent audio clip spec."""
    spec = ClipSpec(muxer, None, codec, duration_s=0.2, amplitude=0)
    return replace(spec, **facts)  # type: ignore[arg-type]


_RULE_CLIPS: dict[str, ClipSpec] = {
    "rules/adpcm_ms.wav": _short("wav", "adpcm_ms"),
    "rules/adpcm_ima.wav": _short("wav", "adpcm_ima_wav"),
    "rules/alaw.wav": _short("wav", "pcm_alaw", sample_rate=8000),
    "rules/pcm_u8.wav": _short("wav", "pcm_u8"),
    "rules/wavpack16.wv": _short("wv", "wavpack", sample_format="s16p"),
    "rules/tta16.tta": _short("tta", "tta", sample_format="s16"),
    "rules/alac16.m4a": _short("ipod", "alac", sample_format="s16p"),
    "rules/mp3.mp3": _short("mp3", "libmp3lame", duration_s=1.0),
    "rules/dvd_lpcm16.vob": _short("vob", "pcm_dvd", sample_rate=48000, sample_format="s16"),
    "rules/dvd_lpcm24.vob": _short("vob", "pcm_dvd", sample_rate=48000, sample_format="s32",
                                   bits_per_raw_sample=24),
    "rules/bluray_lpcm24.m2ts": _short("mpegts", "pcm_bluray", sample_rate=48000,
                                       sample_format="s32", bits_per_raw_sample=24),
    "rules/dv_pal.avi": ClipSpec("avi", "dvvideo", "pcm_s16le", width=720, height=576,
                                 duration_s=0.2, sample_rate=48000, amplitude=0),
    # 25i: interlaced MPEG-2 (top field first) at 25 frames/s.
    "rules/interlaced_25i.ts": ClipSpec(
        "mpegts", "mpeg2video", None, duration_s=1.0, width=64, height=48,
        video_options=(("flags", "+ilme+ildct"), ("top", "1")),
    ),
    # Field-rate reporting as some AVCHD cameras show it: an interlaced stream whose stated
    # rate is 50 (the field rate). PyAV cannot write field pictures, so this is interlaced
    # H.264 at a stated 50/s: the facts libav reports are the same (tt, 50), the frame rate
    # a person means is 25.
    "rules/field_rate_50.ts": ClipSpec(
        "mpegts", "libx264", None, fps=50, duration_s=0.5, width=64, height=48,
        video_options=(("x264-params", "interlaced=1:tff=1"),),
    ),
    "rules/truncated.ts": ClipSpec(
        "mpegts", "mpeg2video", None, duration_s=2.0, width=64, height=48
    ),
    "rules/mpeg1_vbr.mpg": ClipSpec("mpeg", "mpeg1video", "mp2", duration_s=1.0, width=64,
                                    height=48, amplitude=0),
    "rules/mpeg1_vbr.m1v": ClipSpec("mpeg1video", "mpeg1video", None, duration_s=1.0,
                                    width=64, height=48),
    "rules/ntsc_raw.m2v": ClipSpec("mpeg2video", "mpeg2video", None, fps=Fraction(30000, 1001),
                                   duration_s=1.0, width=64, height=48),
    "rules/film_raw.m1v": ClipSpec("mpeg1video", "mpeg1video", None, fps=Fraction(24000, 1001),
                                   duration_s=1.0, width=64, height=48),
    "rules/film_raw.h264": ClipSpec("h264", "libx264", None, fps=Fraction(24000, 1001),
                                    duration_s=1.0, width=64, height=48),
    "rules/tiff_motion.mov": ClipSpec("mov", "tiff", "aac", duration_s=1.0, width=64,
                                      height=48, amplitude=0),
    "rules/jpeg2000_motion.mov": ClipSpec("mov", "jpeg2000", None, duration_s=1.0, width=64,
                                          height=48),
    "rules/mpeg1_cbr.mpg": ClipSpec(
        "mpeg", "mpeg1video", "mp2", duration_s=1.0, width=64, height=48, amplitude=0,
        video_options=(("b", "1150k"), ("maxrate", "1150k"), ("minrate", "1150k"),
                       ("bufsize", "327k")),
    ),
}  # fmt: skip


def write_rule_files(root: Path) -> None:
    """Write every RULE_FILES entry (PyAV clips, a hand-built DSF, a truncated TS)."""
    for relpath, spec in _RULE_CLIPS.items():
        write_clip(root / relpath, spec)
    write_dsf(root / "rules/dsd64.dsf")
    truncated = root / "rules/truncated.ts"
    whole = truncated.read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2 // 188 * 188 + 100])


def generate_truth_corpus(root: Path) -> list[CorpusFile]:
    """Write the probing-truth corpus (formats, junk, rule files) and return its manifest.

    Kept apart from generate_corpus so the library and web tests keep their small library.
    """
    root.mkdir(parents=True, exist_ok=True)
    formats = write_format_samples(root)
    write_junk(root)
    write_rule_files(root)
    manifest = [CorpusFile(rel, "format", {"kind": kind}) for rel, kind in formats.items()]
    manifest += [CorpusFile(rel, "junk", {"error_class": cls}) for rel, cls in JUNK.items()]
    manifest += [CorpusFile(rel, "rule", facts) for rel, facts in RULE_FILES.items()]
    return manifest


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: write the corpus (or a demo library) into OUTDIR."""
    parser = argparse.ArgumentParser(prog="python -m tests.media.generate")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--demo", type=int, metavar="N", help="write a demo library of N clips")
    parser.add_argument("--seed", type=int, default=0, help="seed for --demo")
    args = parser.parse_args(argv)
    outdir: Path = args.outdir
    if args.demo is not None:
        written = write_demo_library(outdir, args.demo, seed=args.seed)
        print(json.dumps({"written": written, "root": str(outdir)}))
        return 0
    manifest = generate_corpus(outdir)
    rows = [{"relpath": f.relpath, "kind": f.kind, "expect": dict(f.expect)} for f in manifest]
    json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
