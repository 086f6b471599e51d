"""Coalescing a burst of changes into scan scopes, on real folders (no watcher needed)."""

from __future__ import annotations

from pathlib import Path

from mediashelf.library.watch_scopes import (
    Burst,
    Change,
    Kind,
    ancestors,
    common_ancestor,
    covering,
    plan_scopes,
)
from mediashelf.library.watch_support import (
    Mount,
    RootLook,
    mounts_inside,
    no_event_mount,
    no_events,
    parse_mountinfo,
    survey,
    too_many_folders,
)


def test_covering_keeps_the_fewest_folders() -> None:
    folders = ["a/b/c", "a/b", "a/bc", "d", "d/e/f", "a/b/c/d"]
    assert covering(folders) == ["a/b", "a/bc", "d"]
    assert covering(["x", ""]) == [""]


def test_common_ancestor() -> None:
    assert common_ancestor(["a/b/c", "a/b/d", "a/b"]) == "a/b"
    assert common_ancestor(["a/b", "ab/c"]) == ""
    assert common_ancestor(["Music/A/X", "Music/B"]) == "Music"


def test_too_many_folders_become_their_common_ancestor() -> None:
    albums = [f"Music/Artist {i}/Album" for i in range(12)]
    assert plan_scopes(albums, max_scopes=4) == ["Music"]
    assert plan_scopes(albums[:3], max_scopes=4) == sorted(albums[:3])


def _touch(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_a_burst_waits_for_quiet_then_names_folders(tmp_path: Path) -> None:
    look = RootLook(tmp_path)
    _touch(tmp_path / "Music/A/Album/01.flac")
    _touch(tmp_path / "Music/B/02.flac")
    burst = Burst(quiet_s=5)
    burst.add([Change(Kind.ADDED, "Music/A/Album/01.flac"),
               Change(Kind.MODIFIED, "Music/B/02.flac")], look, now=100.0)  # fmt: skip
    assert not burst.due(104.9)
    assert burst.due(105.0)
    assert burst.settle(look, 105.0) == ["Music/A/Album", "Music/B"]
    assert burst.empty


def test_a_file_that_moved_during_the_quiet_period_waits_another(tmp_path: Path) -> None:
    look = RootLook(tmp_path)
    song = tmp_path / "in/song.flac"
    _touch(song, b"half")
    burst = Burst(quiet_s=5)
    burst.add([Change(Kind.ADDED, "in/song.flac")], look, now=0.0)
    with song.open("ab") as handle:  # written to without an event reaching the burst
        handle.write(b" and the rest")
    assert burst.settle(look, 5.0) is None
    assert not burst.due(9.0)
    assert burst.settle(look, 10.0) == ["in"]


def test_files_inside_a_new_folder_that_no_event_named_are_checked(tmp_path: Path) -> None:
    look = RootLook(tmp_path)
    _touch(tmp_path / "new/album/01.flac")
    burst = Burst(quiet_s=1)
    burst.add([Change(Kind.ADDED, "new")], look, now=0.0)  # the files' own events were missed
    assert burst.settle(look, 1.0) is None  # seen for the first time: one more quiet period
    assert burst.settle(look, 2.0) == ["new"]


def test_a_deleted_folder_is_scanned_from_the_nearest_folder_left(tmp_path: Path) -> None:
    look = RootLook(tmp_path)
    (tmp_path / "Artist").mkdir()
    burst = Burst(quiet_s=1)
    burst.add([Change(Kind.DELETED, "Artist/Album/01.flac"), Change(Kind.DELETED, "Artist/Album")],
              look, now=0.0)  # fmt: skip
    assert burst.settle(look, 1.0) == ["Artist"]


def test_a_rename_keeps_both_ends_in_one_scope(tmp_path: Path) -> None:
    look = RootLook(tmp_path)
    _touch(tmp_path / "Music/Sorted/Artist/01.flac")
    (tmp_path / "Inbox").mkdir()
    _touch(tmp_path / "Music/Other/05.flac")
    burst = Burst(quiet_s=1)
    burst.add([Change(Kind.DELETED, "Inbox/01.flac"),
               Change(Kind.ADDED, "Music/Sorted/Artist/01.flac"),
               Change(Kind.MODIFIED, "Music/Other/05.flac")], look, now=0.0)  # fmt: skip
    assert burst.settle(look, 1.0) == [""]
    burst.add([Change(Kind.DELETED, "Music/Other/old.flac"),
               Change(Kind.ADDED, "Music/Sorted/Artist/01.flac")], look, now=2.0)  # fmt: skip
    assert burst.settle(look, 3.0) == ["Music"]


def test_a_hand_over_names_the_outermost_deleted_paths(tmp_path: Path) -> None:
    """A folder deleted file by file is one deleted folder: its tracks are counted once."""
    look = RootLook(tmp_path)
    _touch(tmp_path / "Kept/a.flac")
    burst = Burst(quiet_s=1.0)
    burst.add([Change(Kind.DELETED, "Gone/x/1.flac"), Change(Kind.DELETED, "Gone/x"),
               Change(Kind.DELETED, "Gone"), Change(Kind.DELETED, "Gone2/b.flac"),
               Change(Kind.DELETED, "Kept/a.flac")], look, now=0.0)  # fmt: skip
    assert burst.settle(look, 2.0) == [""]
    assert burst.handed_deleted == ["Gone", "Gone2/b.flac"]  # Kept/a.flac is there again
    assert ancestors("a/b/c.flac") == ["a", "a/b"]


def test_mountinfo_and_file_system_types(tmp_path: Path) -> None:
    text = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:35 / /srv/my\\040media rw shared:2 - nfs4 nas:/export rw\n"
        "41 22 0:36 / /srv/local/cloud rw shared:3 - fuse.rclone remote: rw\n"
    )
    mounts = parse_mountinfo(text)
    assert Mount("/srv/my media", "nfs4", 40) in mounts
    assert mounts_inside(Path("/srv"), mounts) == {"my media": 40, "local/cloud": 41}
    assert mounts_inside(Path("/srv/my media"), mounts) == {}  # the root's own is not inside
    assert no_events("nfs4")
    assert no_events("fuse.sshfs")
    assert no_events("cifs")
    assert not no_events("ext4")
    assert not no_events("btrfs")
    assert not no_events("tmpfs")
    root = tmp_path.resolve()
    assert no_event_mount(root, [Mount("/", "ext4")]) is None
    reason = no_event_mount(root, [Mount("/", "ext4"), Mount(str(root), "cifs")])
    assert reason is not None
    assert "cifs" in reason
    inner = no_event_mount(root, [Mount("/", "ext4"), Mount(str(root / "nas"), "nfs")])
    assert inner is not None
    assert "'nas'" in inner


def test_the_real_root_is_watchable_and_counted(tmp_path: Path) -> None:
    for i in range(5):
        _touch(tmp_path / f"f{i}/a.flac", b"12345")
        _touch(tmp_path / f"f{i}/cover.jpg")
    counted = survey(tmp_path, lambda name: name.endswith(".flac"))
    assert (counted.folders, counted.files, counted.size_bytes) == (6, 5, 25)
    assert counted.complete
    capped = survey(tmp_path, lambda name: name.endswith(".flac"), max_entries=3)
    assert not capped.complete
    reason = too_many_folders(tmp_path, limit=3)
    assert reason is not None
    assert "6 folders" in reason
    assert too_many_folders(tmp_path, limit=100) is None


def test_a_long_burst_hands_over_what_held_still(tmp_path: Path) -> None:
    look = RootLook(tmp_path)
    _touch(tmp_path / "Done/01.flac")
    download = tmp_path / "Downloading/movie.mkv"
    _touch(download)
    burst = Burst(quiet_s=1)  # hands over its quiet part after max(60 s, 12 quiet periods)
    burst.add([Change(Kind.ADDED, "Done/01.flac"), Change(Kind.ADDED, "Downloading/movie.mkv")],
              look, now=0.0)  # fmt: skip
    now = 0.0
    while now < burst.max_age_s:  # the download keeps writing; its events keep the burst going
        now += 0.5
        with download.open("ab") as handle:
            handle.write(b"more")
        burst.add([Change(Kind.MODIFIED, "Downloading/movie.mkv")], look, now)
        assert not burst.due(now) or now >= burst.max_age_s
    assert burst.due(now)
    assert burst.settle(look, now) == ["Done"]  # the finished album does not wait
    assert not burst.due(now + 0.5)  # the download finished at `now`: one quiet period more
    assert burst.due(now + 1)
    assert burst.settle(look, now + 1) == ["Downloading"]
    assert burst.empty
