"""Codec parameters PyAV does not expose, read from libav's own stream dump.

PyAV wraps a stream's codec parameters only through a decoder context: a codec without a
decoder has no context (no sample rate, no channels), and no context exposes an audio
stream's bits_per_raw_sample. libav's av_dump_format prints both from the demuxer's
AVCodecParameters, so one dump per file fills those gaps without opening a decoder. It also
describes every audio stream's channel layout from C: PyAV 18.1 cannot be asked for a
custom-order one (see `pyav_streams`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import av
import av.logging

from mediashelf.probe.normalize import CUSTOM_ORDER_LAYOUT

_STREAM = re.compile(r"^\s*Stream #\d+:(\d+)\S*: (Audio|Video): (.*)$")
_PROGRAM = re.compile(r"^  (?:Program (\d+)(?: |$)|No Program$)")  # two blanks: not metadata
_RATE = re.compile(r"^(\d+) Hz$")
_SAMPLE_FORMAT = re.compile(r"^((?:u8|s16|s32|s64|flt|dbl)p?)(?: \((\d+) bit\))?$")
_CHANNELS = re.compile(r"^(\d+) channels?$")
_SIZE = re.compile(r"^(\d+)x(\d+)(?:\s|$)")


@dataclass(frozen=True)
class DumpedStream:
    """What the dump says about one stream (None where it says nothing)."""

    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    channel_layout: str | None = None
    sample_format: str | None = None
    bits_per_raw_sample: int | None = None
    width: int | None = None
    height: int | None = None
    programs: tuple[int, ...] = ()


def dumped_streams(container: Any) -> dict[int, DumpedStream]:
    """Return the dump's facts per stream index."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)  # the dump is captured only while libav logs
    try:
        text = container.dumps_format()
    finally:
        av.logging.set_level(previous)
    found: dict[int, DumpedStream] = {}
    programs: dict[int, list[int]] = {}
    program: int | None = None  # the programme whose streams are listed (None: no programme)
    for line in str(text).splitlines():
        heading = _PROGRAM.match(line)
        if heading:
            program = int(heading.group(1)) if heading.group(1) else None
            continue
        match = _STREAM.match(line)
        if match:
            index, kind, rest = int(match.group(1)), match.group(2), match.group(3)
            found[index] = _audio(rest) if kind == "Audio" else _video(rest)
            if program is not None:  # a stream of several programmes is listed under each
                programs.setdefault(index, []).append(program)
    return {i: replace(s, programs=tuple(programs.get(i, ()))) for i, s in found.items()}


def split_top_level(text: str) -> list[str]:
    """Split `text` at ", " outside parentheses."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _codec(first: str) -> str | None:
    word = first.split(" ", 1)[0].strip()
    return word or None


def _audio(rest: str) -> DumpedStream:
    parts = split_top_level(rest)
    values: dict[str, Any] = {"codec": _codec(parts[0]) if parts else None}
    for i, part in enumerate(parts[1:], start=1):
        rate = _RATE.match(part)
        if rate:
            values["sample_rate"] = int(rate.group(1))
            if i + 1 < len(parts):
                values.update(_layout(parts[i + 1]))
            continue
        fmt = _SAMPLE_FORMAT.match(part)
        if fmt:
            values["sample_format"] = fmt.group(1)
            values["bits_per_raw_sample"] = int(fmt.group(2)) if fmt.group(2) else None
    return DumpedStream(**values)


def _layout(part: str) -> dict[str, Any]:
    plain = _CHANNELS.match(part)
    if plain:
        return {"channels": int(plain.group(1))}
    custom = CUSTOM_ORDER_LAYOUT.match(part)
    if custom:
        return {"channels": int(custom.group(1)), "channel_layout": part}
    try:
        layout = av.AudioLayout(part)
    except (ValueError, av.error.FFmpegError):
        return {}
    return {"channels": layout.nb_channels, "channel_layout": part}


def _video(rest: str) -> DumpedStream:
    parts = split_top_level(rest)
    codec = _codec(parts[0]) if parts else None
    for part in parts[1:]:
        size = _SIZE.match(part)
        if size:
            return DumpedStream(codec=codec, width=int(size.group(1)), height=int(size.group(2)))
    return DumpedStream(codec=codec)
