"""POST /api/track/{video_id}/rescan_media: the §4 contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import update

from mediashelf.db.schema import Track
from mediashelf.db.session import Database
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.result import MEDIA_FIELDS, ProbeResult
from tests.probe.fake_probers import HangingProber
from tests.web.conftest import App, StaticRunner, index_library, make_app

VIDEO = "video/h264_aac.mp4"
AUDIO = "audio/flac24_5.1.flac"
BROKEN = "broken/truncated.mp4"


def test_happy_path_returns_every_media_field(app: App) -> None:
    track = app.track(VIDEO)
    response = app.client.post(f"/api/track/{track.video_id}/rescan_media")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["video_id"] == track.video_id
    assert set(MEDIA_FIELDS) <= set(body)
    assert body["resolution"] == "160x120"
    assert body["video_codec"] == "h264"
    assert body["audio_codec"] == "aac"
    assert body["bitrate"] > 0
    assert body["fields_updated"] == []  # nothing changed since the index
    assert body["changes"] == {}


def test_rescan_repairs_wrong_values_and_reports_the_diff(app: App) -> None:
    track = app.track(VIDEO)
    with app.db.unit_of_work() as session:
        session.execute(
            update(Track)
            .where(Track.id == track.id)
            .values(bitrate=1, resolution="1x1", width=1, height=1, video_codec="mpeg2video")
        )
    response = app.client.post(f"/api/track/{track.video_id}/rescan_media")
    assert response.status_code == 200
    body = response.json()
    assert body["fields_updated"] == ["bitrate", "height", "resolution", "video_codec", "width"]
    assert body["changes"]["resolution"] == ["1x1", "160x120"]
    assert body["changes"]["video_codec"] == ["mpeg2video", "h264"]
    after = app.track(VIDEO)
    assert (after.resolution, after.width, after.video_codec) == ("160x120", 160, "h264")
    assert after.bitrate == body["bitrate"]


def test_audit_event_records_the_field_diff(app: App) -> None:
    track = app.track(VIDEO)
    with app.db.unit_of_work() as session:
        session.execute(update(Track).where(Track.id == track.id).values(bitrate=1))
    app.client.post(f"/api/track/{track.video_id}/rescan_media", json={"refresh_size": True})
    events = app.audit()
    assert len(events) == 1
    event = events[0]
    assert (event.actor, event.video_id, event.job_id) == ("api", track.video_id, None)
    assert event.details["changes"] == {"bitrate": [1, app.track(VIDEO).bitrate]}
    assert event.details["refresh_size"] is True
    assert event.details["refresh_duration"] is False
    assert event.details["prober"].startswith("pyav")
    listed = app.client.get(f"/api/track/{track.video_id}/audit").json()
    assert listed["total"] == 1
    assert listed["events"][0]["details"]["changes"] == event.details["changes"]


def test_refresh_flags_off_keep_duration_and_size(app: App) -> None:
    track = app.track(VIDEO)
    with app.db.unit_of_work() as session:
        session.execute(
            update(Track).where(Track.id == track.id).values(duration=999.0, size_bytes=5)
        )
    body = app.client.post(f"/api/track/{track.video_id}/rescan_media", json={}).json()
    assert "duration" not in body["changes"]
    assert "size_bytes" not in body["changes"]
    after = app.track(VIDEO)
    assert (after.duration, after.size_bytes) == (999.0, 5)
    # The kept size is not the file's: the fingerprint stays, so the next scan corrects it.
    assert after.fingerprint_size == track.fingerprint_size


def test_refresh_flags_on_overwrite_duration_and_size(app: App) -> None:
    track = app.track(VIDEO)
    with app.db.unit_of_work() as session:
        session.execute(
            update(Track).where(Track.id == track.id).values(duration=999.0, size_bytes=5)
        )
    body = app.client.post(
        f"/api/track/{track.video_id}/rescan_media",
        json={"refresh_duration": True, "refresh_size": True},
    ).json()
    real_size = (app.library / VIDEO).stat().st_size
    assert body["changes"]["size_bytes"] == [5, real_size]
    assert body["changes"]["duration"][0] == 999.0
    assert body["duration"] == pytest.approx(1.0, rel=0.1)
    after = app.track(VIDEO)
    assert after.size_bytes == real_size
    assert after.duration == pytest.approx(body["duration"])


def test_empty_duration_is_filled_even_without_the_flag(app: App) -> None:
    track = app.track(VIDEO)
    with app.db.unit_of_work() as session:
        session.execute(update(Track).where(Track.id == track.id).values(duration=None))
    body = app.client.post(f"/api/track/{track.video_id}/rescan_media").json()
    assert body["changes"]["duration"][0] is None
    assert app.track(VIDEO).duration == pytest.approx(1.0, rel=0.1)


def test_audio_only_file_clears_video_fields(app: App) -> None:
    track = app.track(AUDIO)
    with app.db.unit_of_work() as session:  # as if an earlier bad probe had seen a video
        session.execute(
            update(Track)
            .where(Track.id == track.id)
            .values(width=640, height=480, resolution="640x480", video_codec="mjpeg")
        )
    body = app.client.post(f"/api/track/{track.video_id}/rescan_media").json()
    assert body["resolution"] is None
    assert body["width"] is None
    assert body["video_codec"] is None
    assert body["changes"]["resolution"] == ["640x480", None]
    assert body["audio_channels"] == 6
    assert body["audio_bit_depth"] == 24


def test_missing_file_is_404_and_changes_nothing(app: App) -> None:
    track = app.track(VIDEO)
    before = app.row(VIDEO)
    os.remove(app.library / VIDEO)
    response = app.client.post(f"/api/track/{track.video_id}/rescan_media")
    assert response.status_code == 404
    assert response.json() == {"status": "error", "error": "file not found"}
    assert app.row(VIDEO) == before
    assert app.audit() == []


@pytest.mark.parametrize("how", ["root gone", "mount point empty"])
def test_a_library_gone_offline_is_503_not_a_missing_file(app: App, how: str) -> None:
    """A dropped mount is not a deleted file: say the library is away, change nothing."""
    track = app.track(VIDEO)
    before = app.row(VIDEO)
    away = app.library.with_name("unmounted")
    if how == "root gone":
        app.library.rename(away)
    else:  # the mount point stays, empty, as after `umount`
        away.mkdir()
        for entry in app.library.iterdir():
            entry.rename(away / entry.name)
    response = app.client.post(f"/api/track/{track.video_id}/rescan_media")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    error = response.json()["error"]
    assert "library root" in error
    assert str(app.library) not in error  # server folders stay private
    assert app.row(VIDEO) == before
    assert app.audit() == []


def test_unknown_id_is_404(app: App) -> None:
    response = app.client.post("/api/track/AAAAAAAAAAA/rescan_media")
    assert response.status_code == 404
    assert response.json() == {"status": "error", "error": "track not found"}


@pytest.mark.parametrize(
    "bad_id", ["short", "has space!!", "x" * 65, "bad.id.value", "abc%2Fdefghij", "..%2F..%2Fetc"]
)
def test_malformed_id_is_400(app: App, bad_id: str) -> None:
    response = app.client.post(f"/api/track/{bad_id}/rescan_media")
    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert "malformed" in response.json()["error"]


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'"refresh"',
        b'{"refresh_duration": "yes"}',
        b'{"refresh_duration": 1}',
        b'{"refresh_everything": true}',
        b"\xff\xfe",
        b'{"refresh_duration": NaN}',
        b'{"refresh_size": Infinity}',
        b'{"refresh_duration": "\\u0000"}',
        b'{"refresh\\u0000": true}',
        b'{"refresh_duration": "\\ud800"}',
        b"[" * 40 + b"]" * 40,
    ],
)
def test_malformed_body_is_400_and_changes_nothing(app: App, raw: bytes) -> None:
    track = app.track(VIDEO)
    before = app.row(VIDEO)
    response = app.client.post(
        f"/api/track/{track.video_id}/rescan_media",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "error"
    assert "malformed body" in response.json()["error"]
    assert app.row(VIDEO) == before


def test_corrupt_file_is_422_and_changes_nothing(app: App) -> None:
    track = app.track(BROKEN)
    before = app.row(BROKEN)
    response = app.client.post(f"/api/track/{track.video_id}/rescan_media")
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "error"
    assert body["error_class"] == "corrupt"
    assert str(app.library) not in body["error"]  # no server path in responses
    assert app.row(BROKEN) == before
    assert app.audit() == []


def test_file_that_became_corrupt_loses_its_stale_facts(app: App) -> None:
    """Update rule 2: a changed file that no longer reads keeps no facts; the audit has them."""
    track = app.track(VIDEO)
    before = app.row(VIDEO)
    (app.library / VIDEO).write_bytes(b"\x00" * 4096)
    response = app.client.post(f"/api/track/{track.video_id}/rescan_media")
    assert response.status_code == 422
    assert response.json()["error_class"] == "corrupt"
    after = app.row(VIDEO)
    assert (after["probe_status"], after["probe_error_class"]) == ("error", "corrupt")
    assert after["video_codec"] is None
    assert after["resolution"] is None
    assert after["fingerprint_size"] == 4096
    assert after["failing_since"] is not None
    (event,) = app.audit()
    assert event.details["changes"]["video_codec"] == [before["video_codec"], None]
    assert event.details["error_class"] == "corrupt"


def test_hanging_probe_is_killed_and_answers_504(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    index_library(database, library, probe_pool)
    with ProbePool(HangingProber(match=""), processes=1, timeout_s=1.0) as hanging:
        app = make_app(database, library, probe_pool, runner=hanging)
        with app.client:
            before = app.row(VIDEO)
            track = app.track(VIDEO)
            response = app.client.post(f"/api/track/{track.video_id}/rescan_media")
            assert response.status_code == 504
            assert response.json()["error_class"] == "timeout"
            assert app.row(VIDEO) == before
            # The pool replaced the killed process: the next probe is answered (and times out
            # again, since this prober always hangs) rather than wedging the service.
            again = app.client.post(f"/api/track/{track.video_id}/rescan_media")
            assert again.status_code == 504


def test_unknown_values_keep_previous_ones(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    """N/A inside a stream that exists (no fps, no bitrate, no layout) keeps what was known."""
    index_library(database, library, probe_pool)
    partial = ProbeResult(
        container="mov,mp4,m4a,3gp,3g2,mj2",
        duration=None,
        size_bytes=None,
        bitrate=None,
        has_video=True,
        has_audio=True,
        width=None,
        height=None,
        video_codec="h264",
        video_fps=None,
        audio_codec="aac",
        audio_channels=None,
        audio_sample_rate=None,
        prober="static",
    )
    runner = StaticRunner(partial)
    app = make_app(database, library, probe_pool, runner=runner)
    with app.client:
        before = app.track(VIDEO)
        body = app.client.post(
            f"/api/track/{before.video_id}/rescan_media",
            json={"refresh_duration": True, "refresh_size": True},
        ).json()
        after = app.track(VIDEO)
    assert body["changes"] == {}
    assert runner.calls == [(library / VIDEO).resolve()]
    for name in ("width", "height", "resolution", "video_fps", "bitrate", "duration"):
        assert getattr(after, name) == getattr(before, name) is not None, name
    assert (after.audio_channels, after.audio_sample_rate) == (2, 44100)
    assert after.prober == "static"
