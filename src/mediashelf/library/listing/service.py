"""The track list at a million rows: keyset pages behind opaque cursors, cached counts.

Paging: the first pages may be asked for by number (`page=N` while (N-1) * per_page is at
most `MAX_OFFSET` rows in: an offset that short is cheap); every page links to its
neighbours by cursor (`next_cursor`, `prev_cursor`), which costs the same at any depth, and
`cursor=last` reads the last page from the end of the index. A deeper page number is refused
(HTTP 422) with a message that names the cursor; one past the last page is the last page.
Counts (`total`, facets, statuses) come from a short-lived per-process cache (counts.py),
exact on a library that did not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mediashelf.db.schema import Track
from mediashelf.errors import InvalidListRequest
from mediashelf.library.listing.counts import cache_of
from mediashelf.library.listing.cursor import (
    LAST,
    Cursor,
    Direction,
    Position,
    decode,
    encode,
)
from mediashelf.library.listing.cursor import scope_digest as _digest
from mediashelf.library.listing.store import ListingStore, ListSpec
from mediashelf.library.store import FILTERABLE, TrackQuery

MAX_OFFSET = 10_000
FACETS = ("filetype", "resolution", "video_codec", "audio_codec")


@dataclass(frozen=True)
class TrackListing:
    """One page of the track list with what the pages and the API show around it."""

    items: Sequence[Track]
    total: int
    page: int
    next_cursor: str | None
    prev_cursor: str | None


def spec_of(query: TrackQuery) -> ListSpec:
    """Return the list `query` asks for (search, filters, order), without its paging."""
    filters = tuple((n, v) for n in FILTERABLE if (v := getattr(query, n)) is not None)
    # No NUL reaches SQL text, and no chr(1): PostgreSQL's index joins title and path with it,
    # so a search holding it could match across the two.
    q = query.q.replace("\x00", "").replace("\x01", "") if query.q else None
    return ListSpec(query.sort, query.order == "desc", q or None, filters, query.missing)


def list_page(session: Session, query: TrackQuery) -> TrackListing:
    """Return the page `query` asks for by number, by cursor, or the last one."""
    spec = spec_of(query)
    store = ListingStore(session)
    if query.cursor is None and query.page == 1:
        found = store.first_with_total(spec, query.per_page + 1)
        if found is not None:  # a search's first page: rows and count in one pass
            rows, total = found
            return _listing(query, spec, rows, total, 1, False, len(rows) > query.per_page)
    total = _count(session, store, spec)
    scope = _scope(spec)
    per_page = query.per_page
    pages = max(1, -(-total // per_page))
    if query.cursor is None and (query.page - 1) * per_page > MAX_OFFSET:
        raise InvalidListRequest(
            f"page {query.page} is too deep for page numbers (only the first "
            f"{MAX_OFFSET} rows are): follow next_cursor from an earlier page, or ask "
            "for cursor=last"
        )
    # A page number past the end (a bookmark after tracks went, a hand-edited URL) is the
    # last page, as a forged cursor's number is kept within the pages: an empty page with
    # no link back read "no tracks yet".
    if query.cursor == LAST or (query.cursor is None and query.page > pages):
        size = total - (pages - 1) * per_page or per_page  # the last of the numbered pages
        rows = store.walk(spec, None, forward=False, limit=size + 1)
        items, page = rows[:size][::-1], pages
        has_prev, has_next = len(rows) > size, False
    elif query.cursor is not None:
        cursor = decode(query.cursor, query.sort, query.order, scope)
        forward = cursor.direction == "next"
        rows = store.walk(spec, cursor.position, forward, per_page + 1)
        more = len(rows) > per_page
        items = rows[:per_page] if forward else rows[:per_page][::-1]
        # Walking on, there were rows behind; walking back, there are rows ahead.
        has_prev, has_next = (True, more) if forward else (more, True)
        # The number is the cursor's word, which anyone can forge ("page 2**62 of 30"):
        # kept within the pages there are, and 1 where nothing lies before.
        page = 1 if not has_prev else min(cursor.page, max(2, pages))
    else:
        rows = store.at_offset(spec, (query.page - 1) * per_page, per_page + 1)
        items, page = rows[:per_page], query.page
        has_prev, has_next = page > 1, len(rows) > per_page

    return _listing(query, spec, items, total, page, has_prev, has_next)


def _listing(
    query: TrackQuery, spec: ListSpec, rows: Sequence[Track], total: int, page: int,
    has_prev: bool, has_next: bool,
) -> TrackListing:  # fmt: skip
    """Return the page of `rows` (at most per_page of them) with cursors to its neighbours."""
    items = rows[: query.per_page]
    scope = _scope(spec)

    def link(direction: Direction, row: Track, number: int) -> str:
        at = Position(getattr(row, spec.sort), row.id)
        return encode(Cursor(direction, query.sort, query.order, scope, number, at))

    return TrackListing(
        items=items,
        total=total,
        page=page,
        next_cursor=link("next", items[-1], page + 1) if has_next and items else None,
        prev_cursor=link("prev", items[0], max(1, page - 1)) if has_prev and items else None,
    )


def _scope(spec: ListSpec) -> str:
    return _digest({"q": spec.q, "filters": spec.filters, "missing": spec.missing})


def _count(session: Session, store: ListingStore, spec: ListSpec) -> int:
    cache = cache_of(session.get_bind().engine)
    return cache.get(("count", spec.key()), store.change_stamp(), lambda: store.count(spec))


def facets(session: Session) -> dict[str, list[tuple[str, int]]]:
    """Return the most common values of each filterable facet with their counts (cached)."""
    store = ListingStore(session)
    cache = cache_of(session.get_bind().engine)
    return cache.get(
        ("facets",), store.change_stamp(), lambda: {n: store.facets(n) for n in FACETS}
    )


def status_counts(session: Session) -> dict[str, int]:
    """Return how many tracks have each probe status (cached)."""
    store = ListingStore(session)
    cache = cache_of(session.get_bind().engine)
    return cache.get(("statuses",), store.change_stamp(), store.status_counts)
