"""Mapping track relpaths to files without ever leaving the library root."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from mediashelf.errors import PathOutsideLibrary


def resolve_in_library(root: Path, relpath: str) -> Path:
    """Return the file for `relpath`, resolved (symlinks too) and checked to stay under `root`."""
    pure = PurePosixPath(relpath)
    if pure.is_absolute() or ".." in pure.parts or not relpath or "\x00" in relpath:
        raise PathOutsideLibrary()
    try:
        real_root = root.resolve()
        candidate = (real_root / Path(*pure.parts)).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unreachable mount
        raise PathOutsideLibrary("The path cannot be resolved inside the library.") from exc
    if not candidate.is_relative_to(real_root):
        raise PathOutsideLibrary()
    return candidate
