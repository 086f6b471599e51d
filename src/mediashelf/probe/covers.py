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
- ID3 chunks of AIFF and WAV files (where taggers put the cover, often after the audio
  data): the chunk ID is shown as ``JUNK``, which both demuxers skip by its size. Only a
  chunk that holds exactly one whole tag is hidden: libav's AIFF demuxer continues after the
  larger of chunk and tag, so a chunk smaller than its tag would move what follows.
- Matroska ``Attachments`` (a cover, and the fonts of styled subtitles: often megabytes,
  read whole when the header is parsed, and a cover without an image decoder keeps stream
  analysis reading up to its 5 MB bound): the element's ID is shown as one the Matroska
  demuxer does not know, so it skips the element by its size. Found where the Segment's
  first elements or its SeekHead say it is (it may follow the clusters).

Only headers are read to find them (a few dozen bytes per box or block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mediashelf.probe import ebml
from mediashelf.probe.blocks import MAX_BLOCKS, flac_blocks, riff_chunks
from mediashelf.probe.reader import ProbeReader

ID3_HEADER = 10
FLAC_PICTURE = 6
FLAC_PADDING = 1
_MP4_FIRST = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid"})
HIDDEN_ATOM = b"free"
MKV_SEEK, MKV_SEEK_ID, MKV_SEEK_POSITION = 0x4DBB, 0x53AB, 0x53AC
MKV_ATTACHMENTS = bytes.fromhex("1941a469")
MKV_ATTACHMENTS_ID = int.from_bytes(MKV_ATTACHMENTS, "big")
MKV_ATTACHED_FILE_ID = 0x61A7
HIDDEN_ELEMENT = bytes.fromhex("1941a46a")  # a valid 4-byte EBML ID that Matroska does not define
RIFF_ID3 = frozenset({b"id3 ", b"ID3 "})
HIDDEN_CHUNK = b"JUNK"
RF64_SIZE = 0xFFFFFFFF  # an RF64/BW64 chunk whose real size is in the ds64 chunk
AUDIO_CHUNKS = frozenset({b"data", b"SSND"})  # a size of 0 there means "to the end"
MAX_SEEKHEAD = 4096  # bytes of a SeekHead read at once (a few dozen entries)
MAX_SEEKHEADS = 4  # SeekHeads parsed, and Attachments positions kept (hostile files)
MAX_ATTACHMENTS = 8


@dataclass(frozen=True)
class Hiding:
    """How to keep libav away from cover art: bytes to skip at the start and byte overlays."""

    skip_initial_bytes: int = 0
    overlays: dict[int, bytes] = field(default_factory=dict)


def find_covers(reader: ProbeReader) -> Hiding:
    """Return how to hide the cover art of the file behind `reader` (nothing when unknown)."""
    start = id3v2_end(reader)
    magic = reader.pread(start, 12)
    if magic[:4] == b"fLaC":
        return Hiding(start, flac_pictures(reader, start + 4))
    if start == 0 and magic[4:8] in _MP4_FIRST:
        return Hiding(0, mp4_covers(reader))
    if start == 0 and magic[:4] == ebml.MAGIC:
        return Hiding(0, matroska_attachments(reader))
    if magic[:4] == b"FORM" and magic[8:12] in (b"AIFF", b"AIFC"):
        return Hiding(start, riff_id3_chunks(reader, start + 12, "big"))
    if magic[:4] in (b"RIFF", b"RF64", b"BW64") and magic[8:12] == b"WAVE":
        return Hiding(start, riff_id3_chunks(reader, start + 12, "little"))
    return Hiding(start)


def id3v2_end(reader: ProbeReader) -> int:
    """Return the offset after the ID3v2 tags at the start (0 without one), as libav finds it."""
    offset = 0
    for _ in range(MAX_BLOCKS):
        header = reader.pread(offset, ID3_HEADER)
        if not _is_id3v2(header):
            break
        offset += _id3v2_length(header)
    return offset if offset <= reader.size else 0


def id3v2_tag_length(header: bytes) -> int | None:
    """Return the bytes of the ID3v2 tag whose first 10 bytes are `header`, or None."""
    return _id3v2_length(header) if _is_id3v2(header) else None


def _id3v2_length(header: bytes) -> int:
    """Return the bytes an ID3v2 tag takes with its header and footer (`header`: its first 10)."""
    size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]
    return ID3_HEADER + size + (ID3_HEADER if header[5] & 0x10 else 0)


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
    return {
        block.offset: bytes([0x80 * block.last | FLAC_PADDING])
        for block in flac_blocks(reader, offset)
        if block.kind == FLAC_PICTURE
    }


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


def riff_id3_chunks(
    reader: ProbeReader, offset: int, order: Literal["big", "little"]
) -> dict[int, bytes]:
    """Return overlays that relabel the ID3 chunks of an AIFF (big-endian) or WAV file JUNK."""
    overlays: dict[int, bytes] = {}
    for chunk in riff_chunks(reader, offset, order):
        size = chunk.size
        if (
            size == RF64_SIZE
            or chunk.body + size > reader.size
            or (size == 0 and chunk.kind in AUDIO_CHUNKS)
        ):
            break  # sizes that are not where the next chunk starts: walk no further
        if chunk.kind in RIFF_ID3 and _whole_tag(reader, chunk.body, size):
            overlays[chunk.offset] = HIDDEN_CHUNK
    return overlays


def _whole_tag(reader: ProbeReader, start: int, size: int) -> bool:
    """Tell whether the `size` bytes at `start` begin with an ID3v2 tag that fits in them."""
    header = reader.pread(start, ID3_HEADER)
    return _is_id3v2(header) and _id3v2_length(header) <= size


def matroska_attachments(reader: ProbeReader) -> dict[int, bytes]:
    """Return overlays that give every Matroska Attachments element an unknown ID."""
    header = _ebml_element(reader, 0)
    if header is None or header[1] is None:
        return {}
    segment = _ebml_element(reader, header[2] + header[1])
    if segment is None or segment[0] != ebml.SEGMENT:
        return {}
    body = segment[2]
    end = reader.size if segment[1] is None else min(reader.size, body + segment[1])
    places: set[int] = set()
    offset, seekheads = body, 0
    for _ in range(MAX_BLOCKS):
        element = _ebml_element(reader, offset)
        if element is None or element[0] == ebml.CLUSTER:
            break
        ident, size, element_body = element
        if ident == MKV_ATTACHMENTS_ID:
            places.add(offset)
        elif ident == ebml.SEEKHEAD and size is not None and seekheads < MAX_SEEKHEADS:
            seekheads += 1
            places.update(body + at for at in _seek_positions(reader, element_body, size))
        if size is None or element_body + size >= end:
            break
        offset = element_body + size
    return {at: HIDDEN_ELEMENT for at in sorted(places)[:MAX_ATTACHMENTS] if _sized(reader, at)}


def _sized(reader: ProbeReader, offset: int) -> bool:
    """Tell whether an Attachments element of known size, inside the file, is at `offset`.

    One of unknown size is never hidden: libav accepts it as Attachments, but an unknown
    element of unknown size makes it scan the rest of the file for the next one. Its first
    child must be an AttachedFile, so that a SeekHead pointing into media data (where the
    four bytes may happen to match) never has a packet's bytes changed.
    """
    if offset >= reader.size:
        return False
    element = _ebml_element(reader, offset)
    return (
        element is not None
        and element[0] == MKV_ATTACHMENTS_ID
        and element[1] is not None
        and element[2] + element[1] <= reader.size
        and _first_child(reader, element[2]) == MKV_ATTACHED_FILE_ID
    )


def _first_child(reader: ProbeReader, body: int) -> int | None:
    """Return the ID of the first child at `body`, after a CRC-32 or Void element if any."""
    for _ in range(2):
        child = _ebml_element(reader, body)
        if child is None or child[0] not in ebml.SKIPPED or child[1] is None:
            return None if child is None else child[0]
        body = child[2] + child[1]
    return None


def _seek_positions(reader: ProbeReader, start: int, size: int) -> list[int]:
    """Return the SeekPositions (relative to the Segment's body) of Attachments in a SeekHead."""
    data = reader.pread(start, min(size, MAX_SEEKHEAD))
    found: list[int] = []
    for ident, body, end in _ebml_children(data, 0, len(data)):
        if ident != MKV_SEEK:
            continue
        fields = {i: data[b:e] for i, b, e in _ebml_children(data, body, end)}
        if fields.get(MKV_SEEK_ID) == MKV_ATTACHMENTS and MKV_SEEK_POSITION in fields:
            found.append(int.from_bytes(fields[MKV_SEEK_POSITION], "big"))
    return found


def _ebml_children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """Return (ID, body start, body end) of the elements of known size in data[start:end]."""
    found: list[tuple[int, int, int]] = []
    offset = start
    for _ in range(MAX_BLOCKS):
        element = ebml.element_header(data[offset : offset + ebml.HEADER_BYTES])
        if element is None:
            break
        ident, size, header_length = element
        if size is None:
            break
        body = offset + header_length
        if body + size > end:
            break
        found.append((ident, body, body + size))
        offset = body + size
    return found


def _ebml_element(reader: ProbeReader, offset: int) -> tuple[int, int | None, int] | None:
    """Return (ID, size or None when unknown, body offset) of the element at `offset`."""
    element = ebml.element_header(reader.pread(offset, ebml.HEADER_BYTES))
    return None if element is None else (element[0], element[1], offset + element[2])
