"""Generated clips for a demo library and the test corpus: real media made with PyAV,
no ffmpeg binary."""

from __future__ import annotations

import math
import os
import random
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.stream import Disposition
from av.video.stream import VideoStream

__all__ = ["ClipSpec", "write_clip", "write_demo_library"]

# Per-encoder options chosen for speed and quiet logs.
_VIDEO_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"preset": "ultrafast", "crf": "30"},
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=error"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"},
    "libsvtav1": {"preset": "12"},
    "mpeg4": {},
}

# Container options that make the muxers skip random UIDs / serials (deterministic output).
_BITEXACT = {"fflags": "+bitexact"}


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to encode one clip; ``None`` codecs mean "no such stream"."""

    container: str  # libavformat muxer name: mp4, ipod, matroska, webm, mp3, ogg, flac, wav
    video_codec: str | None = None  # encoder name, e.g. libx264, libvpx-vp9, libsvtav1
    audio_codec: str | None = None  # encoder name, e.g. aac, libopus, libmp3lame, flac
    width: int = 160
    height: int = 120
    fps: int | Fraction = 25  # a Fraction for NTSC rates: Fraction(30000, 1001)
    duration_s: float = 1.0
    sample_rate: int = 44100
    layout: str = "stereo"  # libav channel layout name: mono, stereo, 5.1(side) ...
    sample_format: str | None = None  # encoder sample format; None = encoder default
    bits_per_raw_sample: int | None = None  # e.g. 24 for flac/s32
    cover_art: bool = False  # attached picture (mjpeg, disposition attached_pic); mp3/flac
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    seed: int = 0  # varies picture colours and tone pitch
    amplitude: int = 8000  # peak of the s16 test tone; 0 = silence (much faster for aac/opus)
    video_options: tuple[tuple[str, str], ...] = ()  # extra encoder options, e.g. interlacing


# --------------------------------------------------------------------------- encoding


def _video_frame(width: int, height: int, index: int, seed: int) -> av.VideoFrame:
    """Build a yuv420p frame: a moving diagonal luma ramp on a seed-dependent colour."""
    frame = av.VideoFrame(width, height, "yuv420p")
    ramp = bytes(range(256)) * (2 + (width + height) // 256 + 1)
    shift = (index * 8 + seed * 37) % 256
    for plane_no, plane in enumerate(frame.planes):
        line = plane.line_size
        rows = plane.buffer_size // line
        if plane_no == 0:
            data = b"".join(ramp[(y + shift) % 256 : (y + shift) % 256 + line] for y in range(rows))
        else:
            value = (seed * (53 if plane_no == 1 else 97) + 64) % 256
            data = bytes([value]) * (line * rows)
        plane.update(data)
    return frame


def _picture_frame(size: int, seed: int) -> av.VideoFrame:
    """Build a small full-range yuvj420p frame for mjpeg cover art."""
    frame = _video_frame(size, size, 0, seed)
    return frame.reformat(format="yuvj420p")


def jpeg_bytes(size: int, seed: int) -> bytes:
    """Encode a tiny JPEG image with PyAV's mjpeg encoder."""
    ctx = av.CodecContext.create("mjpeg", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width = size
    ctx.height = size
    ctx.pix_fmt = "yuvj420p"
    ctx.time_base = Fraction(1, 1)
    frame = _picture_frame(size, seed)
    frame.pts = 0
    packets = ctx.encode(frame) + ctx.encode(None)
    return b"".join(bytes(p) for p in packets)


def _tone_samples(spec: ClipSpec, channels: int) -> bytes:
    """Interleaved s16 samples: a sine tone (per-channel pitch) lasting ``duration_s``."""
    total = max(1, round(spec.sample_rate * spec.duration_s))
    period = 80 + (spec.seed % 7) * 10  # samples per cycle, ~440-600 Hz
    one_period = array("h")
    for i in range(period):
        for ch in range(channels):
            phase = 2 * math.pi * i * (ch + 1) / period
            one_period.append(int(spec.amplitude * math.sin(phase)))
    reps = total // period + 1
    data = one_period.tobytes() * reps
    return data[: total * channels * 2]


def _encode_audio(out: OutputContainer, stream: AudioStream, spec: ClipSpec) -> None:
    """Feed the tone to ``stream`` in 1024-sample s16 frames (PyAV resamples as needed)."""
    channels = stream.codec_context.channels
    data = _tone_samples(spec, channels)
    bytes_per_sample = 2 * channels
    chunk = 1024
    total = len(data) // bytes_per_sample
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        frame = av.AudioFrame(format="s16", layout=spec.layout, samples=n)
        payload = data[start * bytes_per_sample : (start + n) * bytes_per_sample]
        plane = frame.planes[0]
        plane.update(payload.ljust(plane.buffer_size, b"\0"))
        frame.sample_rate = spec.sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, spec.sample_rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _encode_video(out: OutputContainer, stream: VideoStream, spec: ClipSpec) -> None:
    """Encode ``duration_s * fps`` generated frames into ``stream``."""
    frames = max(1, round(spec.duration_s * spec.fps))
    for i in range(frames):
        frame = _video_frame(spec.width, spec.height, i, spec.seed)
        frame.pts = i
        frame.time_base = 1 / Fraction(spec.fps)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _add_cover(out: OutputContainer) -> VideoStream:
    """Add a 32x32 mjpeg stream flagged as an attached picture (cover art)."""
    stream = out.add_stream("mjpeg", rate=1)
    assert isinstance(stream, VideoStream)
    stream.width = 32
    stream.height = 32
    stream.pix_fmt = "yuvj420p"
    stream.disposition = Disposition.attached_pic
    stream.metadata["comment"] = "Cover (front)"
    return stream


def _add_video(out: OutputContainer, spec: ClipSpec, codec: str) -> VideoStream:
    """Add a yuv420p video stream with fast, single-threaded encoder settings."""
    if codec == "libsvtav1":
        # SVT-AV1 prints its banner to stderr unless told otherwise (1 = errors only); it
        # reads the variable when the encoder starts, so it is set here, never at import.
        os.environ.setdefault("SVT_LOG", "1")
    options = {**_VIDEO_OPTIONS.get(codec, {}), **dict(spec.video_options)}
    stream = out.add_stream(codec, rate=spec.fps, options=options)
    assert isinstance(stream, VideoStream)
    stream.width = spec.width
    stream.height = spec.height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = round(spec.fps)
    stream.codec_context.thread_count = 1
    return stream


def _add_audio(out: OutputContainer, spec: ClipSpec, codec: str) -> AudioStream:
    """Add an audio stream with the spec's rate, layout, sample format and raw bit depth."""
    stream = out.add_stream(codec, rate=spec.sample_rate, layout=spec.layout)
    assert isinstance(stream, AudioStream)
    if spec.sample_format is not None:
        stream.codec_context.format = spec.sample_format
    if spec.bits_per_raw_sample is not None:
        # Generic AVCodecContext option; flac honours it (ffprobe: bits_per_raw_sample=24).
        stream.codec_context.options = {"bits_per_raw_sample": str(spec.bits_per_raw_sample)}
    return stream


def write_clip(path: Path, spec: ClipSpec) -> None:
    """Encode one clip described by ``spec`` to ``path`` (parent folders are created)."""
    if spec.video_codec is None and spec.audio_codec is None:
        raise ValueError("a clip needs at least one of video_codec / audio_codec")
    if spec.cover_art and spec.container not in ("mp3", "flac"):
        raise ValueError(f"cover_art is only supported for mp3/flac, not {spec.container}")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = av.open(str(path), mode="w", format=spec.container, options=dict(_BITEXACT))
    try:
        for key in ("title", "artist", "album"):
            value = getattr(spec, key)
            if value is not None:
                out.metadata[key] = value
        cover = _add_cover(out) if spec.cover_art else None
        video = _add_video(out, spec, spec.video_codec) if spec.video_codec else None
        audio = _add_audio(out, spec, spec.audio_codec) if spec.audio_codec else None
        if cover is not None:
            picture = _picture_frame(32, spec.seed)
            picture.pts = 0
            out.mux(cover.encode(picture))
            out.mux(cover.encode(None))
        if video is not None:
            _encode_video(out, video, spec)
        if audio is not None:
            _encode_audio(out, audio, spec)
    finally:
        out.close()


# --------------------------------------------------------------------------- demo library

_WORDS = (
    "amber", "blue", "cold", "dawn", "echo", "fire", "glass", "harbor", "iron", "jade",
    "kite", "lunar", "moss", "night", "ocean", "paper", "quiet", "river", "salt", "tide",
    "umber", "velvet", "winter", "yellow", "zephyr", "Ñu", "café", "naïve", "北", "夜",
)  # fmt: skip
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

_DEMO_AUDIO: tuple[tuple[str, ClipSpec], ...] = (
    (".mp3", ClipSpec("mp3", None, "libmp3lame")),
    (".m4a", ClipSpec("ipod", None, "aac")),
    (".flac", ClipSpec("flac", None, "flac", sample_format="s16")),
    (".opus", ClipSpec("ogg", None, "libopus", sample_rate=48000)),
)
_DEMO_VIDEO: tuple[tuple[str, ClipSpec], ...] = (
    (".mp4", ClipSpec("mp4", "libx264", "aac", width=64, height=48)),
    (".mkv", ClipSpec("matroska", "mpeg4", "libmp3lame", width=64, height=48)),
    (".webm", ClipSpec("webm", "libvpx-vp9", "libopus", width=64, height=48, sample_rate=48000)),
)


def _title(rng: random.Random, words: int) -> str:
    """Random capitalised title of ``words`` words."""
    return " ".join(rng.choice(_WORDS).capitalize() for _ in range(words))


def _plan_demo(count: int, seed: int) -> list[tuple[str, ClipSpec]]:
    """Choose deterministic relative paths and specs for a demo library of ``count`` clips."""
    rng = random.Random(seed)
    artists = [_title(rng, rng.randint(1, 2)) for _ in range(max(1, count // 40))]
    albums = {
        a: [_title(rng, rng.randint(1, 3)) for _ in range(rng.randint(1, 4))] for a in artists
    }
    used: set[str] = set()
    plan: list[tuple[str, ClipSpec]] = []
    for n in range(count):
        title = _title(rng, rng.randint(1, 4))
        duration = rng.choice((0.2, 0.3, 0.4, 0.5))
        if rng.random() < 0.3:
            ext, base = _DEMO_VIDEO[0] if rng.random() < 0.8 else rng.choice(_DEMO_VIDEO)
            if rng.random() < 0.6:
                vid = "".join(rng.choice(_ID_CHARS) for _ in range(11))
                name = f"{title} [{vid}]{ext}"
            else:
                name = f"{title}{ext}"
            sub = rng.choice(("", "", "Clips", "Clips/2023"))
            relpath = f"Videos/{sub}/{name}" if sub else f"Videos/{name}"
            spec = replace(base, duration_s=duration, title=title, seed=n, amplitude=0)
        else:
            ext, base = rng.choice(_DEMO_AUDIO)
            artist = rng.choice(artists)
            album = rng.choice(albums[artist])
            track = rng.randint(1, 20)
            relpath = f"Music/{artist}/{album}/{track:02d} - {title}{ext}"
            spec = replace(
                base,
                duration_s=duration,
                title=title,
                artist=artist,
                album=album,
                seed=n,
                amplitude=0,
            )
        stem, dot, suffix = relpath.rpartition(".")
        unique = relpath
        k = 2
        while unique.casefold() in used:
            unique = f"{stem} ({k}){dot}{suffix}"
            k += 1
        used.add(unique.casefold())
        plan.append((unique, spec))
    return plan


def write_demo_library(root: Path, count: int, seed: int = 0) -> int:
    """Write ``count`` small mixed audio/video clips in nested folders; return how many."""
    plan = _plan_demo(count, seed)
    # Silent audio: encoders spend most of their time on real signal, and the demo only
    # needs valid, probe-able files.
    for relpath in {str(Path(r).parent) for r, _ in plan}:
        (root / relpath).mkdir(parents=True, exist_ok=True)
    # PyAV releases the GIL while encoding, so threads use all cores; output stays
    # deterministic because every file is encoded independently and single-threaded.
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda item: write_clip(root / item[0], item[1]), plan))
    return len(results)
