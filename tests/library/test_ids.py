"""Video ids and titles from file names: the yt-dlp `[ID]` convention and the derived fallback."""

from __future__ import annotations

import re

import pytest

from mediashelf.library.ids import (
    bracket_id,
    derived_id,
    is_valid_video_id,
    title_for,
    video_id_for,
)

URL_SAFE_11 = re.compile(r"[A-Za-z0-9_-]{11}")


@pytest.mark.parametrize(
    ("relpath", "video_id", "title"),
    [
        ("Title [dQw4w9WgXcQ].mp4", "dQw4w9WgXcQ", "Title"),
        ("Videos/My Clip [dQw4w9WgXcQ].mp4", "dQw4w9WgXcQ", "My Clip"),
        ("a/b/Nested  Name   [abc_DEF-12].mkv", "abc_DEF-12", "Nested  Name"),
        ("NoSpace[abcdef].webm", "abcdef", "NoSpace"),
        ("Six [a1b2c3].mp3", "a1b2c3", "Six"),
        (f"Long [{'x' * 64}].mp4", "x" * 64, "Long"),
        ("Ñandú – canción [Zz_-09aaBB].flac", "Zz_-09aaBB", "Ñandú – canción"),
        ("日本語/テスト [dQw4w9WgXcQ].mp3", "dQw4w9WgXcQ", "テスト"),
    ],
)
def test_bracketed_id_is_used(relpath: str, video_id: str, title: str) -> None:
    assert bracket_id(relpath) == video_id
    assert video_id_for(relpath) == video_id
    assert title_for(relpath) == title
    assert is_valid_video_id(video_id_for(relpath))


@pytest.mark.parametrize(
    ("relpath", "title"),
    [
        ("Short [abcde].mp4", "Short [abcde]"),
        (f"Too long [{'y' * 65}].mp4", f"Too long [{'y' * 65}]"),
        ("Bad chars [abc.def!].mp4", "Bad chars [abc.def!]"),
        ("Space inside [abc defg].mp4", "Space inside [abc defg]"),
        ("Not at end [dQw4w9WgXcQ] live.mp4", "Not at end [dQw4w9WgXcQ] live"),
        ("Unclosed [dQw4w9WgXcQ.mp4", "Unclosed [dQw4w9WgXcQ"),
        ("Round (dQw4w9WgXcQ).mp4", "Round (dQw4w9WgXcQ)"),
        ("Folder [dQw4w9WgXcQ]/song.mp3", "song"),
        ("plain.mp3", "plain"),
        ("日本語/テスト.mp3", "テスト"),
    ],
)
def test_without_a_valid_bracket_id_the_id_is_derived(relpath: str, title: str) -> None:
    assert bracket_id(relpath) is None
    assert video_id_for(relpath) == derived_id(relpath)
    assert title_for(relpath) == title


def test_a_name_that_is_only_an_id_keeps_the_stem_as_title() -> None:
    assert video_id_for("[dQw4w9WgXcQ].mp4") == "dQw4w9WgXcQ"
    assert title_for("[dQw4w9WgXcQ].mp4") == "[dQw4w9WgXcQ]"


@pytest.mark.parametrize(
    "relpath", ["plain.mp3", "Música/Ñandú – canción.flac", "日本語/テスト.mp3", "a b/c [x].mp4"]
)
def test_derived_id_is_eleven_url_safe_characters_and_stable(relpath: str) -> None:
    first = derived_id(relpath)
    assert URL_SAFE_11.fullmatch(first)
    assert derived_id(relpath) == first
    assert video_id_for(relpath) == first
    assert is_valid_video_id(first)


def test_derived_id_differs_per_relpath() -> None:
    relpaths = [
        "a.mp3",
        "A.mp3",
        "b/a.mp3",
        "a.mp4",
        "audio/plain.mp3",
        "audio/plain.mp3 ",
        "日本語/テスト.mp3",
        "日本語/テスト2.mp3",
    ]
    ids = [derived_id(r) for r in relpaths]
    assert len(set(ids)) == len(relpaths)


def test_derived_id_is_pinned() -> None:
    # Derived ids are stored and appear in URLs: a change of the hash would re-key every track.
    assert derived_id("audio/plain.mp3") == "Bz46lw5s851"
    assert derived_id("日本語/テスト.mp3") == "JF9Fjv85gGm"
    assert derived_id("audio/plain.mp3") != derived_id("audio/plain.MP3")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("dQw4w9WgXcQ", True),
        ("abcdef", True),
        ("a_b-c_", True),
        ("x" * 64, True),
        ("abcde", False),
        ("x" * 65, False),
        ("", False),
        ("abc def", False),
        ("abc/def", False),
        ("abc.def", False),
        ("abcdef\n", False),
        ("ñandúes", False),
        ("../../etc", False),
    ],
)
def test_is_valid_video_id(value: str, valid: bool) -> None:
    assert is_valid_video_id(value) is valid
