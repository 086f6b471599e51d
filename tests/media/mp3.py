"""MP3 files whose bitrate varies, with and without the header that states their length."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream

RATE = 44100
CHUNK = 1152  # one MP3 frame of samples


def write_vbr_mp3(path: Path, seconds: float, *, xing: bool, quiet_s: float = 3.0) -> None:
    """Write `seconds` of VBR MP3 (LAME V0): `quiet_s` of silence, then loud noise.

    The silence encodes at the lowest bitrate and the noise at the highest, as a quiet intro
    does on a real album track. Without `xing` the file states no frame count, so only its
    frames tell its length.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {} if xing else {"write_xing": "0"}
    with av.open(str(path), "w", format="mp3", options=options) as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="stereo")
        assert isinstance(stream, AudioStream)
        stream.codec_context.options = {"flags": "+qscale", "global_quality": "0"}
        rng = random.Random(11)
        for start in range(0, round(RATE * seconds), CHUNK):
            loud = start >= RATE * quiet_s
            frame = av.AudioFrame(format="s16", layout="stereo", samples=CHUNK)
            frame.planes[0].update(rng.randbytes(CHUNK * 4) if loud else bytes(CHUNK * 4))
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
