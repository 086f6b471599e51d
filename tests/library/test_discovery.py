"""Walking the library root: which files count as media and how they are named."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from mediashelf.errors import LibraryUnavailable
from mediashelf.library.discovery import DiscoveredFile, Skip, media_extension, walk
from tests.conftest import Corpus

MEDIA_KINDS = ("video", "audio", "broken", "big")


def _walk(root: Path, scope: str | None = None) -> tuple[list[DiscoveredFile], list[str]]:
    skips = _skips(root, scope)
    return skips[0], [f"{s.relpath!r} ({s.reason}): {s.detail}" for s in skips[1]]


def _skips(root: Path, scope: str | None = None) -> tuple[list[DiscoveredFile], list[Skip]]:
    skipped: list[Skip] = []
    return list(walk(root, scope=scope, on_skip=skipped.append)), skipped


def _relpaths(found: list[DiscoveredFile]) -> list[str]:
    return sorted(f.relpath for f in found)


def _media_relpaths(corpus: Corpus, *kinds: str) -> list[str]:
    return sorted(f.relpath for f in corpus.of_kind(*kinds))


def test_walk_finds_exactly_the_media_files(corpus: Corpus) -> None:
    found, warnings = _walk(corpus.root)
    assert _relpaths(found) == _media_relpaths(corpus, *MEDIA_KINDS)
    assert warnings == []
    ignored = {f.relpath for f in corpus.of_kind("ignored")}
    assert ignored == {"misc/notes.txt", "Music/Some Artist/Album (2020)/cover.jpg"}
    assert not ignored & {f.relpath for f in found}


def test_relpaths_are_relative_posix_and_facts_match_the_file(corpus: Corpus) -> None:
    found, _ = _walk(corpus.root)
    assert len(found) == len({f.relpath for f in found})
    for entry in found:
        pure = PurePosixPath(entry.relpath)
        assert not pure.is_absolute()
        assert "\\" not in entry.relpath
        assert ".." not in pure.parts
        assert pure.as_posix() == entry.relpath
        info = (corpus.root / entry.relpath).stat()
        assert (entry.size, entry.mtime_ns) == (info.st_size, info.st_mtime_ns)
        assert entry.filetype == entry.relpath.rsplit(".", 1)[1].lower()


def test_non_ascii_nested_and_bracketed_names_are_found(corpus: Corpus) -> None:
    by_relpath = {f.relpath: f for f in _walk(corpus.root)[0]}
    assert "日本語/テスト.mp3" in by_relpath
    assert "Música/Ñandú \u2013 canción.flac" in by_relpath
    nested = by_relpath["Music/Some Artist/Album (2020)/01 - First Song.m4a"]
    assert nested.title == "01 - First Song"
    clip = by_relpath["Videos/My Clip [dQw4w9WgXcQ].mp4"]
    assert clip.video_id == "dQw4w9WgXcQ"
    assert clip.title == "My Clip"
    assert by_relpath["big/huge.mkv"].size == 8 * 1024**3


def test_hidden_files_and_folders_are_skipped(library: Path) -> None:
    shutil.copyfile(library / "audio/plain.mp3", library / ".hidden.mp3")
    (library / ".cache").mkdir()
    shutil.copyfile(library / "audio/plain.mp3", library / ".cache/inside.mp3")
    shutil.copyfile(library / "audio/plain.mp3", library / "audio/.partial.mp3")
    found = _relpaths(_walk(library)[0])
    assert "audio/plain.mp3" in found
    assert not [r for r in found if any(part.startswith(".") for part in r.split("/"))]


def test_extensions_are_case_insensitive(library: Path) -> None:
    shutil.copyfile(library / "audio/plain.mp3", library / "audio/LOUD.MP3")
    by_relpath = {f.relpath: f for f in _walk(library)[0]}
    assert by_relpath["audio/LOUD.MP3"].filetype == "mp3"
    assert media_extension("x.MKV") == "mkv"
    assert media_extension("noext") is None
    assert media_extension("notes.txt") is None


def test_scope_limits_the_walk_to_a_sub_folder(corpus: Corpus) -> None:
    found, _ = _walk(corpus.root, scope="audio")
    expected = [r for r in _media_relpaths(corpus, *MEDIA_KINDS) if r.startswith("audio/")]
    assert _relpaths(found) == expected
    assert expected


def test_nested_scope_keeps_relpaths_relative_to_the_root(corpus: Corpus) -> None:
    found, _ = _walk(corpus.root, scope="Music/Some Artist")
    assert _relpaths(found) == ["Music/Some Artist/Album (2020)/01 - First Song.m4a"]


def test_scope_leaving_the_root_is_refused(corpus: Corpus) -> None:
    with pytest.raises(LibraryUnavailable):
        _walk(corpus.root / "audio", scope="../video")


def test_symlinks_leaving_the_root_are_ignored_with_a_warning(
    library: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(library / "audio/plain.mp3", outside / "secret.mp3")
    (library / "audio/escape.mp3").symlink_to(outside / "secret.mp3")
    (library / "escape_dir").symlink_to(outside, target_is_directory=True)

    found, warnings = _walk(library)

    relpaths = _relpaths(found)
    assert "audio/escape.mp3" not in relpaths
    assert not [r for r in relpaths if r.startswith("escape_dir")]
    assert len(warnings) == 2
    assert any("audio/escape.mp3" in w for w in warnings)
    assert any("escape_dir" in w for w in warnings)
    assert not [w for w in warnings if str(outside) in w]


def test_symlink_to_a_file_inside_the_root_is_found(library: Path) -> None:
    (library / "favourite.mp3").symlink_to(Path("audio/plain.mp3"))
    by_relpath = {f.relpath: f for f in _walk(library)[0]}
    assert "favourite.mp3" in by_relpath
    assert by_relpath["favourite.mp3"].size == (library / "audio/plain.mp3").stat().st_size


def test_unreadable_folder_is_reported_and_the_rest_is_found(
    library: Path, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where chmod 000 does not stop reads: fake the refusal at scandir().
    locked = (library / "audio").resolve()
    real_scandir: Callable[..., Any] = os.scandir

    def refusing_scandir(path: Any = ".") -> Any:
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    found, warnings = _walk(library)

    expected = [
        r for r in _media_relpaths(corpus, "video", "audio", "broken") if not r.startswith("audio/")
    ]
    assert _relpaths(found) == expected
    assert len(warnings) == 1
    assert "'audio'" in warnings[0]
    assert "Permission denied" in warnings[0]
    assert str(library) not in warnings[0]


def test_missing_root_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(LibraryUnavailable):
        _walk(tmp_path / "not-mounted")


def test_root_that_is_a_file_is_unavailable(corpus: Corpus) -> None:
    with pytest.raises(LibraryUnavailable):
        _walk(corpus.root / "audio/plain.mp3")


def test_directory_symlink_loops_end(library: Path, corpus: Corpus) -> None:
    (library / "video/loop").symlink_to(Path("../video"), target_is_directory=True)
    (library / "misc/up").symlink_to(Path(".."), target_is_directory=True)
    (library / "Music/a").mkdir()
    (library / "Music/b").mkdir()
    (library / "Music/a/to_b").symlink_to(Path("../b"), target_is_directory=True)
    (library / "Music/b/to_a").symlink_to(Path("../a"), target_is_directory=True)

    limit = 1000  # far more than the library holds: reaching it means the walk loops
    found = list(islice(walk(library, on_skip=lambda _: None), limit))

    assert len(found) < limit
    assert set(_media_relpaths(corpus, "video", "audio", "broken")) <= {f.relpath for f in found}


def test_symlink_back_to_the_root_lists_each_file_once(library: Path) -> None:
    shutil.copyfile(library / "audio/plain.mp3", library / "top.mp3")
    (library / "misc/up").symlink_to(Path(".."), target_is_directory=True)

    found = [f.relpath for f in _walk(library)[0]]

    real_files = [os.path.realpath(library / r) for r in found]
    assert len(real_files) == len(set(real_files)), sorted(found)


def test_hostile_entries_are_skipped_counted_and_named(library: Path) -> None:
    (library / "Music/self").symlink_to(Path("self"))  # resolving it loops (ELOOP)
    (library / "Music/gone.mp3").symlink_to(Path("nowhere.mp3"))  # dangling, media name
    (library / "Music/gone.txt").symlink_to(Path("nowhere.txt"))  # dangling, not media
    (library / "video/up").symlink_to(Path(".."), target_is_directory=True)  # a cycle
    (library / "dup").symlink_to(Path("Music"), target_is_directory=True)  # a second path
    bad = os.fsencode(str(library / "audio")) + b"/bad-\xff-name.mp3"
    with open(bad, "wb") as handle:
        handle.write(b"x")

    found, skips = _skips(library)

    reasons = {skip.relpath: skip.reason for skip in skips}
    assert reasons["Music/self"] == "symlink_loop"
    assert reasons["Music/gone.mp3"] == "dangling_link"
    assert reasons["video/up"] == "symlink_loop"
    assert reasons["dup"] == "duplicate_link"
    assert reasons["audio/bad-\ufffd-name.mp3"] == "bad_name"
    assert "Music/gone.txt" not in reasons  # not media: passed over silently
    assert all(str(library) not in skip.detail for skip in skips)
    relpaths = {f.relpath for f in found}
    assert "audio/plain.mp3" in relpaths
    assert not [r for r in relpaths if r.startswith(("dup/", "video/up/"))]


def test_skips_come_in_relpath_order_and_a_resumed_walk_reports_only_those_after(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lib"
    (root / "a").mkdir(parents=True)
    for name in ("b.mp3", "d.mp3", "f.mp3"):
        (root / "a" / name).write_bytes(b"x")
    for name in ("e.mp3", "c.mp3", "a.mp3", "g.mp3"):  # created out of order on purpose
        (root / "a" / name).symlink_to(tmp_path / "nowhere")
    seen: list[str] = []
    files = [f.relpath for f in walk(root, on_skip=lambda s: seen.append(s.relpath))]
    assert files == ["a/b.mp3", "a/d.mp3", "a/f.mp3"]
    assert seen == ["a/a.mp3", "a/c.mp3", "a/e.mp3", "a/g.mp3"]

    resumed: list[str] = []
    after = [
        f.relpath for f in walk(root, after="a/d.mp3", on_skip=lambda s: resumed.append(s.relpath))
    ]
    assert after == ["a/f.mp3"]
    assert resumed == ["a/e.mp3", "a/g.mp3"]  # those up to the resume point were reported


def _link_maze(library: Path) -> None:
    """Links to folders inside the library, each kind a scan has met."""
    (library / "Music/a").mkdir()
    shutil.copyfile(library / "audio/plain.mp3", library / "Music/a/song.mp3")
    (library / "Music/loop").symlink_to(library, target_is_directory=True)  # to the root
    (library / "Music/here").symlink_to(Path("."), target_is_directory=True)  # to itself
    (library / "Music/0-alias").symlink_to(Path("a"), target_is_directory=True)  # sorts first
    (library / "video/to-music").symlink_to(Path("../Music/a"), target_is_directory=True)
    (library / "audio/to-video").symlink_to(Path("../video"), target_is_directory=True)


def test_a_folder_lists_the_same_files_whether_the_scan_starts_there_or_at_the_root(
    library: Path,
) -> None:
    _link_maze(library)
    full, _ = _skips(library)
    folders = sorted({str(PurePosixPath(f.relpath).parent) for f in full} - {"."})
    assert "Music/a" in folders
    for folder in folders:
        scoped, _ = _skips(library, folder)
        under = [f for f in full if f.relpath.startswith(folder + "/")]
        assert scoped == under, folder


def test_links_to_folders_are_skipped_and_each_folder_walked_under_its_own_path(
    library: Path,
) -> None:
    _link_maze(library)
    found, skips = _skips(library)
    reasons = {skip.relpath: skip.reason for skip in skips}
    assert reasons["Music/loop"] == reasons["Music/here"] == "symlink_loop"
    assert reasons["Music/0-alias"] == reasons["video/to-music"] == "duplicate_link"
    assert reasons["audio/to-video"] == "duplicate_link"
    relpaths = {f.relpath for f in found}
    assert "Music/a/song.mp3" in relpaths
    real = [os.path.realpath(library / r) for r in relpaths]
    assert len(real) == len(set(real))  # no file under two paths


@pytest.mark.parametrize("scope", ["Music/loop", "Music/0-alias", "video/to-music/"])
def test_a_scope_through_a_link_is_refused(library: Path, scope: str) -> None:
    _link_maze(library)
    with pytest.raises(LibraryUnavailable, match="not a link"):
        list(walk(library, scope=scope))
