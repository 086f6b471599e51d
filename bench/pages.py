"""How fast the track list answers at up to a million tracks, on SQLite or PostgreSQL.

Rows are written straight into a database at revision 0003 (no files, no probing: executemany
on SQLite, COPY on PostgreSQL, in chunks), then the real migration to the newest revision
builds the list's indexes and the search index over them, as an existing installation's
upgrade does. A real server (`mediashelf serve` in a child process, no job workers) answers
every request over HTTP:

- single client: the first page of every sort in both orders, each filter, the last page, a
  step of a deep cursor walk, searches of 3+ and of 2 characters, the HTML page; p50 and p95
  of `--repeat` requests after one warm-up;
- concurrency: `--clients` threads search at once, each a different word per request.

    python bench/pages.py --tracks 1000000
    python bench/pages.py --tracks 1000000 --database-url postgresql://USER@HOST/EMPTY_DB
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import text

from mediashelf.db.migrate import upgrade
from mediashelf.db.session import Database
from mediashelf.library.ids import derived_id
from mediashelf.library.store import SORTABLE

COLUMNS = (
    "video_id", "relpath", "title", "filetype", "size_bytes", "duration", "bitrate", "width",
    "height", "resolution", "video_codec", "video_fps", "audio_codec", "audio_channels",
    "audio_sample_rate", "audio_bit_depth", "probe_status", "probe_failures", "probed_at",
    "missing_since", "added_at", "updated_at",
)  # fmt: skip
KINDS = (  # (filetype, video codec, audio codec, width, height, share)
    ("mkv", "h264", "aac", 1920, 1080, 10), ("mkv", "hevc", "eac3", 3840, 2160, 3),
    ("mp4", "h264", "aac", 1280, 720, 7), ("flac", None, "flac", None, None, 30),
    ("mp3", None, "mp3", None, None, 35), ("opus", None, "opus", None, None, 10),
    ("m4a", None, "aac", None, None, 5),
)  # fmt: skip
SYLLABLES = (
    "ka", "lo", "mi", "ra", "te", "su", "no", "vi", "da", "ne", "ro", "ta", "li", "ma", "el",
    "an", "or", "ñu", "é", "ø", "sh", "qu", "zo", "be", "ci",
)  # fmt: skip
CHUNK = 20_000


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """Return `size` distinct made-up words of 2-4 syllables (some non-ASCII)."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def rows(count: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """Yield `count` plausible track rows in COLUMNS order: artist/album/NN - song.ext."""
    rng = random.Random(seed)
    words = vocabulary(rng, 4000)
    weights = [k[5] for k in KINDS]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(count):
        artist = f"{words[(i // 200) % len(words)].title()} {words[(i // 2000) % 97]}"
        album, number = f"{words[(i // 10 * 7) % len(words)]} {i // 10 % 20:02d}", i % 10 + 1
        song = " ".join(rng.choice(words) for _ in range(rng.randint(1, 3))).capitalize()
        ext, video, audio, width, height, _ = rng.choices(KINDS, weights)[0]
        relpath = f"{artist}/{album}/{number:02d} - {song} {i}.{ext}"
        status = rng.choices(("ok", "error", "missing", "pending"), (90, 4, 4, 2))[0]
        known = status == "ok"
        when = now - timedelta(seconds=rng.randint(0, 10**8))
        yield (
            derived_id(relpath), relpath, f"{number:02d} - {song} {i}", ext,
            rng.randint(10**5, 10**10) if known else None,
            rng.random() * 3600 if known else None,
            rng.randint(64_000, 40_000_000) if known else None, width, height,
            f"{width}x{height}" if width else None, video,
            rng.choice((23.976, 25.0, 29.97, 60.0)) if video else None, audio if known else None,
            rng.choice((1, 2, 2, 6)) if known else None,
            rng.choice((44100, 48000, 96000)) if known else None,
            rng.choice((16, 24, None)) if known else None, status, 0, when if known else None,
            when if status == "missing" else None, when, when,
        )  # fmt: skip


def seed(url: str, count: int) -> float:
    """Write `count` rows at revision 0003, then migrate (index builds); return seconds taken."""
    started = time.perf_counter()
    with Database(url) as db:
        upgrade(db, "0003")
        if db.dialect == "sqlite":
            _seed_sqlite(str(db.engine.url.database), count)
        else:
            _seed_postgresql(db, count)
        inserted = time.perf_counter()
        print(f"seeded {count} rows in {inserted - started:.1f} s", flush=True)
        upgrade(db)
        migrated = time.perf_counter()
        if db.dialect == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE tracks"))
                # The bulk load's dirty pages are written now, not in a checkpoint (or the
                # kernel's writeback) while requests are timed: measured is a library at rest.
                conn.execute(text("CHECKPOINT"))
        os.sync()
    print(f"migrations to the newest revision (index builds) in {migrated - inserted:.1f} s; "
          f"settled in {time.perf_counter() - migrated:.1f} s", flush=True)  # fmt: skip
    return migrated - started


def _seed_sqlite(path: str, count: int) -> None:
    conn = sqlite3.connect(path)
    marks = ",".join("?" * len(COLUMNS))
    statement = f"INSERT INTO tracks ({','.join(COLUMNS)}) VALUES ({marks})"
    batch: list[tuple[Any, ...]] = []
    for row in rows(count, seed=1):
        batch.append(tuple(_naive(v) for v in row))
        if len(batch) == CHUNK:
            conn.executemany(statement, batch)
            batch.clear()
    conn.executemany(statement, batch)
    conn.commit()
    conn.close()


def _naive(value: Any) -> Any:
    """SQLite stores UTC timestamps without a zone, as the UTCDateTime column type writes them."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def _seed_postgresql(db: Database, count: int) -> None:
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY tracks ({','.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows(count, seed=1):
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def single_client_paths(words: list[str]) -> list[str]:
    """Return the requests timed one at a time."""
    paths = [f"/api/tracks?sort={s}&order={o}" for s in SORTABLE for o in ("asc", "desc")]
    paths += [
        "/api/tracks?filetype=mp3", "/api/tracks?resolution=1920x1080",
        "/api/tracks?video_codec=hevc", "/api/tracks?audio_codec=flac",
        "/api/tracks?probe_status=error", "/api/tracks?missing=true",
        "/api/tracks?video_codec=hevc&sort=bitrate&order=desc",
        "/api/tracks?probe_status=pending&sort=added_at&order=desc",
        "/api/tracks?filetype=flac&probe_status=error&sort=duration",
        "/api/tracks?cursor=last", "/api/tracks?sort=bitrate&order=desc&cursor=last",
        "/api/tracks?page=200", "/api/tracks?per_page=500&sort=duration",
        f"/api/tracks?q={words[0]}", f"/api/tracks?q={words[1]}&sort=bitrate",
        "/api/tracks?q=ka", "/api/tracks?q=ñu",
        "/tracks", "/tracks?sort=bitrate&order=desc", "/tracks?cursor=last",
        f"/tracks?q={words[2]}", "/tracks?video_codec=hevc&sort=duration",
    ]  # fmt: skip
    return paths


def percentile(values: list[float], share: float) -> float:
    """Return the `share` percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def timed(client: httpx.Client, path: str) -> tuple[float, httpx.Response]:
    """Return the milliseconds one request took and its response."""
    started = time.perf_counter()
    response = client.get(path)
    return (time.perf_counter() - started) * 1000, response


def measure(client: httpx.Client, path: str, repeat: int) -> tuple[int, float, float]:
    """Return (status, p50 ms, p95 ms) of `repeat` requests after a warm-up."""
    status = client.get(path).status_code
    times = [timed(client, path)[0] for _ in range(repeat)]
    return status, statistics.median(times), percentile(times, 0.95)


def deep_step(client: httpx.Client, repeat: int) -> tuple[int, float, float]:
    """Time following prev_cursor from the last page: a step a million rows deep."""
    cursor = client.get("/api/tracks?sort=duration&cursor=last").json()["prev_cursor"]
    return measure(client, f"/api/tracks?sort=duration&cursor={cursor}", repeat)


def concurrent_search(base: str, words: list[str], clients: int, each: int) -> list[float]:
    """Return the latencies of `clients` threads searching at once, each a new word a time."""
    times: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def run(offset: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            client.get("/api/tracks?q=warm")
            start.wait()
            for n in range(each):
                word = words[(offset * each + n) % len(words)]
                took, response = timed(client, f"/api/tracks?q={word}")
                assert response.status_code == 200, response.text
                with lock:
                    times.append(took)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `mediashelf serve` (no job workers, no start-up scan); return it and its URL."""
    port = free_port()
    env = {
        **os.environ, "MEDIASHELF_DATABASE_URL": url, "MEDIASHELF_LIBRARY": str(data_dir),
        "MEDIASHELF_DATA_DIR": str(data_dir), "MEDIASHELF_LOG_FORMAT": "text",
    }  # fmt: skip
    command = [sys.executable, "-m", "mediashelf.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", "0", "--no-scan"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code < 600:
                return server, base
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def report(args: argparse.Namespace, url: str, data_dir: Path) -> None:
    """Seed, start the server, time every request and print the Markdown tables."""
    seconds = seed(url, args.tracks)
    words = [w for w in vocabulary(random.Random(1), 4000) if len(w) >= 5]
    random.Random(2).shuffle(words)
    server, base = serve(url, data_dir)
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            print(
                f"\n| request ({args.tracks} tracks, {dialect(url)}) | status | p50 ms | p95 ms |"
            )
            print("|---|---:|---:|---:|")
            for path in single_client_paths(words):
                status, p50, p95 = measure(client, path, args.repeat)
                print(f"| `{path}` | {status} | {p50:.1f} | {p95:.1f} |", flush=True)
            status, p50, p95 = deep_step(client, args.repeat)
            print(f"| prev_cursor of the last page (sort=duration) | {status} | {p50:.1f} | "
                  f"{p95:.1f} |")  # fmt: skip
        times = concurrent_search(base, words[10:], args.clients, args.searches)
        print(f"\n{args.clients} concurrent clients, {len(times)} searches of different words: "
              f"p50 {statistics.median(times):.1f} ms, p95 {percentile(times, 0.95):.1f} ms, "
              f"max {max(times):.1f} ms")  # fmt: skip
    finally:
        server.terminate()
        server.wait(30)
    print(f"\nseed + migration: {seconds:.1f} s; load average at the end: {os.getloadavg()}")


def dialect(url: str) -> str:
    """Return the database kind of `url`."""
    return "PostgreSQL" if url.startswith("postgres") else "SQLite"


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--searches", type=int, default=50, help="per concurrent client")
    parser.add_argument("--database-url", help="an EMPTY PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"load average {os.getloadavg()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        report(args, url, Path(tmp))


if __name__ == "__main__":
    main()
