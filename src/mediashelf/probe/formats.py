"""Which file extensions are media: every audio/video extension the bundled libav demuxes.

One documented list. libav detects most formats by content, so an extension is listed when a
demuxer of PyAV's bundled FFmpeg reads files that carry it in practice. Out on purpose:
playlists (m3u, cue, pls), images (jpg, png, gif, avif, heic), subtitles (srt, ass, vtt, sub),
MIDI and tracker modules (mid, mod: libav needs external libraries for them), text and
OptimFROG (ofr, ofs: no demuxer). ``extensions_extra`` / ``extensions_exclude`` (settings
MEDIASHELF_EXTENSIONS_EXTRA / _EXCLUDE) adjust the list per installation.
"""

from __future__ import annotations

from collections.abc import Iterable

AUDIO_EXTENSIONS = frozenset(
    {
        # MPEG audio, AAC and MP4 audio
        "mp3", "mp2", "mp1", "mpa", "m2a", "aac", "adts", "m4a", "m4b", "m4r", "3ga",
        # Ogg family, FLAC, WAV family, AIFF, Sun/NeXT, Core Audio
        "ogg", "oga", "opus", "spx", "flac", "wav", "wave", "w64", "rf64", "bwf",
        "aif", "aiff", "aifc", "au", "snd", "caf",
        # Lossless: Monkey's Audio, WavPack, TTA, TAK, Shorten, DSD (DSF, DSDIFF), MLP/TrueHD
        "ape", "wv", "tta", "tak", "shn", "dsf", "dff", "mlp", "thd", "truehd",
        # Dolby, DTS, Windows Media, Matroska audio, Musepack, RealAudio, ATRAC
        "ac3", "eac3", "ec3", "dts", "dtshd", "wma", "mka", "mpc", "ra", "oma", "aa3",
        # Speech and legacy: AMR, GSM, Creative VOC, NIST Sphere, IRCAM, QOA, alac
        "amr", "awb", "gsm", "voc", "sph", "nist", "ircam", "qoa", "alac",
    }
)  # fmt: skip
VIDEO_EXTENSIONS = frozenset(
    {
        # MP4 / QuickTime / 3GPP, Matroska / WebM
        "mp4", "m4v", "mov", "qt", "3gp", "3g2", "f4v", "mkv", "mk3d", "webm",
        # AVI / DivX, Windows Media / ASF, Flash
        "avi", "divx", "wmv", "asf", "flv",
        # MPEG program and transport streams, DVD, elementary MPEG video
        "mpg", "mpeg", "m1v", "m2v", "mpv", "vob", "ts", "m2ts", "mts", "m2t", "tod",
        # Ogg video, RealMedia, DV, MXF, NUT, YUV4MPEG, IVF, Bink-free oddities libav reads well
        "ogv", "rm", "rmvb", "dv", "mxf", "nut", "y4m", "ivf", "wtv", "amv",
    }
)  # fmt: skip
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS


def normalize_extension(ext: str) -> str:
    """Return `ext` lower-case without a leading dot ("." and blanks become "")."""
    return ext.strip().lstrip(".").lower()


def media_extensions(extra: Iterable[str] = (), exclude: Iterable[str] = ()) -> frozenset[str]:
    """Return the media extensions: the default list plus `extra`, minus `exclude`."""
    added = {normalize_extension(e) for e in extra} - {""}
    removed = {normalize_extension(e) for e in exclude}
    return frozenset((MEDIA_EXTENSIONS | added) - removed)
