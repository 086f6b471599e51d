"""The opaque cursor of the track list: where the next (or previous) page starts.

A cursor is base64url of a small JSON object: the direction, the sort and order it was made
for, a digest of the search and filters, the page number it leads to, and the position of
the row it continues from (that row's sort value and id). It is not signed: a hand-made
cursor can only ask for a page of the same list from another position, so decoding checks
shapes and types strictly and every failure is an InvalidListRequest (HTTP 422), never a
server error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mediashelf.db.schema import Track
from mediashelf.errors import InvalidListRequest

LAST = "last"  # the cursor of the last page, for links that know nothing else
MAX_CURSOR = 2000  # characters; a real cursor is a few hundred at most
Direction = Literal["next", "prev"]
RESTART = "start again from the first page"


@dataclass(frozen=True)
class Position:
    """A row's place in the list's order: its sort value (None when unknown) and its id."""

    value: Any
    id: int


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor: walk `direction` from `position`; the page reached is number `page`."""

    direction: Direction
    sort: str
    order: str
    scope: str
    page: int
    position: Position


def scope_digest(filters: dict[str, Any]) -> str:
    """Return a short digest of the search and filters, bound into each cursor."""
    canonical = json.dumps(filters, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode(cursor: Cursor) -> str:
    """Return the opaque text form of `cursor`."""
    value = cursor.position.value
    data = {
        "d": cursor.direction, "s": cursor.sort, "o": cursor.order, "f": cursor.scope,
        "p": cursor.page, "v": value.isoformat() if isinstance(value, datetime) else value,
        "i": cursor.position.id,
    }  # fmt: skip
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text: str, sort: str, order: str, scope: str) -> Cursor:
    """Return the cursor `text` names for this list, or raise InvalidListRequest."""
    data = _parse(text)
    if (data.get("s"), data.get("o")) != (sort, order):
        raise InvalidListRequest(
            f"this cursor belongs to sort={data.get('s')} order={data.get('o')}, not "
            f"sort={sort} order={order}: {RESTART} (without cursor)"
        )
    if data.get("f") != scope:
        raise InvalidListRequest(f"this cursor belongs to another search or filter: {RESTART}")
    direction, page, row_id = data.get("d"), data.get("p"), data.get("i")
    if direction not in ("next", "prev") or not _whole(page, 1) or not _whole(row_id, 0):
        raise InvalidListRequest(f"malformed cursor: {RESTART}")
    position = Position(_value(sort, data.get("v")), int(row_id))  # type: ignore[arg-type]
    return Cursor(direction, sort, order, scope, int(page), position)  # type: ignore[arg-type]


def _parse(text: str) -> dict[str, Any]:
    if len(text) > MAX_CURSOR:
        raise InvalidListRequest(f"malformed cursor (too long): {RESTART}")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise InvalidListRequest(f"malformed cursor: {RESTART}") from exc
    if not isinstance(data, dict):
        raise InvalidListRequest(f"malformed cursor: {RESTART}")
    return data


def _storable(value: object) -> bool:
    """Tell whether `value` is text a database can compare: no NUL, no lone surrogate.

    JSON's escapes can spell a lone surrogate ("\\ud800"), which Python decodes but no
    database driver can encode.
    """
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _whole(value: object, least: int) -> bool:
    return type(value) is int and least <= value < 2**63


def _value(sort: str, value: object) -> Any:
    """Check the position's sort value against the column's type; return it as Python."""
    if value is None:
        return None
    column_type = Track.__table__.c[sort].type
    wanted = getattr(column_type, "impl", column_type).python_type  # UTCDateTime: its impl's
    if wanted is datetime and isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            return when
    elif wanted is float and isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value) if abs(value) < 1e300 else math.inf  # no OverflowError on ints
        if math.isfinite(number):
            return number
    elif (wanted is int and _whole(value, -(2**63))) or (wanted is str and _storable(value)):
        return value
    raise InvalidListRequest(f"malformed cursor (its position does not fit {sort}): {RESTART}")
