"""All SQL of the track list: keyset pages, bounded offsets, search, counts and facets.

The list's order is: rows whose sort value is known, by (value, id), then rows whose value is
NULL, by id; `desc` reverses both parts but keeps the NULLs last. Each part is one range of
the (column, id) index (migration 0004), so a page is read in either direction from the
first row, the last row or any position without sorting the table: a page that crosses from
one part to the other costs a second query.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    String,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from mediashelf.db.engine import open_sqlite_transaction
from mediashelf.db.schema import Track
from mediashelf.db.search import FTS_TABLE
from mediashelf.library.listing.counts import cache_of
from mediashelf.library.listing.cursor import Position

FTS_MIN = 3  # the trigram index answers searches of at least this many characters
WIDE = 5000  # rows from which a part or a search counts as many (see _part_size, broad_search)
_FTS = table(FTS_TABLE, column("rowid"))
# Title and path lowered together, as the PostgreSQL search index holds them (PG_HAYSTACK).
_PG_HAYSTACK = func.lower(
    Track.title.op("||")(literal_column("chr(1)")).op("||")(Track.relpath.collate("default"))
)
# A search's matching rowids, handed back to SQLite as the JSON array it made of them: the
# statement's text stays the same whatever their number (an IN list would not).
_IDS = func.json_each(bindparam("ids", type_=String)).table_valued("value")


# A first page found with its total, and the change stamp the same statement read.
_Found = tuple[list[Track], int, tuple[Any, ...]]


@dataclass(frozen=True)
class ListSpec:
    """What a list shows, without the paging: search, filters, sort column and direction."""

    sort: str
    desc: bool
    q: str | None
    filters: tuple[tuple[str, str], ...]
    missing: bool | None

    def key(self) -> tuple[Any, ...]:
        """Return what identifies the rows of this list (its order aside), for the counts."""
        return (self.q, self.filters, self.missing)


class ListingStore:
    """Reads pages and counts of the track list inside the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def walk(
        self, spec: ListSpec, start: Position | None, forward: bool, limit: int
    ) -> list[Track]:
        """Return up to `limit` rows after `start` (or from an end) walking the list's order.

        `forward` walks from the first row towards the last; backwards the rows come last
        first. The NULL part comes after the known values, whichever way the list is sorted.
        """
        ascending = forward != spec.desc
        parts = [False, True] if forward else [True, False]  # is the part the NULL one
        if start is not None:
            parts = parts[parts.index(start.value is None) :]
        if not Track.__table__.c[spec.sort].nullable:
            parts = [part for part in parts if not part]
        rows: list[Track] = []
        for null_part in parts:
            bound = start if start is not None and null_part == (start.value is None) else None
            query = self._part(spec, null_part, ascending, bound)
            if query is not None:
                rows += self.session.scalars(query.limit(limit - len(rows))).all()
            if len(rows) >= limit:
                break
        return rows

    def first_with_total(self, spec: ListSpec, limit: int) -> tuple[list[Track], int] | None:
        """Return the first `limit` rows of a search and how many match, in one pass.

        A narrow search is answered from its matches, sorted, and counted on the way. On
        SQLite the trigram index is asked once for up to `WIDE` + 1 rowids (3 ms for 1,000
        matches at a million tracks; asking it for a count and then again for the page's
        rows took twice that), and the page is sorted from those rows alone. Elsewhere up to
        `WIDE` + 1 matching rows are gathered and counted with `count(*) OVER ()`. The total
        is remembered with the counts, under the change stamp read by the same statement (no
        round trip of its own). None for a search too short for the index, or one with more
        matches: the caller then reads the page along the sort index. That a search has many
        matches is remembered for `TTL_S` whatever changes meanwhile: it only chooses how
        the page is read, never what it holds.
        """
        if not spec.q or len(spec.q) < FTS_MIN:
            return None
        cache = cache_of(self.session.get_bind().engine)
        key = ("wide", spec.key())
        if cache.recall(key):
            return None
        found = self._first_of_matches(spec, limit) if self.dialect == "sqlite" else None
        if found is None and not self._searches_all(spec):
            found = self._first_counted(spec, limit)
        if found is None:
            cache.put(key, None, True)
            return None
        rows, total, stamp = found
        cache.put(("count", spec.key()), stamp, total)  # the total of later pages
        return rows, total

    def _first_of_matches(self, spec: ListSpec, limit: int) -> _Found | None:
        """SQLite: return a search's first page and total from its rowids (None: too many)."""
        assert spec.q is not None
        # The rowids and the page are read in two statements: one transaction, so a track
        # renamed or deleted in between is not shown for a word it no longer holds.
        open_sqlite_transaction(self.session.connection())
        # One row (their number and a JSON array) rather than a row per match: fetching a
        # row takes the GIL, which four searches at once would pass around a thousand times.
        rowids = select(_FTS.c.rowid).where(self._match(spec.q)).limit(WIDE + 1).subquery()
        gathered = select(func.count(), func.json_group_array(rowids.c.rowid), *_stamp())
        total, ids, *values = self.session.execute(gathered).one()
        stamp = tuple(values)
        cache = cache_of(self.session.get_bind().engine)
        cache.put(("broad", spec.q), stamp, total >= WIDE)
        if total > WIDE:
            return None
        matched = Track.id.in_(select(_IDS.c.value).select_from(_IDS))
        # The filters are checked on each match, never used to find rows (by_index=False).
        where = [matched, *self.conditions(dataclasses.replace(spec, q=None), by_index=False)]
        query = select(Track).where(*where)
        query = query.order_by(*_first_ordering(getattr(Track, spec.sort), Track.id, spec.desc))
        params = {"ids": ids}
        if self._searches_all(spec):
            rows = self.session.scalars(query.limit(limit), params).all()
            return list(rows), int(total), stamp
        counted = self.session.execute(query.add_columns(func.count().over()).limit(limit), params)
        return (*_with_total(counted.all()), stamp)

    def _first_counted(self, spec: ListSpec, limit: int) -> _Found | None:
        """Return a search's first page and total from up to `WIDE` + 1 matching rows.

        The matches are gathered, counted and sorted as (id, sort value) pairs, and only the
        page's rows are read whole: narrower rows for the database to carry, and a statement
        much cheaper to build than one over an alias of every column (~0.7 ms a request).
        """
        key = getattr(Track, spec.sort).label("key")
        where = self.conditions(spec)
        matches = select(Track.id, key).where(*where).limit(WIDE + 1).subquery()
        counted = select(matches, func.count().over().label("total"))
        page = counted.order_by(*_first_ordering(matches.c.key, matches.c.id, spec.desc))
        chosen = page.limit(limit).subquery()
        query = select(Track, chosen.c.total, *_stamp()).join(chosen, Track.id == chosen.c.id)
        query = query.order_by(*_first_ordering(chosen.c.key, chosen.c.id, spec.desc))
        found = self.session.execute(query).all()
        if not found:  # no match: the stamp is read alone
            return [], 0, self.change_stamp()
        rows, total = _with_total(found)
        return (rows, total, tuple(found[0][2:])) if total <= WIDE else None

    def at_offset(self, spec: ListSpec, offset: int, limit: int) -> list[Track]:
        """Return up to `limit` rows from `offset` in the list's order (keep offsets small)."""
        ascending = not spec.desc
        known = self._part(spec, False, ascending, None)
        rows: list[Track] = []
        if known is not None:
            rows += self.session.scalars(known.offset(offset).limit(limit)).all()
        if len(rows) == limit:
            return rows
        # The known part ends before this page does: it holds fewer than offset + limit rows,
        # so counting it is as cheap as the offset was.
        null_offset = offset - (self._count(known) if known is not None and not rows else 0)
        null_offset = 0 if rows else null_offset
        nulls = self._part(spec, True, ascending, None)
        if nulls is None:
            return rows
        nulls = nulls.offset(max(0, null_offset)).limit(limit - len(rows))
        return rows + list(self.session.scalars(nulls).all())

    def _part(
        self, spec: ListSpec, null_part: bool, ascending: bool, bound: Position | None
    ) -> Select[Track] | None:
        """Return the query of one part of the list (None when it is known to be empty)."""
        sort = _sortable(spec.sort)
        size = self._part_size(spec, null_part)
        if size == 0:
            return None
        narrow = size is not None and size < WIDE
        # SQLite: a part with many rows is read through the sort index, the filters checked
        # per row (`column || ''` hides them from the planner).
        by_index = size is None or narrow or self.dialect != "sqlite"
        where = self.conditions(spec, by_index, page=True)
        if null_part:
            where.append(sort.is_(None))
            if bound is not None:
                where.append(Track.id > bound.id if ascending else Track.id < bound.id)
        else:
            where.append(sort.is_not(None))
            if bound is not None:
                key = tuple_(sort, Track.id)
                at = tuple_(bindparam(None, bound.value, type_=sort.type), literal(bound.id))
                where.append(key > at if ascending else key < at)
        if narrow and self.dialect != "sqlite":
            # PostgreSQL estimates the filters independently, and a part they leave nearly
            # empty (errors have no duration; a word found in 900 titles) looks worth reading
            # in the sort index's order until enough rows turn up, which may be never.
            # OFFSET 0 keeps the chosen rows a subquery of their own, found by the filters'
            # (or the trigram) index and then sorted.
            row = aliased(Track, select(Track).where(*where).offset(0).subquery())
            return select(row).order_by(*_ordering(row, spec.sort, null_part, ascending))
        query = select(Track).where(*where)
        return query.order_by(*_ordering(Track, spec.sort, null_part, ascending))

    def count(self, spec: ListSpec) -> int:
        """Return how many rows the list has."""
        if self._searches_all(spec) and spec.q is not None and len(spec.q) >= FTS_MIN:
            # The index holds one row per track (kept by triggers): its matches are the count,
            # without looking each one up in the table (4 ms instead of 9 for 12,000).
            return self._count(select(_FTS.c.rowid).where(self._match(spec.q)))
        return self._count(select(Track.id).where(*self.conditions(spec)))

    def _searches_all(self, spec: ListSpec) -> bool:
        """Tell whether `spec` is an unfiltered search of SQLite's trigram index."""
        return self.dialect == "sqlite" and not spec.filters and spec.missing is None

    def _count(self, query: Select[Any]) -> int:
        return int(self.session.scalar(select(func.count()).select_from(query.subquery())) or 0)

    def _part_size(self, spec: ListSpec, null_part: bool) -> int | None:
        """Return how many rows a part of a filtered list holds, up to `WIDE`.

        An empty part is skipped: a filter such as probe_status=error keeps rows whose media
        facts are mostly unknown, and looking for their known durations along the duration
        index would read all of it. Otherwise, on SQLite, whose planner has no statistics
        and takes an equality on an index to be selective (so it sorts every track with a
        common value, a third of a million mp3s, rather than read the sort column's index
        and skip the few that differ), a part with `WIDE` rows or more is read through the
        sort index, and a smaller one through its filters' index; PostgreSQL is steered only
        for small parts (see `_part`). Remembered with the counts. None: not judged (no
        filters, a search, or the title order, which the filter indexes serve).
        """
        searched = bool(spec.q) and self.dialect != "sqlite"  # SQLite: see broad_search
        if not searched and (not spec.filters or spec.q or spec.sort == "title"):
            return None
        cache = cache_of(self.session.get_bind().engine)
        if searched and not null_part and not Track.__table__.c[spec.sort].nullable:
            # The whole list is this part: its count, which the page has just taken, says.
            total = cache.get(("count", spec.key()), self.change_stamp(), lambda: self.count(spec))
            return min(total, WIDE)
        sort = _sortable(spec.sort)
        present: ColumnElement[bool] = sort.is_(None) if null_part else sort.is_not(None)
        if self.dialect == "sqlite":  # typeof() hides the sort column: the filters' index leads
            present = func.typeof(sort) == "null" if null_part else func.typeof(sort) != "null"
        some = select(Track.id).where(*self.conditions(spec), present).limit(WIDE)
        key = ("part", spec.key(), spec.sort, null_part)
        return cache.get(key, self.change_stamp(), lambda: self._count(some))

    def conditions(
        self, spec: ListSpec, by_index: bool = True, page: bool = False
    ) -> list[ColumnElement[bool]]:
        """Return the WHERE conditions of the list's search and filters.

        `by_index` false writes the filters so that SQLite uses no index for them. `page`:
        the conditions of a page (not a count), where a search that matches many rows is
        checked row by row along the sort index rather than gathered and sorted.
        """
        conditions = [
            (getattr(Track, name) if by_index else getattr(Track, name).concat("")) == value
            for name, value in spec.filters
        ]
        if spec.missing is not None:
            since = Track.missing_since
            conditions.append(since.is_not(None) if spec.missing else since.is_(None))
        if spec.q:
            search = self._search(spec.q)
            if page and self.broad_search(spec.q):
                # `id + 0` cannot drive the query: SQLite reads the sort index in order and
                # looks each row up in the matches, stopping when the page is full.
                fts = select(_FTS.c.rowid).where(self._match(spec.q))
                search = (Track.id + 0).in_(fts)
            conditions.append(search)
        return conditions

    def broad_search(self, q: str) -> bool:
        """Tell whether a search through SQLite's trigram index matches `WIDE` rows or more.

        A narrow search is best answered from its matches, sorted; a broad one ("mp3", a
        common syllable) from the sort index, checked against the matches: sorting a third
        of the library for one page would take a second. Remembered with the counts.
        """
        if self.dialect != "sqlite" or len(q) < FTS_MIN:
            return False
        some = select(_FTS.c.rowid).where(self._match(q)).limit(WIDE)
        cache = cache_of(self.session.get_bind().engine)
        return cache.get(("broad", q), self.change_stamp(), lambda: self._count(some) >= WIDE)

    def _match(self, q: str) -> ColumnElement[bool]:
        phrase = '"' + q.replace('"', '""') + '"'  # one literal phrase: no FTS5 syntax
        return text(f"{FTS_TABLE} MATCH :phrase").bindparams(phrase=phrase)  # type: ignore[return-value]

    def _search(self, q: str) -> ColumnElement[bool]:
        if self.dialect != "sqlite":
            # pg_trgm's GIN index (db/search.py) serves LIKE on exactly this expression.
            pattern = func.lower(literal(f"%{escape_like(q)}%"))
            return _PG_HAYSTACK.like(pattern, escape="\\")
        if len(q) >= FTS_MIN:
            return Track.id.in_(select(_FTS.c.rowid).where(self._match(q)))
        # One or two characters: too short for a trigram. LIKE scans the table; SQLite's LIKE
        # folds ASCII only, so every spelling of the other letters is asked for.
        return or_(
            *(
                col.like(f"%{escape_like(spelling)}%", escape="\\")
                for col in (Track.title, Track.relpath)
                for spelling in spellings(q)
            )
        )

    def change_stamp(self) -> tuple[Any, ...]:
        """Return (highest id, latest update): two index lookups that move when rows change."""
        return tuple(self.session.execute(select(*_stamp())).one())

    def facets(self, name: str, limit: int = 20) -> list[tuple[str, int]]:
        """Return the most common values of filterable column `name` with their counts."""
        col = getattr(Track, name)
        rows = self.session.execute(
            select(col, func.count())
            .where(col.is_not(None))
            .group_by(col)
            .order_by(func.count().desc(), col)
            .limit(limit)
        )
        return [(str(value), int(count)) for value, count in rows]

    def status_counts(self) -> dict[str, int]:
        """Return how many tracks have each probe status."""
        rows = self.session.execute(
            select(Track.probe_status, func.count()).group_by(Track.probe_status)
        )
        return {status: int(count) for status, count in rows}


def _stamp() -> tuple[ScalarSelect[Any], ScalarSelect[Any]]:
    """Return the change stamp's two values, as columns any statement can carry."""
    return (
        select(func.max(Track.id)).scalar_subquery(),
        select(func.max(Track.updated_at)).scalar_subquery(),
    )


def _first_ordering(sort: Any, id_: Any, desc: bool) -> list[ColumnElement[Any]]:
    """Return the order of a list's first page: known values, then NULLs, then by id."""
    return [sort.is_(None), *(c.desc() if desc else c.asc() for c in (sort, id_))]


def _with_total(rows: Sequence[Any]) -> tuple[list[Track], int]:
    """Split rows of (track, count(*) OVER ()) into the tracks and their total."""
    return [row[0] for row in rows], int(rows[0][1]) if rows else 0


def _ordering(entity: Any, sort: str, null_part: bool, ascending: bool) -> list[ColumnElement[Any]]:
    columns = [entity.id] if null_part else [getattr(entity, sort), entity.id]
    return [c.asc() if ascending else c.desc() for c in columns]


def _sortable(name: str) -> InstrumentedAttribute[Any]:
    attribute: InstrumentedAttribute[Any] = getattr(Track, name)
    return attribute


def escape_like(text_: str) -> str:
    """Return `text_` with LIKE's wildcards (and the escape character) taken literally."""
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def spellings(q: str) -> set[str]:
    """Return `q` in every mix of lower and upper case of its non-ASCII letters (short `q`).

    Only one-letter cases, as the trigram index folds: "ß" and "ﬁ" upper-case to "SS" and
    "FI", which LIKE then matched in any ASCII case ("aß" found "Glass", "laß" did not).
    """
    choices = [{c} if c.isascii() else {v for v in (c, c.lower(), c.upper()) if len(v) == 1}
               for c in q]  # fmt: skip
    return {"".join(combo) for combo in itertools.product(*choices)}
