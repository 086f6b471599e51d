"""The Prober protocol and the file checks every backend shares."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Protocol

from mediashelf.errors import ProbeEmpty, ProbeMissing, ProbePermission, ProbeUnsupported
from mediashelf.probe.result import ProbeResult


class Prober(Protocol):
    """A backend that reads a file's technical facts.

    Extension contract: `probe` raises a ProbeError subclass for every failure it understands
    and returns a ProbeResult built with `normalize.build_result`, so backends agree field for
    field. It must be picklable: the probe pool sends it to worker processes.
    """

    @property
    def name(self) -> str:
        """Return the backend's short name ("pyav", "ffprobe")."""
        ...

    def probe(self, path: Path) -> ProbeResult:
        """Probe `path` and return its facts."""
        ...


def ffprobe_available(binary: str = "ffprobe") -> bool:
    """Tell whether the ffprobe binary can be found."""
    return shutil.which(binary) is not None


def check_readable(path: Path) -> int:
    """Return the size of the regular file at `path`, or raise the matching ProbeError."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise ProbeMissing() from exc
    except PermissionError as exc:
        raise ProbePermission() from exc
    except OSError as exc:
        raise ProbeMissing(f"The file cannot be reached: {os.strerror(exc.errno or 0)}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ProbeUnsupported("Not a regular file.")
    if info.st_size == 0:
        raise ProbeEmpty()
    try:
        with path.open("rb"):
            pass
    except PermissionError as exc:
        raise ProbePermission() from exc
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise ProbeMissing() from exc
        raise ProbePermission(f"The file cannot be opened: {exc.strerror}") from exc
    return info.st_size


ZERO_START = 64 * 1024  # bytes of zeros at a file's start that mean "never written"
TEXT_SAMPLE = 4096  # bytes at a file's start that tell text from a container
NEVER_WRITTEN = ("Not media yet: the file starts with nothing but zero bytes (64 KB, or all "
                 "of a shorter file), as an incomplete download or an interrupted copy leaves "
                 "it.")  # fmt: skip
TEXT = ("Not a media file: it holds text (a web page, an error message or a document saved "
        "under a media name).")  # fmt: skip


def not_media(path: Path) -> str | None:
    """Return why the file's first bytes show it is no media at all, or None when they may be.

    A download client preallocates a file at its full size and fills it as pieces arrive; an
    interrupted copy can leave the same: no container starts with 64 KB of zeros (or is all
    zeros), so such a file is not media yet, whatever its name says. And no container of a
    media extension starts with 4 KB of printable text: a failed download often saves the
    server's error page under the media name.
    """
    try:  # without blocking: a FIFO named like media must not wait here for a writer
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        head = os.pread(descriptor, ZERO_START, 0)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    if head and not any(head):
        return NEVER_WRITTEN
    return TEXT if is_text(head[:TEXT_SAMPLE]) else None


def is_text(sample: bytes) -> bool:
    """Tell whether `sample` is UTF-8 text: printable characters and line breaks only."""
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not just a character cut by the end
            return False
        text = sample[: exc.start].decode("utf-8")
    text = text.removeprefix("\ufeff")
    return bool(text) and all(c.isprintable() or c in "\t\n\r\f" for c in text)


class ProbeRunner(Protocol):
    """Anything that probes a path: a Prober in-process, or the isolated ProbePool."""

    def probe(self, path: Path) -> ProbeResult:
        """Probe `path` and return its facts."""
        ...
