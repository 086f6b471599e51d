"""Bit depth and sample rate by codec: one rule for every backend (DESIGN §3).

Bit depth is what the file stores per sample: bits_per_raw_sample when the container or the
decoder states it, else the codec's coded bits (PCM, A-law, ADPCM), else the sample format of
a lossless codec. DSD stores 1 bit at its native rate, which libav reports divided by 8 (the
byte rate). Lossy codecs have no bit depth: their decoders' sample formats say nothing about
the source.
"""

from __future__ import annotations

import re

from mediashelf.probe.numbers import positive_int

DSD_CODECS = frozenset({"dsd_lsbf", "dsd_msbf", "dsd_lsbf_planar", "dsd_msbf_planar", "dst"})
# Lossless codecs, and PCM whose width its header states rather than its name (DVD-Video and
# Blu-ray LPCM: 16, 20 or 24 bits): the stated bits, else the decoder's sample format.
LOSSLESS_CODECS = frozenset(
    {"flac", "alac", "ape", "wavpack", "tta", "tak", "mlp", "truehd", "wmalossless", "mp4als",
     "shorten", "ralf", "s302m", "sonic", "osq", "apac", "smackaudio", "pcm_dvd", "pcm_bluray"}
)  # fmt: skip
# Coded bits per sample of the non-PCM codecs that have one (libav's av_get_bits_per_sample).
CODED_BITS = {
    "pcm_alaw": 8, "pcm_mulaw": 8, "pcm_vidc": 8, "pcm_sga": 8, "dfpwm": 1,
    "adpcm_sbpro_2": 2, "adpcm_sbpro_3": 3, "sdx2_dpcm": 8, "cbd2_dpcm": 8, "derf_dpcm": 8,
    "wady_dpcm": 8, "8svx_exp": 4, "8svx_fib": 4,
}  # fmt: skip
ADPCM_DEFAULT_BITS = 4
_PCM_BITS = re.compile(r"^pcm_[suf](\d+)")
_FORMAT_BITS = {"u8": 8, "s16": 16, "s32": 32, "s64": 64, "flt": 32, "dbl": 64}
_G726 = frozenset({"adpcm_g726", "adpcm_g726le"})


def bit_depth(
    codec: str | None,
    *,
    raw_bits: object = None,
    sample_format: str | None = None,
    bitrate: int | None = None,
    sample_rate: int | None = None,
) -> int | None:
    """Return the stored bits per sample of an audio stream, or None for lossy codecs."""
    name = codec or ""
    if name in DSD_CODECS:
        return 1
    coded = coded_bits(name, bitrate, sample_rate)
    lossless = name in LOSSLESS_CODECS
    if coded is None and not lossless:
        return None
    raw = positive_int(raw_bits)
    if raw is not None:
        return raw
    if coded is not None:
        return coded
    return _FORMAT_BITS.get((sample_format or "").removesuffix("p"))


def coded_bits(
    codec: str, bitrate: int | None = None, sample_rate: int | None = None
) -> int | None:
    """Return the coded bits per sample of PCM, A-law/µ-law, DPCM and ADPCM codecs."""
    pcm = _PCM_BITS.match(codec)
    if pcm:
        return int(pcm.group(1))
    if codec in CODED_BITS:
        return CODED_BITS[codec]
    if codec in _G726:
        return round(bitrate / sample_rate) if bitrate and sample_rate else None
    if codec.startswith("adpcm_"):
        return ADPCM_DEFAULT_BITS
    return None


def native_sample_rate(codec: str | None, sample_rate: int | None) -> int | None:
    """Return the sample rate a listener means: DSD's bit rate, not libav's byte rate."""
    if sample_rate is not None and (codec or "") in DSD_CODECS:
        return sample_rate * 8
    return sample_rate
