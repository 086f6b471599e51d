"""Track identity: public video ids and titles derived from file names."""

from __future__ import annotations

import base64
import hashlib
import re

YTDLP_ID = re.compile(r"\s*\[([A-Za-z0-9_-]{6,64})\]$")
VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


def derived_id(relpath: str) -> str:
    """Return a stable 11-character url-safe id for `relpath`."""
    digest = hashlib.sha256(relpath.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:11]


def stem(relpath: str) -> str:
    """Return the file name without its last suffix, as `PurePosixPath(relpath).stem`.

    String operations, not a Path: a scan asks for it several times per new file.
    """
    name = relpath.rpartition("/")[2]
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def bracket_id(relpath: str) -> str | None:
    """Return the yt-dlp style `[ID]` at the end of the file's stem, if any."""
    match = YTDLP_ID.search(stem(relpath))
    return match.group(1) if match else None


def video_id_for(relpath: str) -> str:
    """Return the `[ID]` of a yt-dlp style name, else the id derived from the relpath."""
    return bracket_id(relpath) or derived_id(relpath)


def title_for(relpath: str) -> str:
    """Return a display title: the stem without its `[ID]` suffix."""
    name = stem(relpath)
    title = YTDLP_ID.sub("", name).strip()
    return title or name


def is_valid_video_id(value: str) -> bool:
    """Tell whether `value` has the shape of a video id."""
    return bool(VIDEO_ID.fullmatch(value))
