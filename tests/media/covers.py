"""Album-shaped audio with a large embedded cover (~400 KB), written with PyAV only."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from av.audio.stream import AudioStream
from av.stream import Disposition
from av.video.stream import VideoStream

COVER_SIDE = 580  # pixels; noise at quality 2 makes a JPEG of about 430 KB
# extension -> (muxer, audio encoder, sample format, bits per raw sample, sample rate)
COVER_FORMATS: dict[str, tuple[str, str, str | None, int | None, int]] = {
    "mp3": ("mp3", "libmp3lame", None, None, 44100),
    "flac": ("flac", "flac", "s16", None, 44100),
    "flac24": ("flac", "flac", "s32", 24, 96000),
    "m4a": ("mp4", "aac", None, None, 44100),
    "alac.m4a": ("mp4", "alac", "s16p", None, 44100),
    # The cover in an ID3 chunk after the audio, where taggers (and ffmpeg) write it.
    "aiff": ("aiff", "pcm_s16be", None, None, 44100),
    "wav": ("wav", "pcm_s16le", None, None, 44100),
}


def cover_jpeg(seed: int, side: int = COVER_SIDE) -> bytes:
    """Encode a noisy JPEG of about 400 KB (noise does not compress: a photo-sized cover)."""
    rng = random.Random(seed)
    ctx = av.CodecContext.create("mjpeg", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = side, side, "yuvj420p"
    ctx.time_base = Fraction(1, 1)
    ctx.qmin = ctx.qmax = 2
    frame = av.VideoFrame(side, side, "yuvj420p")
    for plane in frame.planes:
        plane.update(rng.randbytes(plane.buffer_size))
    frame.pts = 0
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def write_covered_audio(path: Path, kind: str, cover: bytes, seconds: float = 8.0) -> None:
    """Write `seconds` of quiet noise as `kind` (a COVER_FORMATS key) with `cover` attached."""
    muxer, codec, sample_format, bits, rate = COVER_FORMATS[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks: dict[str, tuple[bytes, Literal["big", "little"]]] = {
        "wav": (b"id3 ", "little"), "aiff": (b"ID3 ", "big")
    }  # fmt: skip
    chunked = chunks.get(muxer)
    with av.open(str(path), "w", format=muxer) as out:
        picture = None if chunked else out.add_stream("mjpeg")
        if picture is not None:
            assert isinstance(picture, VideoStream)
            picture.width = picture.height = COVER_SIDE
            picture.pix_fmt = "yuvj420p"
            picture.disposition = Disposition.attached_pic
        audio = out.add_stream(codec, rate=rate, layout="stereo")
        assert isinstance(audio, AudioStream)
        if sample_format is not None:
            audio.codec_context.format = sample_format
        if bits is not None:
            audio.codec_context.options = {"bits_per_raw_sample": str(bits)}
        if picture is not None:
            packet = av.Packet(cover)
            packet.stream, packet.pts, packet.dts = picture, 0, 0
            out.mux(packet)
        _encode_noise(out, audio, rate, seconds)
    if chunked:
        _append_chunk(path, chunked[0], id3v2_cover_tag(cover), chunked[1])


def id3v2_cover_tag(cover: bytes) -> bytes:
    """Return an ID3v2.3 tag holding `cover` as the front cover (one APIC frame)."""
    body = b"\x00image/jpeg\x00\x03\x00" + cover
    frame = b"APIC" + len(body).to_bytes(4, "big") + b"\x00\x00" + body
    size = len(frame)
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + frame


def _append_chunk(path: Path, kind: bytes, data: bytes, order: Literal["big", "little"]) -> None:
    """Append a chunk to a WAV (little-endian RIFF) or AIFF (big-endian FORM) file."""
    padded = data + b"\x00" * (len(data) & 1)
    with path.open("r+b") as file:
        file.seek(0, 2)
        file.write(kind + len(data).to_bytes(4, order) + padded)
        end = file.tell()
        file.seek(4)
        file.write((end - 8).to_bytes(4, order))


_QUIET = bytes((b & 0x0F) | (0xF0 if b & 0x80 else 0) for b in range(256))


def _encode_noise(out: av.container.OutputContainer, stream: AudioStream, rate: int,
                  seconds: float) -> None:  # fmt: skip
    """Encode low-level noise (it compresses like music, unlike silence)."""
    rng, chunk = random.Random(7), 4096
    for start in range(0, round(rate * seconds), chunk):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=chunk)
        frame.planes[0].update(rng.randbytes(chunk * 4).translate(_QUIET))
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def write_matroska_film(
    path: Path, attachments: dict[str, tuple[str, bytes]], cover_track: bytes | None = None
) -> None:
    """Write a one-second MPEG-4 film as Matroska with `attachments` ({name: (mimetype, data)}).

    `cover_track`: a JPEG muxed as a plain one-frame video track after the film's, as a remux
    of a file with an attached cover writes it (no attached_pic flag, no frame count).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="matroska") as out:
        film = out.add_stream("mpeg4", rate=24)
        assert isinstance(film, VideoStream)
        film.width, film.height, film.pix_fmt = 320, 240, "yuv420p"
        for name, (mimetype, data) in attachments.items():
            out.add_attachment(name, mimetype, data)
        if cover_track is not None:
            picture = out.add_stream("mjpeg")
            assert isinstance(picture, VideoStream)
            picture.width = picture.height = COVER_SIDE
            picture.pix_fmt = "yuvj420p"
            packet = av.Packet(cover_track)
            packet.stream, packet.pts, packet.dts = picture, 0, 0
            out.mux(packet)
        rng = random.Random(5)
        for n in range(24):
            frame = av.VideoFrame(320, 240, "yuv420p")
            for plane in frame.planes:
                plane.update(rng.randbytes(plane.buffer_size))
            frame.pts, frame.time_base = n, Fraction(1, 24)
            out.mux(film.encode(frame))
        out.mux(film.encode(None))


def remux_to_matroska(source: Path, path: Path) -> None:
    """Copy every stream of `source` into Matroska as `ffmpeg -i SOURCE -map 0 -c copy` does.

    An MP3's attached cover comes out as a plain one-frame MJPEG track: no cover flag, no
    frame count, no frame rate.
    """
    with av.open(str(source)) as given, av.open(str(path), "w", format="matroska") as out:
        copies = {stream.index: out.add_stream_from_template(stream) for stream in given.streams}
        for packet in given.demux():
            if packet.size:  # not the demuxer's end-of-stream flush packets
                packet.stream = copies[packet.stream.index]
                out.mux(packet)


def write_motion_jpeg_with_sound(
    path: Path, picture: bytes, frames: int = 24, seconds: float | None = None
) -> None:
    """Write a motion-JPEG film of `frames` x `picture` at 24 per second, with MP3 sound.

    With `frames=1` and longer `seconds` of sound: what `ffmpeg -i song.flac -i cover.jpg
    -c:v mjpeg song.mka` writes, a cover as a plain track that has a frame rate.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("mjpeg", rate=24)
        assert isinstance(video, VideoStream)
        video.width = video.height = COVER_SIDE
        video.pix_fmt = "yuvj420p"
        audio = out.add_stream("libmp3lame", rate=44100, layout="stereo")
        assert isinstance(audio, AudioStream)
        for n in range(frames):
            packet = av.Packet(picture)
            packet.stream, packet.pts, packet.dts = video, n, n
            packet.time_base, packet.duration = Fraction(1, 24), 1
            out.mux(packet)
        _encode_noise(out, audio, 44100, frames / 24 if seconds is None else seconds)
