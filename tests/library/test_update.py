"""The update rules of DESIGN §3 as pure functions over in-memory tracks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mediashelf.db.schema import Track
from mediashelf.errors import ProbeCorrupt, ProbeTimeout
from mediashelf.library.update import (
    Fingerprint,
    apply_failure,
    apply_success,
    facts_are_stale,
    json_changes,
    media_values,
    plan_changes,
)
from mediashelf.probe.normalize import NORMALIZER_VERSION
from mediashelf.probe.result import MEDIA_FIELDS, VIDEO_FIELDS, ProbeResult

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EARLIER = datetime(2024, 1, 1, tzinfo=UTC)


def _track(**overrides: Any) -> Track:
    values: dict[str, Any] = {
        "video_id": "dQw4w9WgXcQ",
        "relpath": "Videos/clip [dQw4w9WgXcQ].mp4",
        "title": "clip",
        "filetype": "mp4",
        "size_bytes": 1000,
        "duration": 60.0,
        "container": "mov,mp4,m4a,3gp,3g2,mj2",
        "bitrate": 800_000,
        "width": 1920,
        "height": 1080,
        "resolution": "1920x1080",
        "video_codec": "h264",
        "video_fps": 25.0,
        "video_bitrate": 600_000,
        "audio_codec": "aac",
        "audio_bitrate": 128_000,
        "audio_channels": 2,
        "audio_channel_layout": "stereo",
        "audio_sample_rate": 44100,
        "audio_bit_depth": None,
        "probe_status": "ok",
        "probe_failures": 0,
        "fingerprint_size": 1000,
        "fingerprint_mtime_ns": 1,
    }
    values.update(overrides)
    return Track(**values)


def _result(**overrides: Any) -> ProbeResult:
    """A result that matches `_track()` exactly."""
    values: dict[str, Any] = {
        "container": "mov,mp4,m4a,3gp,3g2,mj2",
        "duration": 60.0,
        "size_bytes": 1000,
        "bitrate": 800_000,
        "has_video": True,
        "has_audio": True,
        "width": 1920,
        "height": 1080,
        "video_codec": "h264",
        "video_fps": 25.0,
        "video_bitrate": 600_000,
        "audio_codec": "aac",
        "audio_bitrate": 128_000,
        "audio_channels": 2,
        "audio_channel_layout": "stereo",
        "audio_sample_rate": 44100,
        "audio_bit_depth": None,
        "prober": "pyav test",
        "probe_ms": 1.5,
    }
    values.update(overrides)
    return ProbeResult(**values)


def _plan(track: Track, result: ProbeResult, *, duration: bool, size: bool) -> dict[str, Any]:
    return plan_changes(media_values(track), result, refresh_duration=duration, refresh_size=size)


def test_media_values_reads_every_media_column() -> None:
    values = media_values(_track())
    assert set(values) == set(MEDIA_FIELDS)
    assert values["resolution"] == "1920x1080"


def test_unchanged_values_produce_no_change() -> None:
    assert _plan(_track(), _result(), duration=True, size=True) == {}


def test_changed_values_are_old_new_pairs() -> None:
    result = _result(width=1280, height=720, video_codec="hevc", audio_channels=6)
    changes = _plan(_track(), result, duration=False, size=False)
    assert changes == {
        "width": (1920, 1280),
        "height": (1080, 720),
        "resolution": ("1920x1080", "1280x720"),
        "video_codec": ("h264", "hevc"),
        "audio_channels": (2, 6),
    }
    assert json_changes(changes)["width"] == [1920, 1280]


def test_audio_only_result_clears_every_video_field() -> None:
    result = _result(
        has_video=False,
        width=None,
        height=None,
        video_codec=None,
        video_fps=None,
        video_bitrate=None,
    )
    changes = _plan(_track(), result, duration=False, size=False)
    assert changes == {
        "width": (1920, None),
        "height": (1080, None),
        "resolution": ("1920x1080", None),
        "video_codec": ("h264", None),
        "video_fps": (25.0, None),
        "video_bitrate": (600_000, None),
    }
    assert set(changes) == set(VIDEO_FIELDS)


def test_video_only_result_clears_the_audio_fields_that_were_set() -> None:
    result = _result(
        has_audio=False,
        audio_codec=None,
        audio_bitrate=None,
        audio_channels=None,
        audio_channel_layout=None,
        audio_sample_rate=None,
    )
    changes = _plan(_track(), result, duration=False, size=False)
    assert changes == {
        "audio_codec": ("aac", None),
        "audio_bitrate": (128_000, None),
        "audio_channels": (2, None),
        "audio_channel_layout": ("stereo", None),
        "audio_sample_rate": (44100, None),
    }  # audio_bit_depth was already empty: no entry


def test_unknown_value_inside_an_existing_stream_keeps_the_old_value() -> None:
    # The N/A fallback: the stream is there, the backend just could not tell.
    result = _result(
        video_bitrate=None,
        video_fps=None,
        audio_bitrate=None,
        audio_channel_layout=None,
        bitrate=None,
        container=None,
        width=None,
        height=None,
    )
    assert result.has_video
    assert result.has_audio
    assert _plan(_track(), result, duration=True, size=True) == {}


@pytest.mark.parametrize(
    "stale",
    [{"fingerprint_size": 999}, {"probe_version": NORMALIZER_VERSION - 1, "probed_at": EARLIER}],
    ids=["file changed", "older normaliser"],
)
def test_stale_facts_do_not_survive_an_unknown(stale: dict[str, Any]) -> None:
    track = _track(audio_bit_depth=16, video_bitrate=600_000, **stale)
    fingerprint = Fingerprint(1000, 1)
    assert facts_are_stale(track, fingerprint)
    result = _result(audio_bit_depth=None, video_bitrate=None, duration=None)
    changes = plan_changes(
        media_values(track), result, refresh_duration=False, refresh_size=False,
        authoritative=facts_are_stale(track, fingerprint),
    )  # fmt: skip
    assert changes == {"audio_bit_depth": (16, None), "video_bitrate": (600_000, None)}


def test_current_facts_of_an_unchanged_file_are_not_stale() -> None:
    track = _track(probe_version=NORMALIZER_VERSION, probed_at=EARLIER)
    assert not facts_are_stale(track, Fingerprint(1000, 1))


def test_unknown_value_on_an_empty_field_stays_empty_without_a_change() -> None:
    track = _track(video_bitrate=None)
    assert "video_bitrate" not in _plan(
        track, _result(video_bitrate=None), duration=True, size=True
    )


def test_new_values_fill_empty_fields() -> None:
    track = _track(audio_bit_depth=None, video_fps=None)
    changes = _plan(track, _result(audio_bit_depth=24, video_fps=29.97), duration=False, size=False)
    assert changes == {"audio_bit_depth": (None, 24), "video_fps": (None, 29.97)}


@pytest.mark.parametrize(
    ("refresh_duration", "refresh_size", "expected"),
    [
        (False, False, {}),
        (True, False, {"duration": (60.0, 61.5)}),
        (False, True, {"size_bytes": (1000, 2000)}),
        (True, True, {"duration": (60.0, 61.5), "size_bytes": (1000, 2000)}),
    ],
)
def test_duration_and_size_are_overwritten_only_when_asked(
    refresh_duration: bool, refresh_size: bool, expected: dict[str, Any]
) -> None:
    result = _result(duration=61.5, size_bytes=2000)
    assert _plan(_track(), result, duration=refresh_duration, size=refresh_size) == expected


def test_empty_duration_and_size_are_filled_without_refresh_flags() -> None:
    track = _track(duration=None, size_bytes=None)
    changes = _plan(track, _result(duration=61.5, size_bytes=2000), duration=False, size=False)
    assert changes == {"duration": (None, 61.5), "size_bytes": (None, 2000)}


def test_refresh_with_an_unknown_duration_keeps_the_old_one() -> None:
    assert _plan(_track(), _result(duration=None), duration=True, size=True) == {}


def test_apply_success_writes_changes_and_a_clean_probe_record() -> None:
    track = _track(
        probe_status="error",
        probe_error_class="corrupt",
        probe_error="Not a readable media file",
        probe_failures=3,
        missing_since=EARLIER,
    )
    result = _result(width=1280, height=720)
    changes = _plan(track, result, duration=False, size=False)

    apply_success(track, result, changes, Fingerprint(size=4321, mtime_ns=99), NOW)

    assert (track.width, track.height, track.resolution) == (1280, 720, "1280x720")
    assert track.video_codec == "h264"
    assert track.probe_status == "ok"
    assert track.probe_error_class is None
    assert track.probe_error is None
    assert track.probe_failures == 0
    assert (track.fingerprint_size, track.fingerprint_mtime_ns) == (4321, 99)
    assert track.prober == "pyav test"
    assert track.probe_ms == 1.5
    assert track.probed_at == NOW
    assert track.updated_at == NOW
    assert track.missing_since is None


def test_apply_success_without_fingerprint_keeps_the_old_one() -> None:
    track = _track(fingerprint_size=7, fingerprint_mtime_ns=8)
    apply_success(track, _result(), {}, None, NOW)
    assert (track.fingerprint_size, track.fingerprint_mtime_ns) == (7, 8)
    assert track.probe_status == "ok"


def test_apply_failure_of_a_changed_file_clears_its_media_facts() -> None:
    track = _track(probe_failures=2)
    before = media_values(track)

    changes = apply_failure(
        track, ProbeCorrupt("Not a readable media file: bad"), Fingerprint(5, 6), NOW
    )

    cleared = {name for name, value in before.items() if value is not None} - {"size_bytes"}
    assert changes == {
        **{name: (before[name], None) for name in cleared},
        "size_bytes": (before["size_bytes"], 5),  # the file's own fact: its new size
    }
    assert all(getattr(track, name) is None for name in cleared)
    assert track.size_bytes == 5
    assert track.probe_version == NORMALIZER_VERSION
    assert track.failing_since == NOW
    assert track.probe_status == "error"
    assert track.probe_error_class == "corrupt"
    assert track.probe_error == "Not a readable media file: bad"
    assert track.probe_failures == 3
    assert (track.fingerprint_size, track.fingerprint_mtime_ns) == (5, 6)
    assert track.probed_at == NOW
    assert track.updated_at == NOW


def test_apply_failure_of_an_unchanged_file_keeps_its_media_facts() -> None:
    track = _track(failing_since=EARLIER)
    before = media_values(track)

    changes = apply_failure(track, ProbeTimeout(), Fingerprint(1000, 1), NOW)

    assert changes == {}
    assert media_values(track) == before
    assert track.probe_status == "error"
    assert track.failing_since == EARLIER  # the first failure's time is kept


def test_apply_success_records_the_normalizer_version_and_ends_failing() -> None:
    track = _track(failing_since=EARLIER, probe_version=1)
    apply_success(track, _result(), {}, None, NOW)
    assert track.probe_version == NORMALIZER_VERSION
    assert track.failing_since is None


def test_apply_failure_counts_from_an_unset_counter() -> None:
    track = _track(probe_failures=None)
    apply_failure(track, ProbeTimeout(), None, NOW)
    apply_failure(track, ProbeTimeout(), None, NOW)
    assert track.probe_failures == 2
    assert track.probe_error_class == "timeout"
    assert track.probe_error == "Probing the file took too long and was stopped."
    assert track.fingerprint_size == 1000


def test_failure_then_success_resets_the_counter() -> None:
    track = _track()
    apply_failure(track, ProbeCorrupt(), None, EARLIER)
    apply_success(track, _result(), {}, None, NOW)
    assert track.probe_failures == 0
    assert track.probe_status == "ok"
    assert track.probe_error is None
