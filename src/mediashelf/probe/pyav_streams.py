"""Read an open PyAV container into the raw facts the shared normaliser takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av

from mediashelf.probe.normalize import CUSTOM_ORDER_LAYOUT, RAW_VIDEO_DEMUXERS, build_result
from mediashelf.probe.pyav_dump import DumpedStream, dumped_streams
from mediashelf.probe.result import ProbeResult, StreamFacts

_ATTACHED_PIC = int(av.stream.Disposition.attached_pic)
_DEFAULT = int(av.stream.Disposition.default)
# AVFieldOrder values, named as ffprobe names them.
_FIELD_ORDER = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}


@dataclass(frozen=True)
class RawFacts:
    """One opened file as libav describes it, before any rule is applied."""

    container: str | None
    duration: float | None
    bitrate: object
    streams: tuple[StreamFacts, ...]

    def result(self, size: int, prober: str) -> ProbeResult:
        """Apply the shared rules (raises the ProbeError of a file without a usable stream)."""
        return build_result(
            container=self.container,
            duration=self.duration,
            size_bytes=size,
            bitrate=self.bitrate,
            streams=self.streams,
            prober=prober,
        )


def read_container(container: Any, demuxer: str | None = None) -> RawFacts:
    """Return the facts of an open input container (`demuxer`: the name it was opened with).

    PyAV names a container opened with an explicit format by that argument, so the caller
    passes the demuxer's full name ("mov,mp4,m4a,3gp,3g2,mj2"), which is what detection
    would have reported.
    """
    streams = list(container.streams)
    dumped = dumped_streams(container) if any(map(_needs_dump, streams)) else {}
    name = demuxer or container.format.name
    raw = name in RAW_VIDEO_DEMUXERS
    return RawFacts(
        container=name,
        duration=container.duration / 1_000_000 if container.duration else None,
        bitrate=container.bit_rate,
        streams=tuple(_stream_facts(s, dumped.get(s.index), raw) for s in streams),
    )


def _needs_dump(stream: Any) -> bool:
    """Tell whether PyAV lacks facts of `stream` that libav's dump has.

    Every audio stream's: its layout is asked of PyAV only once the dump says it is not a
    custom order (`_audio`).
    """
    return stream.type == "audio" or (stream.type == "video" and stream.codec_context is None)


def _stream_facts(stream: Any, dumped: DumpedStream | None, raw: bool) -> StreamFacts:
    disposition = int(stream.disposition)
    ctx = stream.codec_context
    dump = dumped or DumpedStream()
    common: dict[str, Any] = {
        "kind": stream.type,
        "codec": ctx.codec.canonical_name if ctx is not None else dump.codec,
        "bitrate": ctx.bit_rate if ctx is not None else None,
        "frames": stream.frames,
        "attached_pic": bool(disposition & _ATTACHED_PIC),
        "default": bool(disposition & _DEFAULT),
        "programs": dump.programs,
    }
    if stream.type == "video":
        return StreamFacts(**common, **_video(stream, ctx, dump, raw))
    if stream.type == "audio":
        return StreamFacts(**common, **_audio(ctx, dump))
    return StreamFacts(**common)


def _video(stream: Any, ctx: Any, dump: DumpedStream, raw: bool) -> dict[str, Any]:
    """Return a video stream's facts; `raw`: read by an elementary-stream demuxer.

    libav 8 gives a raw stream (.m2v, .h264) the demuxer's `framerate` option (25) as its
    average rate, whatever the stream's headers state; the codec's rate is the stream's own
    (what ffprobe 5 reported as the average), so it is taken there.
    """
    stated = ctx.framerate if raw and ctx is not None and ctx.framerate else None
    return {
        "width": ctx.width if ctx is not None else dump.width,
        "height": ctx.height if ctx is not None else dump.height,
        "avg_frame_rate": stated or stream.average_rate,
        # libav's guess of the nominal rate (what ffprobe reports as r_frame_rate): without
        # decoding, base_rate is often the field rate (48000/1001 for a 23.976 fps film).
        "r_frame_rate": stream.guessed_rate or stream.base_rate,
        "field_order": _FIELD_ORDER.get(int(ctx.field_order)) if ctx is not None else None,
    }


def _audio(ctx: Any, dump: DumpedStream) -> dict[str, Any]:
    """Return an audio stream's facts: the decoder context's, else the dump's.

    Never a custom-order layout's through PyAV (a MOV or CAF 6.1 or 7.1 whose channels are
    not in libav's order): PyAV 18.1's `layout` and `channels` copy libav's layout without
    its channel map and free the map with the copy, so the context frees it again and the
    process aborts ("double free or corruption"). Such a file killed its pool process: it
    failed as `crashed` and no other backend was asked. The dump describes it from C.
    """
    facts: dict[str, Any] = {
        "channels": dump.channels,
        "channel_layout": dump.channel_layout,
        "sample_rate": dump.sample_rate,
        "sample_format": dump.sample_format,
        "bits_per_raw_sample": dump.bits_per_raw_sample,
    }
    if ctx is None:
        return facts
    facts["sample_rate"] = ctx.sample_rate
    if ctx.format is not None:
        facts["sample_format"] = ctx.format.name
    if not CUSTOM_ORDER_LAYOUT.match(dump.channel_layout or ""):
        layout = ctx.layout
        facts["channels"] = layout.nb_channels
        facts["channel_layout"] = layout.name
    return facts
