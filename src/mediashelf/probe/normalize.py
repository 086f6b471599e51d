"""Turn raw backend facts into a ProbeResult by one set of rules shared by every backend.

Keeping the rules here (stream choice, what makes a stream usable, unknown values, bitrate
fallback, frame rates, bit depth) is what makes the pyav and ffprobe backends agree field for
field. Bump NORMALIZER_VERSION whenever a rule changes what is stored: a plain scan re-probes
the tracks probed by an older version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mediashelf.errors import ProbeCorrupt, ProbeError, ProbeNoStreams, ProbeUnsupported
from mediashelf.probe.depth import DSD_CODECS, bit_depth, native_sample_rate
from mediashelf.probe.numbers import as_rate, positive_float, positive_int
from mediashelf.probe.result import ProbeResult, StreamFacts

__all__ = [
    "NORMALIZER_VERSION",
    "build_result",
    "choose_audio",
    "choose_video",
    "frame_rate",
    "positive_float",
    "positive_int",
]

NORMALIZER_VERSION = 7

# Codecs that only ever hold still pictures; a "video" stream with one of these is cover art.
STILL_IMAGE_CODECS = frozenset(
    {"jpegls", "jpegxl", "qoi", "ppm", "pgm", "pgmyuv", "pbm", "pam", "targa", "sgi", "dpx",
     "exr", "pcx", "xbm", "xwd", "sunrast", "hdr", "photocd", "psd", "dds", "ljpeg", "svg"}
)  # fmt: skip
# Codecs of pictures that are also motion video: a cover in one file, the film in another
# (PNG, TIFF and JPEG 2000 in QuickTime or MXF for editing and cinema, GIF animations).
# Such a stream is video only when it shows motion: more than one frame.
PICTURE_CODECS = frozenset({"mjpeg", "mjpegb", "apng", "png", "gif", "tiff", "bmp", "webp",
                            "jpeg2000"})  # fmt: skip
# Demuxers of audio files: any picture inside one is cover art.
AUDIO_CONTAINERS = frozenset(
    {"mp3", "flac", "wav", "w64", "aiff", "ape", "wv", "tak", "tta", "dsf", "iff", "mpc", "mpc8",
     "aac", "ac3", "eac3", "dts", "truehd", "mlp", "caf", "au", "voc", "amr", "gsm", "wsaud",
     "shn", "mp2", "asf_o", "rso", "sox", "xwma", "oma"}
)  # fmt: skip
# Demuxers of production wrappers (MXF, GXF), which carry essence and never cover art: a
# picture codec inside one is the film (JPEG 2000 from cinema and broadcast cameras), even
# where libav states neither a frame count nor an average rate (MXF states its edit rate).
VIDEO_ONLY_CONTAINERS = frozenset({"mxf", "gxf"})
_UNSPECIFIED_LAYOUT = re.compile(r"^\d+ channels?$")
# libav's description of a custom-order layout: the channels in the file's own order, e.g.
# "8 channels (FL+FR+FC+LFE+SL+SR+BL+BR)" for a MOV or CAF 7.1 (libav 5 called it 7.1).
CUSTOM_ORDER_LAYOUT = re.compile(r"^(\d+) channels \((.+)\)$")
# libav's named layouts by their channels (libavutil/channel_layout.c): a custom order of
# one of these sets is named as the set is, whatever the order.
_NAMED_LAYOUTS: dict[frozenset[str], str] = {
    frozenset(channels.split("+")): name
    for name, channels in {
        "mono": "FC", "stereo": "FL+FR", "2.1": "FL+FR+LFE", "3.0": "FL+FR+FC",
        "3.0(back)": "FL+FR+BC", "4.0": "FL+FR+FC+BC", "quad": "FL+FR+BL+BR",
        "quad(side)": "FL+FR+SL+SR", "3.1": "FL+FR+FC+LFE", "5.0": "FL+FR+FC+BL+BR",
        "5.0(side)": "FL+FR+FC+SL+SR", "4.1": "FL+FR+FC+LFE+BC", "5.1": "FL+FR+FC+LFE+BL+BR",
        "5.1(side)": "FL+FR+FC+LFE+SL+SR", "6.0": "FL+FR+FC+BC+SL+SR",
        "6.0(front)": "FL+FR+FLC+FRC+SL+SR", "3.1.2": "FL+FR+FC+LFE+TFL+TFR",
        "hexagonal": "FL+FR+FC+BL+BR+BC", "6.1": "FL+FR+FC+LFE+BC+SL+SR",
        "6.1(back)": "FL+FR+FC+LFE+BL+BR+BC", "6.1(front)": "FL+FR+LFE+FLC+FRC+SL+SR",
        "7.0": "FL+FR+FC+BL+BR+SL+SR", "7.0(front)": "FL+FR+FC+FLC+FRC+SL+SR",
        "7.1": "FL+FR+FC+LFE+BL+BR+SL+SR", "7.1(wide)": "FL+FR+FC+LFE+BL+BR+FLC+FRC",
        "7.1(wide-side)": "FL+FR+FC+LFE+FLC+FRC+SL+SR", "5.1.2": "FL+FR+FC+LFE+SL+SR+TFL+TFR",
        "5.1.4": "FL+FR+FC+LFE+SL+SR+TFL+TFR+TBL+TBR",
        "7.1.2": "FL+FR+FC+LFE+BL+BR+SL+SR+TFL+TFR",
        "7.1.4": "FL+FR+FC+LFE+BL+BR+SL+SR+TFL+TFR+TBL+TBR",
        "octagonal": "FL+FR+FC+BL+BR+BC+SL+SR", "cube": "FL+FR+BL+BR+TFL+TFR+TBL+TBR",
        "binaural": "BIL+BIR", "downmix": "DL+DR",
    }.items()
}  # fmt: skip
# At or above this a "frame rate" is a time base: Matroska's 1 ms gives 1000 to a stream
# with no stated frame duration whose timestamps libav did not measure.
MAX_FPS = 1000.0
# How far apart two frame durations may be and still describe one rate: Matroska rounds
# timestamps to whole milliseconds and a fragmented MP4's averaged durations carry the last
# fragment's remainder, so the average of a 23.976 fps film reads 24.417 (40.96 ms a frame
# against 41.71) while the stream's nominal rate is exact.
TIMESTAMP_JITTER_S = 0.001
# Beyond these no real recording goes, while a corrupt or crafted header claims anything
# libav accepts (a WAV header may state 200 channels, 10 MHz or 1 Hz; libav reads it as
# stated): 22.2 surround has 24 channels, 7th-order ambisonics 64; telephone speech is
# sampled at 8 kHz, old game sound at 4 kHz; PCM tops out at 768 kHz, DSD1024 at 49.152 MHz
# (the DSD rates counted as a listener means them, see depth.native_sample_rate).
MAX_CHANNELS = 64
MIN_SAMPLE_RATE = 1_000
MAX_PCM_SAMPLE_RATE = 768_000
MAX_DSD_SAMPLE_RATE = 49_152_000
INTERLACED = frozenset({"tt", "bb", "tb", "bt"})
# A frame rate at or above this on an interlaced stream is the field rate (50 for 25i).
FIELD_RATE_MIN = 47.0
# Containers whose stated bitrate is an estimate (PCR sampling in MPEG-TS), not a measurement.
ESTIMATED_BITRATE_CONTAINERS = frozenset({"mpegts", "mpegtsraw"})
# ISO/IEC 11172-2: a sequence header's bit_rate of 0x3FFFF (units of 400 bit/s) means
# "variable", not 104.9 Mbit/s; ffmpeg writes it for every MPEG-1/2 encode without a maximum
# rate. libav reports it as a rate, and times a raw stream (.m1v) by it (0.06 s for 5 s).
VARIABLE_BITRATE_MARK = 0x3FFFF * 400
MPEG_VIDEO_CODECS = frozenset({"mpeg1video", "mpeg2video"})
RAW_MPEG_VIDEO = "mpegvideo"
# libav's demuxers of bare video elementary streams (no container around the codec's own
# headers): their "average rate" is an option's default, not a measurement.
RAW_VIDEO_DEMUXERS = frozenset({RAW_MPEG_VIDEO, "h261", "h263", "h264", "hevc", "vvc", "m4v",
                                "cavsvideo", "avs2", "avs3", "vc1", "dirac"})  # fmt: skip


def frame_rate(*candidates: object) -> float | None:
    """Return the first plausible rate among `candidates` ("30000/1001", Fraction, float), 3 dp.

    A rate above MAX_FPS is a time base, not a frame rate (libav 8.1 reports DV's
    avg_frame_rate as 60000), so the next candidate is used.
    """
    for candidate in candidates:
        rate = as_rate(candidate)
        if rate is not None and rate < MAX_FPS:
            return round(rate, 3)
    return None


def video_fps(stream: StreamFacts) -> float | None:
    """Return the frame rate: avg_frame_rate, else r_frame_rate, halved when it is a field rate.

    An average within a millisecond a frame of the nominal rate is the nominal rate measured
    through rounded timestamps (TIMESTAMP_JITTER_S); ffprobe's r_frame_rate says the same.
    """
    average, nominal = frame_rate(stream.avg_frame_rate), frame_rate(stream.r_frame_rate)
    rate = average if average is not None else nominal
    if average and nominal and abs(1 / average - 1 / nominal) <= TIMESTAMP_JITTER_S:
        rate = nominal
    if rate is not None and rate >= FIELD_RATE_MIN and stream.field_order in INTERLACED:
        return round(rate / 2, 3)
    return rate


def is_still(stream: StreamFacts, container: str | None) -> bool:
    """Tell whether a video stream is a picture (cover art), never the file's video.

    A picture codec's stream is a still when it states one frame, sits in an audio
    container, or shows no motion at all: no frame count and no average frame rate, which
    libav measures from the stream's frames when there are several. The last is an MP3's
    cover after a remux into Matroska (`ffmpeg -i song.mp3 -c copy song.mka`), a plain
    track whose only rate is the container's time base ("1000 fps"). In a production wrapper
    (`VIDEO_ONLY_CONTAINERS`) a picture codec's stream is the video.
    """
    codec = stream.codec or ""
    if stream.attached_pic or codec in STILL_IMAGE_CODECS or _image_demuxer(container):
        return True
    if codec in PICTURE_CODECS and (container or "") not in VIDEO_ONLY_CONTAINERS:
        frames = positive_int(stream.frames)
        if frames == 1 or (container or "") in AUDIO_CONTAINERS:
            return True
        return frames is None and frame_rate(stream.avg_frame_rate) is None
    return False


def _image_demuxer(container: str | None) -> bool:
    name = container or ""
    return name == "image2" or name.endswith("_pipe")


def usable_video(stream: StreamFacts) -> bool:
    """Tell whether a video stream has what a stored fact needs: a codec and both dimensions."""
    return bool(
        _known_codec(stream.codec) and positive_int(stream.width) and positive_int(stream.height)
    )


def usable_audio(stream: StreamFacts) -> bool:
    """Tell whether an audio stream has a codec, a sample rate and a channel count, all real."""
    return bool(
        _known_codec(stream.codec)
        and positive_int(stream.sample_rate)
        and positive_int(stream.channels)
        and implausible_audio(stream) is None
    )


def implausible_audio(stream: StreamFacts) -> str | None:
    """Return what no real recording has about this audio stream, or None.

    A stream stating more channels or a higher sample rate than any recording has is read
    from a corrupt or crafted header; storing it would put the header's claim on the shelf
    as a fact (ffprobe reports such a header as stated).
    """
    channels = positive_int(stream.channels) or 0
    if channels > MAX_CHANNELS:
        return f"{channels} channels"
    rate = native_sample_rate(stream.codec, positive_int(stream.sample_rate))
    limit = MAX_DSD_SAMPLE_RATE if (stream.codec or "") in DSD_CODECS else MAX_PCM_SAMPLE_RATE
    if rate is not None and not MIN_SAMPLE_RATE <= rate <= limit:
        return f"a sample rate of {rate} Hz"
    return None


def channel_layout(name: str | None) -> str | None:
    """Return a named channel layout; "unknown" and "2 channels" (unspecified) are None.

    A custom order of a named layout's channels gets that name (libav 8 describes a MOV 7.1
    as "8 channels (FL+FR+FC+LFE+SL+SR+BL+BR)", libav 5 and ffprobe 5 as "7.1").
    """
    if not name or name == "unknown" or _UNSPECIFIED_LAYOUT.match(name):
        return None
    custom = CUSTOM_ORDER_LAYOUT.match(name)
    if custom:
        return _NAMED_LAYOUTS.get(frozenset(custom.group(2).split("+")), name)
    return name


def _known_codec(codec: str | None) -> bool:
    return codec not in (None, "", "none", "unknown")


def choose_video(
    streams: Sequence[StreamFacts], container: str | None = None
) -> StreamFacts | None:
    """Return the main video stream: the default usable one that is not a picture, else the
    largest (as ffmpeg's own choice of best stream prefers the default flag).

    A picture codec's stream (MJPEG) whose container states no more than one frame is video
    only when nothing else is: a cover muxed as a plain track (a Matroska remux turns an
    attached cover into one, without a frame count) must not outrank the film for being
    larger, while a motion-JPEG camera file's main video (many frames) still outranks its
    small preview track.
    """
    candidates = [
        s for s in streams if s.kind == "video" and not is_still(s, container) and usable_video(s)
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda s: (
            (s.codec or "") not in PICTURE_CODECS or (positive_int(s.frames) or 0) > 1,
            s.default,
            (positive_int(s.width) or 0) * (positive_int(s.height) or 0),
        ),
    )


def choose_audio(
    streams: Sequence[StreamFacts], video: StreamFacts | None = None
) -> StreamFacts | None:
    """Return the main audio stream: the default usable one, else the first usable one;
    among those of the main video's programme first, when it has one.

    A capture of a whole DVB multiplex holds several programmes: the film's picture with
    another channel's sound described no programme at all (as ffmpeg's own choice of the
    best audio stream, related to the video, looks in the video's programme first).
    """
    audio = [s for s in streams if s.kind == "audio" and usable_audio(s)]
    if video is not None and video.programs:
        alongside = [s for s in audio if set(s.programs) & set(video.programs)]
        audio = alongside or audio
    if not audio:
        return None
    return next((s for s in audio if s.default), audio[0])


def unusable(streams: Sequence[StreamFacts], container: str | None) -> ProbeError:
    """Return the error for a file without a usable main stream."""
    media = [
        s
        for s in streams
        if s.kind == "audio" or (s.kind == "video" and not is_still(s, container))
    ]
    if not media:
        if _image_demuxer(container):
            return ProbeCorrupt("Not a media file: a still picture.", settled=True)
        return ProbeNoStreams(settled=True)
    if all(not _known_codec(s.codec) for s in media):
        return ProbeUnsupported("Unsupported format: the stream's codec is not recognised.")
    claims = [claim for s in media if s.kind == "audio" and (claim := implausible_audio(s))]
    if claims:
        return ProbeCorrupt(f"Corrupt header: its audio stream states {claims[0]}.", settled=True)
    # Another backend may know a codec this one does not, and read that stream's parameters.
    known = all(_known_codec(s.codec) for s in media)
    return ProbeCorrupt(
        "No usable audio/video stream (no sample rate, channels or size).", settled=known
    )


def overall_bitrate(
    bitrate: object, size_bytes: int | None, seconds: float | None, container: str | None
) -> int | None:
    """Return the container's bitrate, else size * 8 / duration; never 0."""
    measured = int(size_bytes * 8 / seconds) if size_bytes and seconds else None
    if measured is not None and (container or "") in ESTIMATED_BITRATE_CONTAINERS:
        return positive_int(measured)
    return positive_int(bitrate) or positive_int(measured)


def build_result(
    *,
    container: str | None,
    duration: object,
    size_bytes: int | None,
    bitrate: object,
    streams: Sequence[StreamFacts],
    prober: str,
) -> ProbeResult:
    """Apply the shared rules to one file's raw facts; raise when nothing usable is there."""
    video = choose_video(streams, container)
    audio = choose_audio(streams, video)
    if video is None and audio is None:
        raise unusable(streams, container)
    seconds = positive_float(duration)
    size = size_bytes if size_bytes and size_bytes > 0 else None
    if container == RAW_MPEG_VIDEO and video is not None and _variable_mark(video):
        seconds = bitrate = None  # libav's were the size divided by the mark
    return ProbeResult(
        container=container or None,
        duration=round(seconds, 6) if seconds is not None else None,
        size_bytes=size,
        bitrate=overall_bitrate(bitrate, size, seconds, container),
        has_video=video is not None,
        has_audio=audio is not None,
        **(_video_fields(video) if video else {}),
        **(_audio_fields(audio) if audio else {}),
        prober=prober,
    )


def _video_fields(video: StreamFacts) -> dict[str, Any]:
    return {
        "width": positive_int(video.width),
        "height": positive_int(video.height),
        "video_codec": video.codec,
        "video_fps": video_fps(video),
        "video_bitrate": None if _variable_mark(video) else positive_int(video.bitrate),
    }


def _variable_mark(video: StreamFacts) -> bool:
    """Tell whether the stream's bitrate is MPEG video's "variable" mark, not a rate."""
    return video.codec in MPEG_VIDEO_CODECS and positive_int(video.bitrate) == VARIABLE_BITRATE_MARK


def _audio_fields(audio: StreamFacts) -> dict[str, Any]:
    rate = positive_int(audio.sample_rate)
    bitrate = positive_int(audio.bitrate)
    return {
        "audio_codec": audio.codec,
        "audio_bitrate": bitrate,
        "audio_channels": positive_int(audio.channels),
        "audio_channel_layout": channel_layout(audio.channel_layout),
        "audio_sample_rate": native_sample_rate(audio.codec, rate),
        "audio_bit_depth": bit_depth(
            audio.codec,
            raw_bits=audio.bits_per_raw_sample,
            sample_format=audio.sample_format,
            bitrate=bitrate,
            sample_rate=rate,
        ),
    }
