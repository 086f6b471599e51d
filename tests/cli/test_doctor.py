"""`mediashelf doctor`: one misconfiguration per test, each named with its fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from mediashelf.cli.exits import FAILED, OK
from mediashelf.cli.main import app
from mediashelf.config import Settings
from mediashelf.db.migrate import newest_file_revision, upgrade
from mediashelf.db.session import Database
from mediashelf.doctor import Check, Probes, check_exposure, diagnose
from mediashelf.library.watch_support import Mount

runner = CliRunner()
TOKEN = "doctor-token-0123456789-abcdef"


def doctor(env: dict[str, str | None]) -> tuple[int, dict[str, Check]]:
    """Run `mediashelf doctor --json`; return the exit code and the checks by name."""
    result = runner.invoke(app, ["doctor", "--json"], env=env)
    body = json.loads(result.stdout)
    assert body["ok"] == (result.exit_code == OK)
    return result.exit_code, {c["name"]: Check(**c) for c in body["checks"]}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a migrated SQLite database (for checks that are not about the database)."""
    url = f"sqlite:///{tmp_path / 'doctor.db'}"
    with Database(url) as db:
        upgrade(db)
    return url


def healthy_env(url: str, library: Path, tmp_path: Path) -> dict[str, str | None]:
    """Settings of a working installation over the database at `url`."""
    return {
        "MEDIASHELF_LIBRARY": str(library), "MEDIASHELF_DATABASE_URL": url,
        "MEDIASHELF_DATA_DIR": str(tmp_path / "data"), "MEDIASHELF_HOST": None,
        "MEDIASHELF_API_TOKEN": None, "MEDIASHELF_WATCH": None,
    }  # fmt: skip


def test_a_working_installation_is_ok(database: Database, library: Path, tmp_path: Path) -> None:
    code, checks = doctor(healthy_env(database.url, library, tmp_path))
    assert code == OK
    assert list(checks) == ["library", "database", "disk", "ffprobe", "pyav", "watch", "exposure"]
    assert {c.status for c in checks.values()} <= {"ok", "warning"}
    assert checks["library"].status == "ok"
    assert "22 media files" in checks["library"].message
    assert checks["database"].status == "ok"
    assert "(newest)" in checks["database"].message
    assert "PyAV" in checks["pyav"].message
    text_run = runner.invoke(app, ["doctor"], env=healthy_env(database.url, library, tmp_path))
    assert text_run.exit_code == OK
    assert "media files" in text_run.stdout


def test_missing_library(sqlite_url: str, tmp_path: Path) -> None:
    env = healthy_env(sqlite_url, tmp_path / "nowhere", tmp_path)
    code, checks = doctor(env)
    assert code == FAILED
    assert checks["library"].status == "error"
    assert checks["library"].fix is not None
    code, checks = doctor({**env, "MEDIASHELF_LIBRARY": None})
    assert code == FAILED
    assert checks["library"].message == "No library is configured."
    assert "MEDIASHELF_LIBRARY" in (checks["library"].fix or "")


def test_unreachable_database(library: Path, tmp_path: Path) -> None:
    url = "postgresql://someone:secret@127.0.0.1:1/mediashelf"
    env = healthy_env(url, library, tmp_path)
    code, checks = doctor(env)
    assert code == FAILED
    assert checks["database"].status == "error"
    assert "secret" not in checks["database"].message
    assert "database unreachable" in checks["database"].message


def test_schema_behind_or_ahead(db_url: str, library: Path, tmp_path: Path) -> None:
    db = Database(db_url)
    try:
        upgrade(db, "0002")
        code, checks = doctor(healthy_env(db_url, library, tmp_path))
        assert code == OK  # services migrate at start-up: a warning
        assert checks["database"].status == "warning"
        assert f"newest is {newest_file_revision()}" in checks["database"].message
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        code, checks = doctor(healthy_env(db_url, library, tmp_path))
        assert code == FAILED
        assert "newer than this version knows" in checks["database"].message
    finally:
        db.dispose()


def test_public_bind_without_token_and_short_tokens(
    sqlite_url: str, library: Path, tmp_path: Path
) -> None:
    env = {**healthy_env(sqlite_url, library, tmp_path), "MEDIASHELF_HOST": "0.0.0.0"}
    code, checks = doctor(env)
    assert code == FAILED
    assert checks["exposure"].status == "error"
    assert "MEDIASHELF_API_TOKEN" in (checks["exposure"].fix or "")
    code, checks = doctor({**env, "MEDIASHELF_API_TOKEN": "short"})
    assert code == FAILED
    assert "too short (5 characters; at least 24 needed)" in checks["exposure"].message
    for guessable in ("t" * 32, " " * 30):  # serve refuses both: doctor says so
        code, checks = doctor({**env, "MEDIASHELF_API_TOKEN": guessable})
        assert code == FAILED
        assert checks["exposure"].status == "error"
    code, checks = doctor({**env, "MEDIASHELF_API_TOKEN": TOKEN})
    assert code == OK
    assert checks["exposure"].status == "ok"


class WebSettings(Settings):
    """Settings with the web layer's allow-list and public reads (read through getattr)."""

    allowed_hosts: tuple[str, ...] = ()
    public_read: bool = False


def test_allowed_hosts_and_public_reads() -> None:
    open_hosts = WebSettings(host="0.0.0.0", api_token=TOKEN, allowed_hosts=("*",))
    assert check_exposure(open_hosts).status == "warning"
    public = WebSettings(host="0.0.0.0", api_token=TOKEN, public_read=True)
    assert check_exposure(public).status == "warning"
    assert check_exposure(WebSettings(host="0.0.0.0", api_token=TOKEN)).status == "ok"


def test_missing_ffprobe_is_a_warning(sqlite_url: str, library: Path, tmp_path: Path) -> None:
    env = {**healthy_env(sqlite_url, library, tmp_path),
           "MEDIASHELF_FFPROBE_PATH": str(tmp_path / "no-ffprobe")}  # fmt: skip
    code, checks = doctor(env)
    assert code == OK
    assert checks["ffprobe"].status == "warning"
    assert "apt install ffmpeg" in (checks["ffprobe"].fix or "")


def test_ffprobe_alone_must_be_there_and_be_ffprobe(
    sqlite_url: str, library: Path, tmp_path: Path
) -> None:
    """With MEDIASHELF_PROBERS=ffprobe a missing binary said "no fallback" (exit 0) while
    scans refused to start; /bin/false was "ok", and a scan failed every file as corrupt."""
    not_ffprobe = shutil.which("false")
    assert not_ffprobe is not None
    cases = [
        ({"MEDIASHELF_PROBERS": "ffprobe"}, tmp_path / "no-ffprobe", "error", "only prober"),
        ({"MEDIASHELF_PROBERS": "ffprobe"}, not_ffprobe, "error", "as ffprobe does"),
        ({}, not_ffprobe, "warning", "as ffprobe does"),  # PyAV first: only the fallback
    ]
    for extra, binary, status, says in cases:
        env = {**healthy_env(sqlite_url, library, tmp_path), **extra,
               "MEDIASHELF_FFPROBE_PATH": str(binary)}  # fmt: skip
        code, checks = doctor(env)
        assert (checks["ffprobe"].status, code) == (status, FAILED if status == "error" else OK)
        assert says in checks["ffprobe"].message


def test_a_file_where_the_data_folder_should_be_is_an_error(library: Path, tmp_path: Path) -> None:
    """It said "ok disk … free under <the file>" and that the database would be created at
    the first start, which then failed: the folder cannot be made."""
    in_the_way = tmp_path / "data"
    in_the_way.write_text("a file")
    for env in ({"MEDIASHELF_DATA_DIR": str(in_the_way), "MEDIASHELF_DATABASE_URL": None},
                {"MEDIASHELF_DATABASE_URL": f"sqlite:///{in_the_way}/sub/x.db"}):  # fmt: skip
        base = {"MEDIASHELF_LIBRARY": str(library), "MEDIASHELF_HOST": None,
                "MEDIASHELF_API_TOKEN": None, "MEDIASHELF_WATCH": None}  # fmt: skip
        code, checks = doctor({**base, **env})
        assert code == FAILED
        assert checks["disk"].status == "error"
        assert f"{in_the_way} is a file" in checks["disk"].message


def test_a_damaged_database_file_is_named_with_its_fix(library: Path, tmp_path: Path) -> None:
    """It said "DatabaseError" and "Start the database server": no server mends a file."""
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database at all\n" * 100)
    env = {**healthy_env(f"sqlite:///{damaged}", library, tmp_path)}
    code, checks = doctor(env)
    assert code == FAILED
    assert checks["database"].message.endswith("the database file is damaged or is not a database")
    assert "mediashelf db restore" in (checks["database"].fix or "")


def test_invalid_settings_are_reported(sqlite_url: str, library: Path, tmp_path: Path) -> None:
    code, checks = doctor({**healthy_env(sqlite_url, library, tmp_path), "MEDIASHELF_PORT": "0"})
    assert code == FAILED
    assert "MEDIASHELF_PORT" in checks["settings"].message


class Usage(NamedTuple):
    """What shutil.disk_usage returns."""

    total: int
    used: int
    free: int


def settings_for(library: Path, tmp_path: Path, **extra: Any) -> Settings:
    """Settings over `library` with a SQLite database that does not exist yet."""
    return Settings(library=library, data_dir=tmp_path / "data", **extra)


def test_low_disk(library: Path, tmp_path: Path) -> None:
    full = Probes(disk_usage=lambda _p: Usage(10 * 1024**3, 10 * 1024**3 - 1024**2, 1024**2))
    report = diagnose(settings_for(library, tmp_path), full)
    disk = next(c for c in report.checks if c.name == "disk")
    assert disk.status == "error"
    assert not report.ok


def test_watch_limits(library: Path, tmp_path: Path) -> None:
    settings = settings_for(library, tmp_path, watch=True)
    few = diagnose(settings, Probes(watch_limit=lambda: 3))
    watch = next(c for c in few.checks if c.name == "watch")
    assert watch.status == "error"
    assert "max_user_watches" in (watch.fix or "")
    nfs = Probes(mounts=lambda: [Mount("/", "ext4"), Mount(str(library.resolve()), "nfs4")])
    watch = next(c for c in diagnose(settings, nfs).checks if c.name == "watch")
    assert watch.status == "warning"
    assert "nfs4" in watch.message
    watch = next(c for c in diagnose(settings).checks if c.name == "watch")
    assert watch.status == "ok"


def test_a_large_library_is_counted_within_a_budget(library: Path, tmp_path: Path) -> None:
    for i in range(20):
        shutil.copytree(library / "audio", library / f"more/{i}")
    report = diagnose(settings_for(library, tmp_path), Probes(max_entries=50))
    counted = next(c for c in report.checks if c.name == "library")
    assert counted.status == "ok"
    assert "at least" in counted.message


def test_the_disk_checked_is_the_database_files(library: Path, tmp_path: Path) -> None:
    """It looked at MEDIASHELF_DATA_DIR even when the database file lived elsewhere (on a
    full disk), and failed PostgreSQL installations on a data folder nothing used."""
    elsewhere = tmp_path / "db-disk" / "m.db"
    looked: list[Path] = []

    def usage(path: Path) -> Usage:
        looked.append(path)
        return Usage(1024**4, 0, 1024**4)

    probes = Probes(disk_usage=usage)
    settings = settings_for(library, tmp_path, database_url=f"sqlite:///{elsewhere}")
    disk = next(c for c in diagnose(settings, probes).checks if c.name == "disk")
    assert looked == [tmp_path]  # the nearest existing folder above the file's
    assert str(elsewhere.parent) in disk.message
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    settings = settings_for(library, blocked, database_url="postgresql://m@db.example/m")
    disk = next(c for c in diagnose(settings, probes).checks if c.name == "disk")
    assert disk.status == "ok"
    assert "PostgreSQL server" in disk.message
