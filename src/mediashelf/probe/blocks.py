"""Walking a FLAC file's metadata blocks and a RIFF or AIFF file's chunks, header by header.

Both containers list their parts one after another, each behind a header stating its size;
a walk reads the headers only (4 or 8 bytes each), never the parts, and gives up after
MAX_BLOCKS of them (hostile files). What a part means, and where to stop, is the caller's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from mediashelf.probe.reader import ProbeReader

MAX_BLOCKS = 256  # bounds every walk through hostile files


@dataclass(frozen=True)
class FlacBlock:
    """A FLAC metadata block: where its header is, its type, its length, whether it is last."""

    offset: int
    kind: int
    length: int
    last: bool

    @property
    def end(self) -> int:
        """Where the next block (or, after the last, the first frame) starts."""
        return self.offset + 4 + self.length


def flac_blocks(reader: ProbeReader, offset: int) -> Iterator[FlacBlock]:
    """Yield the metadata blocks from `offset` (just past "fLaC") to the last one."""
    for _ in range(MAX_BLOCKS):
        header = reader.pread(offset, 4)
        if len(header) < 4:
            return
        block = FlacBlock(offset, header[0] & 0x7F, int.from_bytes(header[1:4], "big"),
                          bool(header[0] & 0x80))  # fmt: skip
        yield block
        if block.last or block.kind == 0x7F or block.end >= reader.size:
            return
        offset = block.end


@dataclass(frozen=True)
class Chunk:
    """A RIFF/AIFF chunk: where its header is, its ID and its stated size."""

    offset: int
    kind: bytes
    size: int

    @property
    def body(self) -> int:
        """Where the chunk's data starts."""
        return self.offset + 8


def riff_chunks(
    reader: ProbeReader, offset: int, order: Literal["big", "little"]
) -> Iterator[Chunk]:
    """Yield the chunks from `offset`, each taken to end where its stated size says (padded
    to an even length): a caller stops at a size that is not where the next one starts."""
    for _ in range(MAX_BLOCKS):
        header = reader.pread(offset, 8)
        if len(header) < 8:
            return
        chunk = Chunk(offset, header[:4], int.from_bytes(header[4:], order))
        yield chunk
        offset = chunk.body + chunk.size + (chunk.size & 1)
