"""The Prober protocol and the file checks every backend shares."""

from __future__ import annotations

import errno
import os
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


def never_written(path: Path) -> bool:
    """Tell whether the file's first ZERO_START bytes (or all of a shorter file) are zeros.

    A download client preallocates a file at its full size and fills it as pieces arrive; an
    interrupted copy can leave the same. No container starts with 64 KB of zeros, so such a
    file is not media yet, whatever its name says.
    """
    try:  # without blocking: a FIFO named like media must not wait here for a writer
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        head = os.pread(descriptor, ZERO_START, 0)
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return bool(head) and not any(head)


class ProbeRunner(Protocol):
    """Anything that probes a path: a Prober in-process, or the isolated ProbePool."""

    def probe(self, path: Path) -> ProbeResult:
        """Probe `path` and return its facts."""
        ...
