"""How libav is asked to open a file on the fast path: demuxer hint, decoders, probe bounds.

Without a hint libav detects the format by running every demuxer's probe over growing
buffers (up to 1 MiB past an ID3 tag: most of an MP3's probe time). During stream analysis
it decodes frames of every stream, video included, although nearly no stored fact needs a
decoded picture. The fast path names the demuxer the extension implies, lets only audio
decoders run (audio needs one to state its sample format, which the bit depth rule reads),
plus the few video decoders that state a stored fact themselves, and bounds how much is
read; the backend falls back to detection, then to a full analysis, when that is not enough
(see `pyav_backend`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import av

_MOV = "mov,mp4,m4a,3gp,3g2,mj2"
_MKV = "matroska,webm"
# Extension -> demuxer, for the formats a library is made of. A hint is honoured only when the
# file starts with that format's signature (after ID3v2 tags): several demuxers resync past
# anything (Ogg to the next "OggS", MP3 to the next frame sync), so a wrongly named file must
# go to detection, never to the demuxer its name suggests. Other extensions use detection.
DEMUXER_HINTS: dict[str, str] = {
    **dict.fromkeys(("mp4", "m4v", "m4a", "m4b", "m4r", "mov", "qt", "3gp", "3g2", "3ga"), _MOV),
    **dict.fromkeys(("f4v", "alac"), _MOV),
    **dict.fromkeys(("mkv", "mka", "mk3d", "webm"), _MKV),
    **dict.fromkeys(("ogg", "oga", "ogv", "opus", "spx"), "ogg"),
    **dict.fromkeys(("wav", "wave", "bwf", "rf64"), "wav"),
    **dict.fromkeys(("ts", "m2ts", "mts", "m2t"), "mpegts"),
    **dict.fromkeys(("aif", "aiff", "aifc"), "aiff"),
    **dict.fromkeys(("wma", "wmv", "asf"), "asf"),
    **dict.fromkeys(("avi", "divx"), "avi"),
    "mp3": "mp3", "flac": "flac", "caf": "caf", "wv": "wv", "tta": "tta", "ape": "ape",
    "dsf": "dsf", "w64": "w64", "flv": "flv", "dv": "dv", "dif": "dv",
}  # fmt: skip
_MOV_ATOMS = frozenset(
    {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"pdin", b"junk"}
)
_TS_PACKET, _M2TS_PACKET = 188, 192
SIGNATURE_BYTES = 2 * _M2TS_PACKET + 8  # what `has_signature` needs to see


def demuxer_hint(extension: str) -> str | None:
    """Return the demuxer the extension names, or None to let libav detect the format."""
    return DEMUXER_HINTS.get(extension.lower().lstrip("."))


def has_signature(demuxer: str, head: bytes) -> bool:
    """Tell whether `head` (the file's first bytes after ID3v2 tags) is `demuxer`'s format."""
    check = _SIGNATURES.get(demuxer)
    return check is not None and check(head)


def is_mpeg_audio_sync(head: bytes) -> bool:
    """Tell whether `head` starts with a valid MPEG audio frame header (layer I-III)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _riff(kind: bytes) -> Callable[[bytes], bool]:
    return lambda h: h[:4] in (b"RIFF", b"RF64", b"BW64") and h[8:12] == kind


def _is_ts(h: bytes) -> bool:
    return all(h[i : i + 1] == b"G" for i in (0, _TS_PACKET, 2 * _TS_PACKET)) or all(
        h[i : i + 1] == b"G" for i in (4, 4 + _M2TS_PACKET, 4 + 2 * _M2TS_PACKET)
    )


_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    _MOV: lambda h: h[4:8] in _MOV_ATOMS,
    _MKV: lambda h: h[:4] == b"\x1a\x45\xdf\xa3",
    "ogg": lambda h: h[:4] == b"OggS",
    "wav": _riff(b"WAVE"),
    "avi": _riff(b"AVI "),
    "mpegts": _is_ts,
    "aiff": lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"),
    "asf": lambda h: h[:8] == bytes.fromhex("3026b2758e66cf11"),
    "mp3": is_mpeg_audio_sync,
    "flac": lambda h: h[:4] == b"fLaC",
    "caf": lambda h: h[:4] == b"caff",
    "wv": lambda h: h[:4] == b"wvpk",
    "tta": lambda h: h[:4] == b"TTA1",
    "ape": lambda h: h[:4] == b"MAC ",
    "dsf": lambda h: h[:4] == b"DSD ",
    "w64": lambda h: h[:4] == b"riff" and h[24:28] == b"wave",
    "flv": lambda h: h[:3] == b"FLV",
    # a DIF sequence's header block (section 0, the first sequence, DSF bit aside), as libav's
    # probe looks for it
    "dv": lambda h: h[:3] == b"\x1f\x07\x00" and h[3:4] in (b"\x3f", b"\xbf"),
}
assert set(DEMUXER_HINTS.values()) <= set(_SIGNATURES)

# The AVIO buffer: libav reads at least this much per request. Small, because most requests
# are headers of a few bytes.
BUFFER_SIZE = 8192
# Per demuxer: how many packets analysis may read while waiting for a first timestamp
# (libav: 50). Without a video decoder, a Matroska stream with B-frames gets no decode
# timestamps, so libav would read 50 frames; FLAC's parser looks 10 frames ahead; WAV
# packets carry none (50 packets: 864 KB of PCM). That timestamp feeds no stored fact of
# these formats, whose durations come from their headers. WAV's analysis also costs CPU in
# proportion to what it reads (~0.05 ms per KB: 26 ms per file at libav's default bound,
# more than all other formats' probing together in a typical library); every fact of a WAV
# file is in its header, and 32 KB still hold frames of a compressed payload (MP3, ADPCM)
# to decode; what is still missing sends the file to the full analysis. AIFF is the same
# (its COMM chunk states every fact; 200 KB of PCM were read, 25 KB now).
ANALYSIS_OPTIONS: dict[str, dict[str, str]] = {
    _MKV: {"max_ts_probe": "1"},
    "flac": {"max_ts_probe": "0"},
    "wav": {"max_ts_probe": "1", "probesize": "32768"},
    "w64": {"max_ts_probe": "1", "probesize": "32768"},  # Sony Wave64: WAV with 64-bit sizes
    "dv": {"probesize": "300000"},  # two PAL frames (144,000 bytes each); libav read 4.6 MB
    "aiff": {"max_ts_probe": "1", "probesize": "32768"},
}


# Video decoders the fast analysis runs: an MPEG-1/2 stream's bitrate is stated by its
# sequence header, which only the decoder reads (no container states it). Without them every
# DVD, broadcast or camcorder file needed a second, full analysis; with them the one analysis
# states what the full one would (~1-4 ms, the decoder stops after a frame or two). DV's
# decoder likewise states the DIF stream's rate, where an AVI header states another; and only
# H.263's, Sorenson's (FLV1) and MPEG-4 Part 2's decoders read the picture size (3GP, old
# FLV; DivX/Xvid or camera MPEG-4 in MP4/MOV, whose size libav otherwise leaves unset until
# the analysis gives up after 5 s of frames: 2.3 MB and a second, full pass; now ~70 KB).
FACT_STATING_VIDEO_DECODERS = frozenset(
    {"mpeg1video", "mpeg2video", "dvvideo", "flv", "h263", "mpeg4"}
)


@functools.cache
def analysis_decoders() -> str:
    """Return the decoders the fast analysis may run, comma-separated (its codec whitelist)."""
    names: set[str] = set()
    for name in av.codecs_available:
        try:
            codec = av.Codec(name, "r")
        except (ValueError, av.error.FFmpegError):
            continue
        if codec.type == "audio" or codec.name in FACT_STATING_VIDEO_DECODERS:
            names.add(codec.name)
    return ",".join(sorted(names))


def fast_options(demuxer: str | None, skip_initial_bytes: int) -> dict[str, str]:
    """Return the container options of a fast open with `demuxer` (None: detection)."""
    options = {"codec_whitelist": analysis_decoders(), **ANALYSIS_OPTIONS.get(demuxer or "", {})}
    if skip_initial_bytes:
        options["skip_initial_bytes"] = str(skip_initial_bytes)
    return options
