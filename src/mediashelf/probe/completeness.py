"""Whether a fast analysis found every fact a full one could: the rule for a second pass.

The fast analysis runs no video decoder but MPEG-1/2's (whose sequence header states the
bitrate, see `analysis`). What only the other video decoders state is a picture's size when
the container does not (FLV, DV, raw streams), the field order of a stream at a field rate
(which decides whether 50 means 25i), and, through the timestamps it fixes, some durations
and frame rates. A stored fact that is still missing after the fast analysis is therefore
looked for again with a full one. Except a Matroska file's duration: one whose Segment
states none is timed from its clusters after either analysis (`probe/matroska.py`), whatever
libav made of it, so a full analysis could not add it. And a DV file's sound: its fast
analysis reads two frames, and a tape whose first frames carry no audio pack (recorded from
blank tape, or the sound switched on later) shows no audio stream there. And an MXF file's
picture size: MXF states the stored size (whole macroblocks: 1920x1088 for 1080 lines) and
only the decoder the displayed one, so its video gets the full analysis unless the fast one
ran its decoder.
"""

from __future__ import annotations

from mediashelf.probe.analysis import FACT_STATING_VIDEO_DECODERS
from mediashelf.probe.normalize import (
    FIELD_RATE_MIN,
    choose_video,
    frame_rate,
    is_still,
    positive_float,
    usable_audio,
    usable_video,
)
from mediashelf.probe.pyav_streams import RawFacts


def missing_fact(raw: RawFacts) -> str | None:
    """Return which required fact the fast analysis left unknown, or None when none is."""
    for stream in raw.streams:
        if stream.kind == "video" and not is_still(stream, raw.container):
            if not usable_video(stream):
                return "a video stream without codec or size"
        elif stream.kind == "audio" and not usable_audio(stream):
            return "an audio stream without codec, sample rate or channels"
    if positive_float(raw.duration) is None and "matroska" not in (raw.container or ""):
        return "no duration"
    if raw.container == "dv" and not any(stream.kind == "audio" for stream in raw.streams):
        return "a DV file without sound in its first frames"
    video = choose_video(raw.streams, raw.container)
    if video is None:
        return None
    rate = frame_rate(video.avg_frame_rate, video.r_frame_rate)
    if rate is None:
        return "no frame rate"
    if rate >= FIELD_RATE_MIN and video.field_order is None:
        return "field order unknown at a field rate"
    if raw.container == "mxf" and video.codec not in FACT_STATING_VIDEO_DECODERS:
        return "an MXF picture's stored size, not its displayed one"
    return None
