"""EBML, the element syntax of Matroska and WebM: one reading of element headers.

Two walkers read Matroska files themselves: covers.py (to hide attachments from libav) and
matroska.py (a duration libav cannot state, a cover libav takes for video). Both read an
element's header here, so a hostile header means the same thing to both.
"""

from __future__ import annotations

MAGIC = b"\x1a\x45\xdf\xa3"
SEGMENT, SEEKHEAD, CLUSTER = 0x18538067, 0x114D9B74, 0x1F43B675
SKIPPED = frozenset({0xBF, 0xEC})  # CRC-32, Void: a parent's children may start with them
HEADER_BYTES = 12  # enough for any element's ID (4 bytes at most) and size (8 at most)


def vint(data: bytes, at: int, longest: int) -> tuple[int, int] | None:
    """Return (value without its length marker, length) of the EBML number at `at`."""
    if at >= len(data) or data[at] == 0:
        return None
    length = 9 - data[at].bit_length()
    if length > longest or at + length > len(data):
        return None
    value = data[at] & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = value << 8 | byte
    return value, length


def element_header(data: bytes, at: int = 0) -> tuple[int, int | None, int] | None:
    """Parse the element header at `at`: (ID with its marker, size or None when unknown,
    header length), or None where no valid header is."""
    ident = vint(data, at, 4)
    if ident is None:
        return None
    id_length = ident[1]
    size = vint(data, at + id_length, 8)
    if size is None:
        return None
    raw = int.from_bytes(data[at : at + id_length], "big")
    value, size_length = size
    unknown = value == (1 << (7 * size_length)) - 1
    return raw, None if unknown else value, id_length + size_length
