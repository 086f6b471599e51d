"""Find embedded cover art so libav skips it instead of reading it.

Cover art is 75-95 % of the bytes libav reads from a tagged audio file, and none of the facts
mediashelf stores comes from it (a picture is never the main stream). Three layouts hold
nearly all of it, and each can be skipped by changing what libav is shown, never the file:

- ID3v2 tags at the start (MP3, also AAC/FLAC/WAV with a leading tag): libav's own
  ``skip_initial_bytes`` starts reading after them, exactly where libav continues after
  parsing them itself.
- FLAC PICTURE blocks: the block type byte is shown as PADDING, which the FLAC demuxer skips
  with a seek.
- MP4/M4A ``moov/udta/meta/ilst/covr``: the atom type is shown as ``free``, an item the MOV
  demuxer does not know and skips.

Only headers are read to find them (a few dozen bytes per box or block).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mediashelf.probe.reader import ProbeReader

ID3_HEADER = 10
FLAC_PICTURE = 6
FLAC_PADDING = 1
MAX_BLOCKS = 256  # bounds the walk through hostile files
_MP4_FIRST = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid"})
HIDDEN_ATOM = b"free"


@dataclass(frozen=True)
class Hiding:
    """How to keep libav away from cover art: bytes to skip at the start and byte overlays."""

    skip_initial_bytes: int = 0
    overlays: dict[int, bytes] = field(default_factory=dict)


def find_covers(reader: ProbeReader) -> Hiding:
    """Return how to hide the cover art of the file behind `reader` (nothing when unknown)."""
    start = id3v2_end(reader)
    magic = reader.pread(start, 8)
    if magic[:4] == b"fLaC":
        return Hiding(start, flac_pictures(reader, start + 4))
    if start == 0 and magic[4:8] in _MP4_FIRST:
        return Hiding(0, mp4_covers(reader))
    return Hiding(start)


def id3v2_end(reader: ProbeReader) -> int:
    """Return the offset after the ID3v2 tags at the start (0 without one), as libav finds it."""
    offset = 0
    for _ in range(MAX_BLOCKS):
        header = reader.pread(offset, ID3_HEADER)
        if not _is_id3v2(header):
            break
        size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]
        offset += ID3_HEADER + size + (ID3_HEADER if header[5] & 0x10 else 0)
    return offset if offset <= reader.size else 0


def _is_id3v2(header: bytes) -> bool:
    """Mirror libav's ff_id3v2_match for the "ID3" magic."""
    return (
        len(header) == ID3_HEADER
        and header[:3] == b"ID3"
        and header[3] != 0xFF
        and header[4] != 0xFF
        and not any(b & 0x80 for b in header[6:10])
    )


def flac_pictures(reader: ProbeReader, offset: int) -> dict[int, bytes]:
    """Return overlays that relabel every FLAC PICTURE metadata block as PADDING."""
    overlays: dict[int, bytes] = {}
    for _ in range(MAX_BLOCKS):
        header = reader.pread(offset, 4)
        if len(header) < 4:
            break
        last, kind = header[0] & 0x80, header[0] & 0x7F
        if kind == FLAC_PICTURE:
            overlays[offset] = bytes([last | FLAC_PADDING])
        offset += 4 + int.from_bytes(header[1:4], "big")
        if last or kind == 0x7F or offset >= reader.size:
            break
    return overlays


def mp4_covers(reader: ProbeReader) -> dict[int, bytes]:
    """Return overlays that rename moov/udta/meta/ilst/covr atoms to `free`."""
    moov = _child(reader, 0, reader.size, b"moov")
    udta = _child(reader, *moov, b"udta") if moov else None
    meta = _child(reader, *udta, b"meta") if udta else None
    body = _meta_children(reader, *meta) if meta else None
    ilst = _child(reader, *body, b"ilst") if body else None
    if ilst is None:
        return {}
    return {at - 4: HIDDEN_ATOM for at, _ in _boxes(reader, *ilst) if _kind(reader, at) == b"covr"}


def _boxes(reader: ProbeReader, start: int, end: int) -> list[tuple[int, int]]:
    """Return (offset of the type field + 4 = body offset - header, box end) per box."""
    found: list[tuple[int, int]] = []
    offset = start
    for _ in range(MAX_BLOCKS):
        if offset + 8 > end:
            break
        header = reader.pread(offset, 16)
        if len(header) < 8:
            break
        size, body = int.from_bytes(header[:4], "big"), offset + 8
        if size == 1 and len(header) == 16:
            size, body = int.from_bytes(header[8:16], "big"), offset + 16
        elif size == 0:
            size = end - offset
        if size < body - offset or offset + size > end:
            break
        found.append((offset + 8, offset + size))
        offset += size
    return found


def _kind(reader: ProbeReader, type_end: int) -> bytes:
    return reader.pread(type_end - 4, 4)


def _child(reader: ProbeReader, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """Return (body start, end) of the first child box of `kind` in [start, end)."""
    for type_end, box_end in _boxes(reader, start, end):
        if _kind(reader, type_end) == kind:
            size_field = int.from_bytes(reader.pread(type_end - 8, 4), "big")
            return (type_end + 8 if size_field == 1 else type_end), box_end
    return None


def _meta_children(reader: ProbeReader, start: int, end: int) -> tuple[int, int] | None:
    """Return where `meta`'s children start: before its `hdlr`, as libav's mov_read_meta finds."""
    offset = start
    while offset + 4 <= min(end, start + 64):
        if reader.pread(offset, 4) == b"hdlr":
            return offset - 4, end
        offset += 4
    return None
