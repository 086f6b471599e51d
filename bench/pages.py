"""How fast the track pages answer at 100,000 tracks (SQLite, in-process test client).

The rows are inserted directly (no files, no probing): the benchmark measures the page's own
work, a count, a page of rows in the requested order, and the facet counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from mediashelf.clock import SystemClock
from mediashelf.config import Settings
from mediashelf.db.migrate import upgrade
from mediashelf.db.schema import Track
from mediashelf.db.session import Database
from mediashelf.library.ids import derived_id
from mediashelf.runtime import Runtime
from mediashelf.web.app import create_app

KINDS = (
    ("h264", "aac", 1920, 1080), ("hevc", "aac", 3840, 2160), (None, "flac", None, None),
    (None, "mp3", None, None), (None, "opus", None, None),
)  # fmt: skip
PATHS = (
    "/tracks",
    "/tracks?sort=bitrate&order=desc",
    "/tracks?video_codec=hevc&page=50",
    "/tracks?sort=title&page=1500",
    "/tracks?q=track%200999",
    "/api/tracks?per_page=500&sort=duration",
)


def rows(count: int, seed: int) -> list[dict[str, Any]]:
    """Return `count` plausible track rows."""
    rng, now = random.Random(seed), SystemClock().now()
    out = []
    for i in range(count):
        video, audio, width, height = rng.choice(KINDS)
        ext = "mkv" if video else audio
        relpath = f"f{i // 1000:03d}/track {i:06d}.{ext}"
        out.append({
            "video_id": derived_id(relpath), "relpath": relpath, "title": f"track {i:06d}",
            "filetype": ext, "size_bytes": rng.randint(1, 10**9), "duration": rng.random() * 3600,
            "bitrate": rng.randint(64_000, 40_000_000), "width": width, "height": height,
            "resolution": f"{width}x{height}" if width else None, "video_codec": video,
            "audio_codec": audio, "probe_status": rng.choice(["ok"] * 20 + ["error", "missing"]),
            "probe_failures": 0, "added_at": now, "updated_at": now,
        })  # fmt: skip
    return out


def main() -> None:
    """Seed the database, then time each page (mean of `--repeat` requests after a warm-up)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(library=Path(tmp), data_dir=Path(tmp))
        db = Database(settings.effective_database_url)
        upgrade(db)
        data = rows(args.tracks, seed=1)
        with db.engine.begin() as conn:
            for start in range(0, len(data), 5000):
                conn.execute(insert(Track), data[start : start + 5000])
        with TestClient(create_app(Runtime(settings, db))) as client:
            print(f"\n| request ({args.tracks} tracks) | status | mean ms |\n|---|---:|---:|")
            for path in PATHS:
                client.get(path)
                started = time.perf_counter()
                for _ in range(args.repeat):
                    status = client.get(path).status_code
                mean = (time.perf_counter() - started) / args.repeat * 1000
                print(f"| `{path}` | {status} | {mean:.1f} |")


if __name__ == "__main__":
    main()
