"""The PyAV prober: libav bundled in PyAV's wheels, in-process, the fast path first.

The class is light on purpose: the scanning process builds it and hands it to the probe pool
without importing libav (~0.05 s of every `mediashelf scan` start); the work, in `pyav_read`,
is imported where the probing runs (the pool's processes preload it).
"""

from __future__ import annotations

from pathlib import Path

from mediashelf.probe.result import ProbeResult


class PyAVProber:
    """Probe with PyAV: the fast path, else libav's full stream analysis."""

    name = "pyav"

    def __init__(self, fast: bool = True) -> None:
        self.fast = fast

    @property
    def version(self) -> str:
        """Return the PyAV and FFmpeg versions, as results record them."""
        from mediashelf.probe.pyav_read import VERSION

        return VERSION

    def probe(self, path: Path) -> ProbeResult:
        """Read the container and stream facts of `path` (DESIGN §3, fast path first)."""
        from mediashelf.probe.pyav_read import probe

        return probe(path, fast=self.fast)

    def probe_full(self, path: Path, size: int) -> ProbeResult:
        """Open `path` by libav's own detection and run its full stream analysis."""
        from mediashelf.probe.pyav_read import probe_full

        return probe_full(path, size)
