"""The media extension list and its settings."""

from __future__ import annotations

import pytest

from mediashelf.config import Settings
from mediashelf.library.discovery import media_extension
from mediashelf.probe.formats import AUDIO_EXTENSIONS, MEDIA_EXTENSIONS, media_extensions

ISSUE_EXTENSIONS = [
    "aifc",
    "au",
    "snd",
    "caf",
    "w64",
    "spx",
    "tta",
    "tak",
    "dff",
    "ac3",
    "eac3",
    "dts",
    "amr",
    "gsm",
    "voc",
    "3g2",
    "mpv",
    "m2v",
    "rm",
    "rmvb",
    "asf",
    "divx",
    "f4v",
    "mxf",
    "nut",
    "y4m",
]


@pytest.mark.parametrize("ext", ISSUE_EXTENSIONS)
def test_extensions_libav_reads_are_media(ext: str) -> None:
    assert ext in MEDIA_EXTENSIONS
    assert media_extension(f"clip.{ext.upper()}") == ext


@pytest.mark.parametrize(
    "ext", ["m3u", "m3u8", "cue", "pls", "jpg", "png", "gif", "srt", "ass", "vtt", "mid", "txt"]
)
def test_playlists_images_subtitles_midi_and_text_stay_out(ext: str) -> None:
    assert ext not in MEDIA_EXTENSIONS


def test_extra_and_exclude_adjust_the_default_set() -> None:
    configured = media_extensions(extra=[".XYZ", " abc "], exclude=["mp3", ".WAV"])
    assert {"xyz", "abc"} <= configured
    assert "mp3" not in configured
    assert "wav" not in configured
    assert configured - {"xyz", "abc"} == MEDIA_EXTENSIONS - {"mp3", "wav"}
    assert media_extension("a.xyz", extensions=configured) == "xyz"
    assert media_extension("a.mp3", extensions=configured) is None


def test_settings_read_the_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIASHELF_EXTENSIONS_EXTRA", "xyz, .ABC,,")
    monkeypatch.setenv("MEDIASHELF_EXTENSIONS_EXCLUDE", "mp3")
    settings = Settings()
    assert settings.extensions_extra == ("xyz", "abc")
    assert settings.extensions_exclude == ("mp3",)
    configured = media_extensions(settings.extensions_extra, settings.extensions_exclude)
    assert "abc" in configured
    assert "mp3" not in configured
    assert "flac" in AUDIO_EXTENSIONS & configured
