"""Registers the library's job kinds with the engine; the worker entry points import this."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial

from mediashelf.config import Settings
from mediashelf.errors import ConfigError
from mediashelf.jobs.registry import JobKind, Registry
from mediashelf.library.kinds import LIBRARY_SCAN, LIBRARY_SCAN_CHUNK, LIBRARY_VERIFY
from mediashelf.library.scan import ScanDeps
from mediashelf.library.scan_fanout import (
    ChunkParams,
    run_scan,
    run_scan_chunk,
)
from mediashelf.library.scan_request import ScanParams, check_scan_request
from mediashelf.library.verify.job import (
    VerifyDeps,
    VerifyParams,
    run_library_verify,
    verify_key,
)
from mediashelf.probe.formats import media_extensions
from mediashelf.probe.pool import ProbePool

__all__ = ["LIBRARY_SCAN", "build_registry", "register_library_tasks"]


def register_library_tasks(
    registry: Registry, settings: Settings, pool: Callable[[], ProbePool]
) -> None:
    """Register `library_scan` and `library_verify` (one of each active at a time)."""
    if settings.library is None:
        raise ConfigError("Set MEDIASHELF_LIBRARY to the library root to run library jobs.")
    deps = ScanDeps(
        root=settings.library, pool=pool, missing_brake=settings.missing_brake,
        library_wait_s=settings.library_wait_s,
        extensions=media_extensions(settings.extensions_extra, settings.extensions_exclude),
        chunk_writes=settings.scan_chunk_size if settings.fans_out_scans else 0,
    )  # fmt: skip
    registry.register(
        JobKind(
            name=LIBRARY_SCAN,
            handler=partial(run_scan, deps=deps),
            params_model=ScanParams,
            max_attempts=3,
            unique_key=lambda _params: LIBRARY_SCAN,
            check_request=partial(check_scan_request, root=settings.library),
        )
    )
    registry.register(
        JobKind(
            name=LIBRARY_SCAN_CHUNK,
            handler=partial(run_scan_chunk, deps=deps),
            params_model=ChunkParams,
            max_attempts=3,
            spawned_by=LIBRARY_SCAN,
        )
    )
    registry.register(
        JobKind(
            name=LIBRARY_VERIFY,
            handler=partial(run_library_verify, deps=VerifyDeps(settings.library, pool)),
            params_model=VerifyParams,
            max_attempts=3,
            unique_key=verify_key,
            check_request=partial(check_scan_request, root=settings.library),
        )
    )


def build_registry(settings: Settings, pool: Callable[[], ProbePool]) -> Registry:
    """Return a registry with the library's kinds and those of `settings.job_modules`.

    Extension contract: each module named in MEDIASHELF_JOB_MODULES defines
    `register(registry: Registry, settings: Settings) -> None`.
    """
    registry = Registry()
    if settings.library is not None:
        register_library_tasks(registry, settings, pool)
    else:
        for kind in (LIBRARY_SCAN, LIBRARY_SCAN_CHUNK, LIBRARY_VERIFY):
            registry.unavailable(kind, "set MEDIASHELF_LIBRARY to the library root folder")
    for name in settings.job_modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"cannot import job module {name!r}: {exc}") from exc
        if not callable(getattr(module, "register", None)):
            raise ConfigError(f"job module {name!r} defines no register(registry, settings)")
        module.register(registry, settings)
    return registry
