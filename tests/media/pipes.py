"""Media written as a muxer writes to a pipe: it cannot seek back to finish its header."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import av

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class _Pipe(io.RawIOBase):
    """A write-only, non-seekable file: what a muxer writing to a pipe sees."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: ReadableBuffer) -> int:
        return self._file.write(data)


def remux_through_pipe(source: Path, path: Path, container: str = "matroska",
                       options: dict[str, str] | None = None) -> None:  # fmt: skip
    """Copy `source` into `container` the way `ffmpeg ... -f matroska - > FILE` writes it.

    The muxer cannot seek back to the header, so it never writes the Segment's Duration (nor
    sizes, with `options={"live": "1"}`): a stream capture, or a recording that was cut off.
    """
    with (
        av.open(str(source)) as given,
        path.open("wb") as file,
        av.open(_Pipe(file), "w", format=container, options=options or {}) as out,
    ):
        copies = {stream.index: out.add_stream_from_template(stream) for stream in given.streams}
        for packet in given.demux():
            if packet.size:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
