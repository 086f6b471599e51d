"""Real-world truth check: mediashelf's probe chain against ffprobe on a folder of real files.

Every file under the folder is probed twice: by mediashelf's default chain (what a scan would
store) and by ``ffprobe -show_format -show_streams``, whose JSON this script reads by its own
short rendering of DESIGN §3 (main streams, usable-stream rule, frame rate, bit depth, DSD,
bitrate fallback). That reading is written here independently of ``probe/normalize.py`` on
purpose: a bug in the shared normaliser shows up as a disagreement instead of being copied.

A file agrees when both say "error" or both say "ok" with every compared field equal
(duration ±3 % or two MP3 frames, bitrates ±5 %, everything else exact). Junk stored ok is a
file ffprobe cannot read as media but mediashelf stores as ``ok``. Exit status 1 when the
agreement is below 98 % or any junk is stored ok.

    .venv/bin/python bench/realworld.py /work/realworld/files [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from mediashelf.config import Settings
from mediashelf.errors import ProbeError
from mediashelf.probe.chain import build_chain
from mediashelf.probe.result import ProbeResult

EXACT = (
    "width", "height", "video_codec", "video_fps", "audio_codec",
    "audio_channels", "audio_sample_rate", "audio_bit_depth",
)  # fmt: skip
MIN_AGREEMENT = 0.98
IMAGES = {"png", "bmp", "gif", "tiff", "webp", "jpegls", "jpeg2000", "ljpeg", "qoi"}
PICTURES = {"mjpeg", "mjpegb", "apng"}
AUDIO_FORMATS = {"mp3", "flac", "wav", "aiff", "ape", "wv", "tak", "tta", "dsf", "iff", "mpc"}
LOSSLESS = {"flac", "alac", "ape", "wavpack", "tta", "tak", "mlp", "truehd", "wmalossless"}
DSD = {"dsd_lsbf", "dsd_msbf", "dsd_lsbf_planar", "dsd_msbf_planar", "dst"}
FORMAT_BITS = {"u8": 8, "s16": 16, "s32": 32, "s64": 64, "flt": 32, "dbl": 64}


@dataclass
class Report:
    """Counters and the disagreements found."""

    files: int = 0
    agree: int = 0
    junk_ok: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    fields: Counter[str] = field(default_factory=Counter)


def number(value: Any) -> float | None:
    """Return a positive number from ffprobe's JSON value, else None."""
    try:
        if isinstance(value, str) and "/" in value:
            num, den = value.split("/")
            result = float(Fraction(int(num), int(den))) if int(den) else 0.0
        else:
            result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result > 0 else None


def ffprobe_json(path: Path) -> dict[str, Any] | None:
    """Return ffprobe's JSON for `path`, or None when ffprobe fails."""
    command = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    try:
        done = subprocess.run([*command, str(path)], capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(done.stdout or b"{}")
    return data


def is_picture(stream: dict[str, Any], container: str) -> bool:
    """Tell whether a video stream is cover art or a still image."""
    codec = stream.get("codec_name") or ""
    if (stream.get("disposition") or {}).get("attached_pic") or codec in IMAGES:
        return True
    if container == "image2" or container.endswith("_pipe"):
        return True
    one_frame = stream.get("nb_frames") == "1"
    return codec in PICTURES and (one_frame or container in AUDIO_FORMATS)


def reference(data: dict[str, Any], size: int) -> dict[str, Any] | None:
    """Return the facts DESIGN §3 derives from ffprobe's JSON, or None for "error"."""
    fmt = data.get("format") or {}
    container = fmt.get("format_name") or ""
    streams = data.get("streams") or []
    videos = [
        s for s in streams
        if s.get("codec_type") == "video" and not is_picture(s, container)
        and number(s.get("width")) and number(s.get("height"))
    ]  # fmt: skip
    audios = [
        s for s in streams
        if s.get("codec_type") == "audio" and s.get("codec_name") not in (None, "none", "unknown")
        and number(s.get("sample_rate")) and number(s.get("channels"))
    ]  # fmt: skip
    if not videos and not audios:
        return None
    facts: dict[str, Any] = {"duration": number(fmt.get("duration"))}
    facts["bitrate"] = reference_bitrate(fmt, size, facts["duration"], container)
    if videos:
        video = max(videos, key=lambda s: int(s["width"]) * int(s["height"]))
        facts.update(reference_video(video))
    if audios:
        audio = next((s for s in audios if (s.get("disposition") or {}).get("default")), audios[0])
        facts.update(reference_audio(audio))
    return facts


def reference_bitrate(
    fmt: dict[str, Any], size: int, duration: float | None, container: str
) -> float | None:
    """Return the overall bitrate: the container's (not an MPEG-TS estimate), else size/time."""
    measured = size * 8 / duration if duration else None
    if container == "mpegts" and measured:
        return measured
    return number(fmt.get("bit_rate")) or measured


def reference_video(video: dict[str, Any]) -> dict[str, Any]:
    """Return the video facts of the main video stream."""
    rate = number(video.get("avg_frame_rate")) or number(video.get("r_frame_rate"))
    if rate and rate >= 47 and video.get("field_order") in ("tt", "bb", "tb", "bt"):
        rate /= 2
    return {
        "width": int(video["width"]),
        "height": int(video["height"]),
        "video_codec": video.get("codec_name"),
        "video_fps": round(rate, 3) if rate else None,
    }


def reference_audio(audio: dict[str, Any]) -> dict[str, Any]:
    """Return the audio facts of the main audio stream."""
    codec = audio.get("codec_name") or ""
    rate = int(audio["sample_rate"])
    return {
        "audio_codec": codec,
        "audio_channels": int(audio["channels"]),
        "audio_sample_rate": rate * 8 if codec in DSD else rate,
        "audio_bit_depth": reference_depth(audio, codec),
    }


def reference_depth(audio: dict[str, Any], codec: str) -> int | None:
    """Return the bit depth by §3: raw bits, coded bits (PCM, ADPCM), lossless sample format."""
    if codec in DSD:
        return 1
    coded = number(audio.get("bits_per_sample"))
    pcm_like = codec.startswith(("pcm_", "adpcm_")) or codec.endswith("_dpcm")
    if not pcm_like and codec not in LOSSLESS:
        return None
    raw = number(audio.get("bits_per_raw_sample"))
    if raw:
        return int(raw)
    if coded:
        return int(coded)
    sample_format = re.sub(r"p$", "", audio.get("sample_fmt") or "")
    return FORMAT_BITS.get(sample_format)


def compare(
    path: Path, stored: ProbeResult | ProbeError, expected: dict[str, Any] | None
) -> list[str]:
    """Return the disagreements between what mediashelf stores and the reference."""
    if expected is None:
        return [] if isinstance(stored, ProbeError) else ["ok, but ffprobe finds no usable stream"]
    if isinstance(stored, ProbeError):
        return [f"{stored.error_class}: {stored.message}, but ffprobe reads it"]
    problems = [
        f"{name}: stored {getattr(stored, name)!r}, ffprobe {expected.get(name)!r}"
        for name in EXACT
        if getattr(stored, name) != expected.get(name)
    ]
    if not durations_agree(stored, expected.get("duration")):
        problems.append(f"duration: stored {stored.duration!r}, ffprobe {expected['duration']!r}")
    if not within(stored.bitrate, expected.get("bitrate"), 0.05):
        problems.append(f"bitrate: stored {stored.bitrate!r}, ffprobe {expected['bitrate']!r}")
    return problems


def within(a: float | None, b: float | None, tolerance: float) -> bool:
    """Tell whether two optional numbers agree within a relative tolerance."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


def durations_agree(stored: ProbeResult, expected: float | None) -> bool:
    """Apply the duration tolerance: ±3 %, or two MP3 frames for MP3 (encoder delay)."""
    if within(stored.duration, expected, 0.03):
        return True
    if stored.audio_codec == "mp3" and stored.duration is not None and expected is not None:
        return abs(stored.duration - expected) <= 2 * 1152 / (stored.audio_sample_rate or 44100)
    return False


def run(folder: Path) -> Report:
    """Probe every file under `folder` both ways and compare."""
    chain = build_chain(Settings(probers=("pyav", "ffprobe")))
    report = Report()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        report.files += 1
        stored: ProbeResult | ProbeError
        try:
            stored = chain.probe(path)
        except ProbeError as exc:
            stored = exc
        data = ffprobe_json(path)
        expected = reference(data, path.stat().st_size) if data is not None else None
        problems = compare(path, stored, expected)
        if not problems:
            report.agree += 1
            continue
        if expected is None:
            report.junk_ok.append(str(path.relative_to(folder)))
        report.fields.update(p.split(":", 1)[0] for p in problems)
        report.differences.append(f"{path.relative_to(folder)}: " + "; ".join(problems))
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the figures; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = run(args.folder)
    share = report.agree / report.files if report.files else 1.0
    if args.json:
        print(json.dumps({**report.__dict__, "agreement": share}, indent=2))
    else:
        for line in report.differences:
            print(line)
        print(f"\nfiles: {report.files}  agree: {report.agree} ({share:.1%})")
        print(f"disagreeing fields: {dict(report.fields.most_common())}")
        print(f"junk stored ok: {len(report.junk_ok)}")
    return 0 if share >= MIN_AGREEMENT and not report.junk_ok else 1


if __name__ == "__main__":
    sys.exit(main())
