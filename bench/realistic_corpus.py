"""A library shaped like a real one, written with PyAV: albums with large covers, HD video.

Audio is album-shaped: real track lengths (3 to 5 minutes), one ~430 KB JPEG cover per album
embedded in every track (ID3v2 APIC in MP3, a PICTURE block in FLAC, ``covr`` in M4A,
METADATA_BLOCK_PICTURE in Opus, an ID3 chunk after the audio in AIFF; WAV rips carry none),
noise-like signal so lossless files have lossless sizes. Video is 1080p at a few Mbit/s:
H.264 MP4 with the index at the end and at the start (faststart), HEVC MKV with three audio
and two subtitle tracks, H.264 MKV with subtitle fonts and a cover attached, H.264 MPEG-TS
and VP9 WebM; and DVD-shaped MPEG-2 (VOB, 720x576). Encoding is the slow part, so each
format is encoded once as a master (an audio track of the longest length, ten seconds of
video) and every file is remuxed from it: tracks are prefixes of their master, videos repeat
their master's packets with shifted timestamps.
"""

from __future__ import annotations

import base64
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.audio.stream import AudioStream
from av.stream import Disposition
from av.video.stream import VideoStream

COVER_SIDE = 580
TRACK_SECONDS = (180, 300)
MASTER_VIDEO_S = 10
REPEAT_GAP_S = 0.5
_QUIET = bytes((b & 0x0F) | (0xF0 if b & 0x80 else 0) for b in range(256))


@dataclass(frozen=True)
class AudioFormat:
    """One album format: muxer, encoder and what the encoder is told."""

    ext: str
    muxer: str
    codec: str
    rate: int = 44100
    sample_format: str | None = None
    bits: int | None = None
    bit_rate: int | None = None
    albums: int = 1
    tracks: int = 10


@dataclass(frozen=True)
class VideoFormat:
    """One video shape: container, codecs, how many files and how long."""

    name: str
    ext: str
    muxer: str
    codec: str
    audio: tuple[tuple[str, str], ...]  # (encoder, layout) per audio track
    files: int
    options: tuple[tuple[str, str], ...] = ()
    subtitles: int = 0
    seconds: tuple[int, int] = (60, 150)
    size: tuple[int, int] = (1920, 1080)
    attachments: bool = False  # two fonts and a cover, as styled subtitles come


AUDIO_FORMATS = (
    AudioFormat("mp3", "mp3", "libmp3lame", bit_rate=320_000, albums=8),
    AudioFormat("flac", "flac", "flac", sample_format="s16", albums=3),
    AudioFormat("flac", "flac", "flac", rate=96000, sample_format="s32", bits=24, tracks=6),
    AudioFormat("m4a", "mp4", "aac", bit_rate=256_000, albums=5),
    AudioFormat("m4a", "mp4", "alac", sample_format="s16p", tracks=8),
    AudioFormat("opus", "ogg", "libopus", rate=48000, bit_rate=160_000, albums=3),
    AudioFormat("wav", "wav", "pcm_s16le", tracks=6),
    AudioFormat("aiff", "aiff", "pcm_s16be", tracks=5),
)
VIDEO_FORMATS = (
    VideoFormat("mp4-moov-at-end", "mp4", "mp4", "libx264", (("aac", "stereo"),), 5),
    VideoFormat("mp4-faststart", "mp4", "mp4", "libx264", (("aac", "stereo"),), 5,
                options=(("movflags", "+faststart"),)),
    VideoFormat("mkv-hevc", "mkv", "matroska", "libx265",
                (("aac", "stereo"), ("ac3", "5.1"), ("libopus", "stereo")), 4, subtitles=2),
    VideoFormat("mkv-h264-fonts", "mkv", "matroska", "libx264", (("aac", "stereo"),), 3,
                subtitles=1, attachments=True),
    VideoFormat("mpegts", "ts", "mpegts", "libx264", (("aac", "stereo"),), 4),
    VideoFormat("webm-vp9", "webm", "webm", "libvpx-vp9", (("libopus", "stereo"),), 4),
    VideoFormat("dvd-mpeg2", "vob", "vob", "mpeg2video", (("ac3", "stereo"),), 3,
                size=(720, 576)),
)  # fmt: skip
_ENCODER_OPTIONS = {
    "libx264": {"preset": "veryfast", "crf": "23"},
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=error"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "b": "6M"},
    "mpeg2video": {"b": "6M", "maxrate": "9M", "bufsize": "1835k", "g": "15"},
}


def format_label(path: Path) -> str:
    """Return the corpus format of a library file, from its folder ("flac24-flac", "mkv-hevc")."""
    parts = path.parts
    if "Videos" in parts:
        return parts[parts.index("Videos") + 1]
    return parts[-2].split(" - ")[0]


# --------------------------------------------------------------------------- covers


def cover_jpeg(seed: int) -> bytes:
    """Encode a noisy ~430 KB JPEG (noise does not compress: photo-sized)."""
    rng = random.Random(seed)
    ctx = av.CodecContext.create("mjpeg", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width = ctx.height = COVER_SIDE
    ctx.pix_fmt, ctx.time_base = "yuvj420p", Fraction(1, 1)
    ctx.qmin = ctx.qmax = 2
    frame = av.VideoFrame(COVER_SIDE, COVER_SIDE, "yuvj420p")
    for plane in frame.planes:
        plane.update(rng.randbytes(plane.buffer_size))
    frame.pts = 0
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def flac_picture_block(jpeg: bytes) -> str:
    """Return a METADATA_BLOCK_PICTURE comment value (base64), as opusenc --picture writes."""
    mime = b"image/jpeg"
    body = struct.pack(">II", 3, len(mime)) + mime + struct.pack(">I", 0)
    body += struct.pack(">IIIII", COVER_SIDE, COVER_SIDE, 24, 0, len(jpeg)) + jpeg
    return base64.b64encode(body).decode("ascii")


# --------------------------------------------------------------------------- audio


def encode_audio_master(path: Path, fmt: AudioFormat, seconds: float) -> None:
    """Encode `seconds` of quiet noise (compresses like music) in `fmt`."""
    with av.open(str(path), "w", format=fmt.muxer) as out:
        stream = out.add_stream(fmt.codec, rate=fmt.rate, layout="stereo")
        assert isinstance(stream, AudioStream)
        if fmt.sample_format:
            stream.codec_context.format = fmt.sample_format
        if fmt.bits:
            stream.codec_context.options = {"bits_per_raw_sample": str(fmt.bits)}
        if fmt.bit_rate:
            stream.codec_context.bit_rate = fmt.bit_rate
        _encode_noise(out, stream, fmt.rate, seconds, "stereo")


def _encode_noise(
    out: av.container.OutputContainer, stream: AudioStream, rate: int, seconds: float,
    layout: str,
) -> None:  # fmt: skip
    rng, chunk = random.Random(7), 4096
    channels = av.AudioLayout(layout).nb_channels
    for start in range(0, round(rate * seconds), chunk):
        frame = av.AudioFrame(format="s16", layout=layout, samples=chunk)
        frame.planes[0].update(rng.randbytes(chunk * 2 * channels).translate(_QUIET))
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def write_track(master: Path, path: Path, fmt: AudioFormat, seconds: float,
                cover: bytes | None, tags: dict[str, str]) -> None:  # fmt: skip
    """Remux the first `seconds` of `master` to `path` with `cover` and `tags`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"brand": "M4A "} if fmt.ext == "m4a" else {}
    with (
        av.open(str(master)) as source,
        av.open(str(path), "w", format=fmt.muxer, options=options) as out,
    ):
        out.metadata.update(tags)
        picture = None
        if cover is not None and fmt.muxer == "ogg":
            out.metadata["METADATA_BLOCK_PICTURE"] = flac_picture_block(cover)
        elif cover is not None and fmt.muxer not in ("wav", "aiff"):
            picture = _cover_stream(out)
        audio_in = source.streams.audio[0]
        audio = out.add_stream_from_template(audio_in)
        if picture is not None and cover is not None:
            picture_packet = av.Packet(cover)
            picture_packet.stream, picture_packet.pts, picture_packet.dts = picture, 0, 0
            out.mux(picture_packet)
        limit = seconds / float(audio_in.time_base or 1)
        samples = 0
        for packet in source.demux(audio_in):
            if packet.dts is None or packet.pts is None or packet.pts > limit:
                continue
            samples += packet.duration or 0
            packet.stream = audio
            out.mux(packet)
    if fmt.muxer == "flac":
        set_flac_samples(path, samples)
    if fmt.muxer == "aiff" and cover is not None:
        append_id3_chunk(path, cover)


def append_id3_chunk(path: Path, cover: bytes) -> None:
    """Append an ``ID3 `` chunk holding `cover` (one APIC frame), as taggers write one."""
    body = b"\x00image/jpeg\x00\x03\x00" + cover
    frame = b"APIC" + len(body).to_bytes(4, "big") + b"\x00\x00" + body
    syncsafe = bytes((len(frame) >> shift) & 0x7F for shift in (21, 14, 7, 0))
    tag = b"ID3\x03\x00\x00" + syncsafe + frame
    with path.open("r+b") as handle:
        handle.seek(0, 2)
        handle.write(b"ID3 " + len(tag).to_bytes(4, "big") + tag + b"\x00" * (len(tag) & 1))
        end = handle.tell()
        handle.seek(4)
        handle.write((end - 8).to_bytes(4, "big"))  # the FORM chunk's size


def set_flac_samples(path: Path, samples: int) -> None:
    """Write the total sample count into STREAMINFO (a remux keeps the master's count)."""
    with path.open("r+b") as handle:
        handle.seek(8 + 13)  # "fLaC", block header, then 13 bytes into STREAMINFO
        head = handle.read(5)
        value = (head[0] & 0xF0) << 32 | (samples & 0xF_FFFF_FFFF)
        handle.seek(8 + 13)
        handle.write(value.to_bytes(5, "big"))


def _cover_stream(out: av.container.OutputContainer) -> VideoStream:
    picture = out.add_stream("mjpeg")
    assert isinstance(picture, VideoStream)
    picture.width = picture.height = COVER_SIDE
    picture.pix_fmt = "yuvj420p"
    picture.disposition = Disposition.attached_pic
    return picture


def album_tracks(scale: float) -> Iterator[tuple[AudioFormat, str, int, int]]:
    """Yield (format, album folder, album number, track count) for every album."""
    for fmt in AUDIO_FORMATS:
        label = f"{fmt.ext}{fmt.bits or ''}-{fmt.codec}"
        for album in range(max(1, round(fmt.albums * scale))):
            yield fmt, f"{label} - Album {album + 1}", album, fmt.tracks


def write_audio(library: Path, masters: Path, scale: float) -> None:
    """Write every album of the plan."""
    longest = max(TRACK_SECONDS)
    rng = random.Random(11)
    for n, (fmt, folder, _album, tracks) in enumerate(album_tracks(scale)):
        master = masters / f"{fmt.codec}-{fmt.rate}-{fmt.bits or 16}.{fmt.ext}"
        if not master.exists():
            encode_audio_master(master, fmt, longest)
        cover = cover_jpeg(seed=n) if fmt.muxer != "wav" else None
        for track in range(tracks):
            seconds = rng.uniform(*TRACK_SECONDS)
            tags = {"title": f"Track {track + 1}", "album": folder, "artist": "Bench",
                    "track": str(track + 1)}  # fmt: skip
            path = library / "Music" / "Bench" / folder / f"{track + 1:02d} - Track.{fmt.ext}"
            write_track(master, path, fmt, seconds, cover, tags)


# --------------------------------------------------------------------------- video


def _frames(width: int, height: int, count: int) -> list[av.VideoFrame]:
    """Return `count` distinct frames: a gradient with a noisy patch (a few Mbit/s)."""
    rng = random.Random(5)
    ramp = bytes(range(256)) * (width // 256 + 2)
    frames = []
    for index in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        for number, plane in enumerate(frame.planes):
            line, rows = plane.line_size, plane.buffer_size // plane.line_size
            data = bytearray(bytes([64 + 40 * number]) * plane.buffer_size)
            if number == 0:
                for y in range(rows):
                    start = (y + index * 4) % 256
                    data[y * line : y * line + width] = ramp[start : start + width]
                for y in range(rows // 6):
                    data[y * line : y * line + width // 6] = rng.randbytes(width // 6)
            plane.update(bytes(data))
        frames.append(frame)
    return frames


def encode_video_master(path: Path, fmt: VideoFormat) -> None:
    """Encode MASTER_VIDEO_S seconds of video at 25 fps plus the format's audio tracks."""
    options = dict(_ENCODER_OPTIONS[fmt.codec])
    # MPEG-TS keeps its own master: H.264 in TS needs its parameter sets in-band.
    muxer = "mpegts" if fmt.muxer == "mpegts" else "matroska"
    with av.open(str(path), "w", format=muxer) as out:
        video = out.add_stream(fmt.codec, rate=25, options=options)
        assert isinstance(video, VideoStream)
        video.width, video.height = fmt.size
        video.pix_fmt = "yuv420p"
        audio = [_audio_stream(out, codec, layout) for codec, layout in fmt.audio]
        frames = _frames(*fmt.size, 12)
        for i in range(MASTER_VIDEO_S * 25):
            frame = frames[i % len(frames)]
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for stream, (_codec, layout) in zip(audio, fmt.audio, strict=True):
            _encode_noise(out, stream, 48000, MASTER_VIDEO_S, layout)


def _audio_stream(out: av.container.OutputContainer, codec: str, layout: str) -> AudioStream:
    stream = out.add_stream(codec, rate=48000, layout=layout)
    assert isinstance(stream, AudioStream)
    return stream


def write_video(master: Path, path: Path, fmt: VideoFormat, seconds: int, srt: Path) -> None:
    """Repeat `master`'s packets (timestamps shifted) for `seconds` into `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subs = [av.open(str(srt)) for _ in range(fmt.subtitles)]
    try:
        with (
            av.open(str(master)) as source,
            av.open(str(path), "w", format=fmt.muxer, options=dict(fmt.options)) as out,
        ):
            streams = {s.index: out.add_stream_from_template(s) for s in source.streams}
            sub_streams = [out.add_stream_from_template(s.streams.subtitles[0]) for s in subs]
            if fmt.attachments:
                fonts = random.Random(seconds)
                out.add_attachment("Title.ttf", "font/ttf", fonts.randbytes(1_400_000))
                out.add_attachment("Body.otf", "font/otf", fonts.randbytes(900_000))
                out.add_attachment("cover.jpg", "image/jpeg", cover_jpeg(seed=seconds))
            for repeat in range(max(1, seconds // MASTER_VIDEO_S)):
                # Opened again rather than rewound: after a seek, Matroska gives the first
                # packet dts = pts, which repeats the next packet's (MPEG-PS refuses that).
                with av.open(str(master)) as again:
                    for packet in again.demux():
                        _shifted(packet, repeat, streams, out)
            for sub, stream in zip(subs, sub_streams, strict=True):
                for packet in sub.demux():
                    if packet.dts is not None:
                        packet.stream = stream
                        out.mux(packet)
    finally:
        for sub in subs:
            sub.close()


def _shifted(packet: Any, repeat: int, streams: dict[int, Any], out: Any) -> None:
    if packet.dts is None:
        return
    # A repeat starts a little after the last one ends: B-frames give the first packets
    # decode timestamps before zero.
    shift = round(repeat * (MASTER_VIDEO_S + REPEAT_GAP_S) / float(packet.time_base or 1))
    packet.dts += shift
    if packet.pts is not None:
        packet.pts += shift
    packet.stream = streams[packet.stream.index]
    out.mux(packet)


def subtitle_file(path: Path, seconds: int) -> Path:
    """Write an SRT with a line every 4 seconds."""
    cues = []
    for n, start in enumerate(range(0, seconds, 4)):
        begin, end = _srt_time(start), _srt_time(start + 2)
        cues.append(f"{n + 1}\n{begin} --> {end}\nLine {n + 1}\n")
    path.write_text("\n".join(cues), encoding="utf-8")
    return path


def _srt_time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d},000"


def write_videos(library: Path, masters: Path, scale: float) -> None:
    """Write every video of the plan."""
    rng = random.Random(13)
    for fmt in VIDEO_FORMATS:
        master = masters / f"{fmt.name}.{'ts' if fmt.muxer == 'mpegts' else 'mkv'}"
        if not master.exists():
            encode_video_master(master, fmt)
        for n in range(max(1, round(fmt.files * scale))):
            seconds = rng.randint(*fmt.seconds)
            srt = subtitle_file(masters / "subtitles.srt", seconds)
            path = library / "Videos" / fmt.name / f"Clip {n + 1:02d}.{fmt.ext}"
            write_video(master, path, fmt, seconds, srt)


def ensure_corpus(keep: Path, scale: float) -> tuple[list[Path], bool]:
    """Return the library files under `keep`/library, writing them first if there are none."""
    library, masters = keep / "library", keep / "masters"
    existing = sorted(p for p in library.rglob("*") if p.is_file()) if library.exists() else []
    if existing:
        return existing, True
    masters.mkdir(parents=True, exist_ok=True)
    write_audio(library, masters, scale)
    write_videos(library, masters, scale)
    return sorted(p for p in library.rglob("*") if p.is_file()), False
