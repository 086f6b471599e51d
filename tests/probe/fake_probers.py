"""Picklable probers with scripted misbehaviour, for the isolated pool tests.

They live at module level so the pool can send them to its worker processes.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from mediashelf.errors import PROBE_ERRORS, ProbeCorrupt, ProbePermission
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult


class HangingProber:
    """Sleep for a minute on files whose name contains `match`; probe the others with PyAV."""

    name = "hanging"

    def __init__(self, seconds: float = 60.0, match: str = "hang") -> None:
        self.seconds = seconds
        self.match = match
        self.delegate = PyAVProber()

    def probe(self, path: Path) -> ProbeResult:
        """Hang, or probe for real."""
        if self.match in path.name:
            time.sleep(self.seconds)
        return self.delegate.probe(path)


class LockedProber:
    """Refuse (ProbePermission) files whose name contains `match` while `lock` exists, as a
    chmod 000 would (tests run as root); probe the others, and those once unlocked, with PyAV."""

    name = "locked"

    def __init__(self, lock: Path, match: str = "locked") -> None:
        self.lock = lock
        self.match = match
        self.delegate = PyAVProber()

    def probe(self, path: Path) -> ProbeResult:
        """Refuse while locked, or probe for real."""
        if self.match in path.name and self.lock.exists():
            raise ProbePermission()
        return self.delegate.probe(path)


class CrashingProber:
    """Kill its own process with SIGSEGV on files whose name contains "crash"; else use PyAV."""

    name = "crashing"

    def __init__(self) -> None:
        self.delegate = PyAVProber()

    def probe(self, path: Path) -> ProbeResult:
        """Crash, or probe for real."""
        if "crash" in path.name:
            os.kill(os.getpid(), signal.SIGSEGV)
        return self.delegate.probe(path)


class ErrorProber:
    """Always fail: with the ProbeError whose class is the file's stem, else ProbeCorrupt."""

    name = "error"

    def probe(self, path: Path) -> ProbeResult:
        """Raise the scripted error."""
        error_type = PROBE_ERRORS.get(path.stem, ProbeCorrupt)
        raise error_type(self.message_for(path))

    @staticmethod
    def message_for(path: Path) -> str:
        """Return the message raised for `path`."""
        return f"scripted {path.stem} failure"


class RecordingProber:
    """Probe with PyAV and append each probed path to `log`, a line per probe (any process)."""

    name = "recording"

    def __init__(self, log: Path, pause_s: float = 0.0) -> None:
        self.log = log
        self.pause_s = pause_s
        self.delegate = PyAVProber()

    def probe(self, path: Path) -> ProbeResult:
        """Record, pause if asked, then probe for real."""
        with self.log.open("a") as out:
            out.write(f"{path}\n")
        time.sleep(self.pause_s)
        return self.delegate.probe(path)
