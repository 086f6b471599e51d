"""A read-only file object for libav that reads only the bytes asked for, and counts them.

libav reads a file through PyAV's small AVIO buffer; this object answers each request with
one positioned read (pread) and nothing more, after telling the kernel that access is
random (POSIX_FADV_RANDOM), so no readahead pulls cover art or media payload into memory.
Overlays replace a few bytes of what is read (cover art blocks re-labelled as padding, see
`covers`); the file itself is never written.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

SEEK_SET, SEEK_CUR, SEEK_END = os.SEEK_SET, os.SEEK_CUR, os.SEEK_END


class ProbeReader:
    """Read `path` at the positions libav asks for; count the bytes and the read calls."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self.size = os.fstat(self._fd).st_size
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)
        except OSError:
            os.close(self._fd)
            raise
        self._pos = 0
        self._overlays: dict[int, bytes] = {}
        self.bytes_read = 0
        self.reads = 0

    def overlay(self, patches: Mapping[int, bytes]) -> None:
        """Make reads show `patches` ({offset: bytes}) instead of the file's own bytes."""
        self._overlays = dict(patches)

    def pread(self, offset: int, size: int) -> bytes:
        """Return up to `size` bytes at `offset` (overlays applied); count them."""
        if size <= 0 or offset >= self.size:
            return b""
        data = os.pread(self._fd, size, offset)
        self.bytes_read += len(data)
        self.reads += 1
        return self._patched(offset, data) if self._overlays else data

    def _patched(self, offset: int, data: bytes) -> bytes:
        end = offset + len(data)
        hits = [(at, b) for at, b in self._overlays.items() if at < end and at + len(b) > offset]
        if not hits:
            return data
        buffer = bytearray(data)
        for at, patch in hits:
            for i, byte in enumerate(patch):
                if offset <= at + i < end:
                    buffer[at + i - offset] = byte
        return bytes(buffer)

    # The file-object protocol PyAV uses (read, seek, tell, seekable, readable, close).

    def read(self, size: int = -1) -> bytes:
        """Read `size` bytes at the current position (the rest of the file when negative)."""
        wanted = self.size - self._pos if size < 0 else size
        data = self.pread(self._pos, wanted)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = SEEK_SET) -> int:
        """Move the position and return it; return -EINVAL for an impossible seek.

        libav probes with seeks that may fail (before the start); a negative errno is the
        answer it expects, where an exception would only be logged and dropped by PyAV.
        """
        base = {SEEK_SET: 0, SEEK_CUR: self._pos, SEEK_END: self.size}.get(whence)
        if base is None or base + offset < 0:
            return -errno.EINVAL
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        """Return the position."""
        return self._pos

    def seekable(self) -> bool:
        """Tell libav it may seek."""
        return True

    def readable(self) -> bool:
        """Tell libav it may read."""
        return True

    def close(self) -> None:
        """Close the descriptor (twice is harmless)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ProbeReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
