"""The configured fallback chain of probe backends."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mediashelf.errors import (
    ConfigError,
    ProbeCorrupt,
    ProbeCrashed,
    ProbeEmpty,
    ProbeError,
    ProbeMissing,
    ProbePermission,
    ProbeTimeout,
)
from mediashelf.probe.base import Prober, ffprobe_available, not_media
from mediashelf.probe.result import ProbeResult

if TYPE_CHECKING:  # the pool's forkserver imports this module: keep pydantic out of it
    from mediashelf.config import Settings

log = logging.getLogger(__name__)

# Failures about the file itself: every backend would say the same, so the chain stops.
_FILE_LEVEL = (ProbeMissing, ProbePermission, ProbeEmpty)


@dataclass(frozen=True)
class ProbeChain:
    """Try each backend in order; the first success wins, a ProbeError moves on."""

    probers: tuple[Prober, ...]
    name: str = "chain"
    budget_s: float = 15.0  # the longest all backends together may take on one file

    def probe(self, path: Path) -> ProbeResult:
        """Probe `path` with each backend until one succeeds; raise the first error if none does.

        A timeout outranks the other errors: a backend that could not finish means the file
        is not known to be unreadable, and two timeouts quarantine it. No other backend is
        asked after a settled verdict (a still picture, no stream, random bytes under an audio
        name: the next backend reads the same bytes by the same rules), nor for a file that
        fails and starts with 64 KB of zeros (a preallocated download, never written) or with
        text (a saved error page): ffprobe took 0.1-1.3 s more on each such file, to say the
        same. A file libav recognises no container in still gets the next backend (ffprobe
        may read a format the bundled libav lacks, e.g. with extra extensions configured).
        Any other exception is a bug met on this file (a crafted tag once divided by zero):
        it fails this file as `crashed`, naming the exception, instead of failing the whole
        scan.
        """
        first: ProbeError | None = None
        tried: list[str] = []
        for prober in self.probers:
            tried.append(prober.name)
            try:
                return prober.probe(path)
            except _FILE_LEVEL:
                raise
            except ProbeTimeout as exc:
                first = exc
            except ProbeError as exc:
                if first is None and (why := not_media(path)) is not None:
                    raise _by(ProbeCorrupt(why, settled=True), tried) from exc
                if exc.settled:
                    _by(exc, tried)
                    raise
                first = first or exc
            except Exception as exc:  # one file's bug is that file's failure
                log.exception("The %s prober failed on %s", prober.name, path)
                first = first or ProbeCrashed(
                    f"The {prober.name} prober failed on this file "
                    f"({type(exc).__name__}: {exc}); this is a mediashelf bug."
                )
        if first is None:
            raise ConfigError("No probe backend is configured.")
        raise _by(first, tried)


def _by(error: ProbeError, tried: list[str]) -> ProbeError:
    """Return `error` naming the backends that tried the file."""
    error.prober = ", ".join(tried)
    return error


@dataclass(frozen=True)
class ChainRecipe:
    """The chain `settings` name, as names: what a probe pool hands its processes.

    Each pool process builds the chain itself, so the process that starts the pool never
    imports the backends (ffprobe's corrections, the Matroska and MP3 walkers): ~15 ms of a
    one-second `mediashelf scan` on two cores, spent while the database layer waits.
    """

    probers: tuple[str, ...]  # the available ones, in order: "pyav", "ffprobe"
    ffprobe_path: str
    timeout_s: float

    @property
    def budget_s(self) -> float:
        """The longest all backends together may take on one file."""
        return self.timeout_s * len(self.probers)

    def build(self) -> ProbeChain:
        """Return the chain (importing its backends)."""
        from mediashelf.probe.ffprobe_backend import FfprobeProber
        from mediashelf.probe.pyav_backend import PyAVProber

        probers: list[Prober] = [
            PyAVProber() if name == "pyav" else FfprobeProber(self.ffprobe_path, self.timeout_s)
            for name in self.probers
        ]
        return ProbeChain(tuple(probers), budget_s=self.budget_s)


def chain_recipe(settings: Settings) -> ChainRecipe:
    """Name the chain `settings.probers` asks for; ffprobe joins only when its binary exists."""
    names = tuple(
        name
        for name in settings.probers
        if name == "pyav" or (name == "ffprobe" and ffprobe_available(settings.ffprobe_path))
    )
    if not names:
        raise ConfigError(f"None of the probers {list(settings.probers)} is available here.")
    return ChainRecipe(names, settings.ffprobe_path, settings.probe_timeout_s)


def build_chain(settings: Settings) -> ProbeChain:
    """Build the chain named by `settings.probers` (see `chain_recipe`)."""
    return chain_recipe(settings).build()
