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
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mediashelf.demo_library import ClipSpec, jpeg_bytes, write_clip, write_demo_library

__all__ = [
    "HUGE_SIZE",
    "ClipSpec",
    "CorpusFile",
    "generate_corpus",
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
