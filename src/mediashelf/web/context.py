"""What the web app needs at run time, built once from Settings."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from mediashelf.clock import Clock, SystemClock
from mediashelf.config import Settings
from mediashelf.db.migrate import upgrade
from mediashelf.db.session import Database
from mediashelf.errors import LibraryUnavailable
from mediashelf.library.sync import sync_library
from mediashelf.probe.base import ProbeRunner
from mediashelf.probe.chain import build_chain
from mediashelf.probe.pool import ProbePool

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """The app's long-lived parts: database, probe runner, clock and library root."""

    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    runner: ProbeRunner | None = None
    _pool: ProbePool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        """Open the database named by `settings` (the probe pool starts on first use)."""
        return cls(settings=settings, db=Database(settings.effective_database_url))

    @property
    def root(self) -> Path:
        """Return the library root, or raise LibraryUnavailable when none is configured."""
        if self.settings.library is None:
            raise LibraryUnavailable("No library is configured.")
        return self.settings.library

    def probe_runner(self) -> ProbeRunner:
        """Return the injected runner, else the isolated probe pool (started on first call)."""
        if self.runner is not None:
            return self.runner
        return self.pool()

    def pool(self) -> ProbePool:
        """Return the probe pool, starting it on first call."""
        if self._pool is None:
            self._pool = ProbePool(
                build_chain(self.settings),
                self.settings.probe_processes,
                self.settings.probe_timeout_s,
            )
        return self._pool

    def start(self, initial_sync: bool) -> None:
        """Migrate the schema and, when asked, index the library in the background."""
        upgrade(self.db)
        if initial_sync and self.settings.library is not None:
            threading.Thread(target=self._sync, name="initial-sync", daemon=True).start()

    def _sync(self) -> None:
        try:
            report = sync_library(self.db, self.root, self.pool(), self.clock)
        except LibraryUnavailable as exc:
            log.error("Library not indexed: %s", exc.message)
            return
        log.info(
            "Library indexed: %d added, %d probed, %d failed",
            report.added, report.probed, report.failed,
        )  # fmt: skip

    def close(self) -> None:
        """Stop the probe pool and close database connections."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self.db.dispose()
