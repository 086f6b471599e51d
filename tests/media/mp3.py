"""MP3 files whose bitrate varies, with and without the header that states their length."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream

RATE = 44100
CHUNK = 1152  # one MP3 frame of samples


def write_vbr_mp3(
    path: Path,
    seconds: float,
    *,
    xing: bool,
    loud: Sequence[tuple[float, float]] = ((3.0, math.inf),),
) -> None:
    """Write `seconds` of VBR MP3 (LAME V0): loud noise in the `loud` spans, silence elsewhere.

    The silence encodes at the lowest bitrate and the noise at the highest, as a quiet intro
    does on a real album track (by default: 3 s of silence, then noise). Without `xing` the
    file states no frame count, so only its frames tell its length.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {} if xing else {"write_xing": "0"}
    with av.open(str(path), "w", format="mp3", options=options) as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="stereo")
        assert isinstance(stream, AudioStream)
        stream.codec_context.options = {"flags": "+qscale", "global_quality": "0"}
        rng = random.Random(11)
        for start in range(0, round(RATE * seconds), CHUNK):
            noise = any(RATE * a <= start < RATE * b for a, b in loud)
            frame = av.AudioFrame(format="s16", layout="stereo", samples=CHUNK)
            frame.planes[0].update(rng.randbytes(CHUNK * 4) if noise else bytes(CHUNK * 4))
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def apev2_tag(items: dict[str, bytes], *, header: bool = True) -> bytes:
    """Return an APEv2 tag (as foobar2000 or MP3Gain append it) holding binary `items`.

    A "Cover Art (Front)" item holds a file name, a zero byte and the picture.
    """
    body = b"".join(
        len(value).to_bytes(4, "little") + (2).to_bytes(4, "little")  # binary item
        + key.encode("ascii") + b"\x00" + value
        for key, value in items.items()
    )  # fmt: skip
    size = len(body) + 32  # the items and the footer

    def frame(is_header: bool) -> bytes:
        flags = (1 << 31 if header else 0) | (1 << 29 if is_header else 0)
        numbers = (2000, size, len(items), flags)
        return b"APETAGEX" + b"".join(n.to_bytes(4, "little") for n in numbers) + bytes(8)

    return (frame(True) if header else b"") + body + frame(False)


def id3v1_tag(title: str) -> bytes:
    """Return a 128-byte ID3v1 tag."""
    return b"TAG" + title.encode("latin-1")[:30].ljust(30, b"\x00") + bytes(95)


def lyrics3v2_tag(lyrics: str) -> bytes:
    """Return a Lyrics3 v2.00 tag (it sits before an ID3v1 tag)."""
    field = b"LYR" + f"{len(lyrics):05d}".encode() + lyrics.encode("latin-1")
    body = b"LYRICSBEGIN" + field
    return body + f"{len(body):06d}".encode() + b"LYRICS200"


def appended_id3v24(tag: bytes) -> bytes:
    """Return the ID3v2.3 `tag` as an ID3v2.4 tag with a footer, as appended at a file's end."""
    header = b"ID3\x04\x00" + bytes([tag[5] | 0x10]) + tag[6:10]
    return header + tag[10:] + b"3DI" + header[3:]


def write_cbr_mp3(path: Path, frames: int, *, info: bool = False) -> None:
    """Write `frames` frames of 128 kbit/s CBR MP3, with an Info header when `info`."""
    options = {} if info else {"write_xing": "0"}
    with av.open(str(path), "w", format="mp3", options=options) as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="stereo")
        assert isinstance(stream, AudioStream)
        stream.bit_rate = 128_000
        for n in range(frames):
            frame = av.AudioFrame(format="s16", layout="stereo", samples=CHUNK)
            frame.planes[0].update(bytes(range(256)) * 18)
            frame.sample_rate, frame.pts = RATE, n * CHUNK
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
