"""The track list on both dialects: keyset pages against the reference order, search, counts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, event, insert, update

from mediashelf.db.migrate import current_revision, head_revision, schema_diff, upgrade
from mediashelf.db.schema import Track
from mediashelf.db.session import Database
from mediashelf.library.listing import store as listing_store
from mediashelf.library.listing.service import MAX_OFFSET
from mediashelf.library.store import SORTABLE, TrackQuery
from mediashelf.library.tracks import list_tracks
from mediashelf.web.app import create_app
from tests.conftest import make_runtime
from tests.web.conftest import client_for

BASE = datetime(2026, 1, 1, tzinfo=UTC)
TITLES = ("Ñandú – canción", "ÉCOLE de nuit", "abc_def", "100% pure", 'say "hi"', "zeta")


def track_row(i: int, rng: random.Random) -> dict[str, Any]:
    """Return a track row whose sortable values repeat (ties) and are often unknown (NULL)."""

    def maybe(*values: Any) -> Any:
        return rng.choice((None, *values))

    title = f"{rng.choice(TITLES)} {i % 7}"
    relpath = f"{rng.choice(('Artist A', 'Ärtist B', 'c'))}/{title} {i}.{rng.choice('xyz')}"
    return {
        "video_id": f"vid{i:08d}", "relpath": relpath, "title": title,
        "filetype": rng.choice(("mp3", "flac", "mkv")), "size_bytes": maybe(10, 20, 2**40),
        "duration": maybe(1.5, 2.25, 3.0), "bitrate": maybe(128_000, 320_000),
        "resolution": maybe("1920x1080", "640x480"), "width": maybe(1920, 640),
        "height": maybe(1080, 480), "video_codec": maybe("h264", "hevc"),
        "video_fps": maybe(25.0, 29.97), "audio_codec": maybe("aac", "flac"),
        "audio_channels": maybe(1, 2, 6), "audio_sample_rate": maybe(44100, 48000),
        "audio_bit_depth": maybe(16, 24), "probe_status": rng.choice(("ok", "error", "pending")),
        "probed_at": maybe(BASE, BASE + timedelta(seconds=1.5)), "probe_failures": 0,
        "missing_since": maybe(BASE), "added_at": rng.choice((BASE, BASE + timedelta(days=1))),
        "updated_at": BASE + timedelta(microseconds=rng.randint(0, 3)),
    }  # fmt: skip


@pytest.fixture
def rows(database: Database) -> list[dict[str, Any]]:
    """Insert 45 tracks with ties and NULLs in every sortable column; return them with ids."""
    rng = random.Random(7)
    data = [track_row(i, rng) for i in range(45)]
    with database.engine.begin() as conn:
        conn.execute(insert(Track), data)
    with database.unit_of_work() as session:
        ids = {t.video_id: t.id for t in session.query(Track)}
    return [{**row, "id": ids[row["video_id"]]} for row in data]


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    """A test client over `database` (no library needed: the rows are written directly)."""
    with client_for(create_app(make_runtime(database, tmp_path))) as built:
        yield built


def reference(rows: list[dict[str, Any]], sort: str, order: str) -> list[int]:
    """Return the ids in the documented order: known values by (value, id), then NULLs by id."""
    desc = order == "desc"
    known = sorted((r for r in rows if r[sort] is not None), key=lambda r: (r[sort], r["id"]))
    unknown = sorted(r["id"] for r in rows if r[sort] is None)
    ordered = [r["id"] for r in known] + [0] + unknown  # 0: where the NULLs start
    cut = ordered.index(0)
    if desc:
        return ordered[:cut][::-1] + ordered[cut + 1 :][::-1]
    return ordered[:cut] + ordered[cut + 1 :]


def ids_of(client: TestClient, video_ids: list[str], rows: list[dict[str, Any]]) -> list[int]:
    """Map the API's public ids back to row ids."""
    by_video = {r["video_id"]: r["id"] for r in rows}
    return [by_video[v] for v in video_ids]


def walk(client: TestClient, params: dict[str, Any], key: str, start: str | None) -> list[Any]:
    """Follow `key` (next_cursor or prev_cursor) from `start` to the end; return the pages."""
    pages, cursor = [], start
    while True:
        body = get(client, {**params, **({"cursor": cursor} if cursor else {})})
        pages.append(body)
        cursor = body[key]
        if cursor is None:
            return pages


def get(client: TestClient, params: dict[str, Any]) -> Any:
    """GET /api/tracks and return its JSON body (asserting a 200)."""
    response = client.get("/api/tracks", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_cursor_walks_match_the_reference_order_in_every_sort(
    client: TestClient, rows: list[dict[str, Any]], order: str
) -> None:
    for sort in SORTABLE:
        params = {"sort": sort, "order": order, "per_page": 4}
        want = reference(rows, sort, order)
        forward = walk(client, params, "next_cursor", None)
        seen = [t["video_id"] for page in forward for t in page["items"]]
        assert ids_of(client, seen, rows) == want, sort
        assert [p["page"] for p in forward] == list(range(1, 13))
        backward = walk(client, params, "prev_cursor", "last")
        seen = [t["video_id"] for page in reversed(backward) for t in page["items"]]
        assert ids_of(client, seen, rows) == want, sort
        assert [p["page"] for p in backward] == list(range(12, 0, -1))
        numbered = [get(client, {**params, "page": n})["items"] for n in range(1, 13)]
        assert ids_of(client, [t["video_id"] for p in numbered for t in p], rows) == want


def test_cursors_keep_the_filters_and_search(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    params = {"filetype": "mp3", "q": "ñandú", "sort": "bitrate", "order": "desc", "per_page": 2}
    chosen = [r for r in rows if r["filetype"] == "mp3" and "Ñandú" in r["title"]]
    pages = walk(client, params, "next_cursor", None)
    seen = [t["video_id"] for page in pages for t in page["items"]]
    assert ids_of(client, seen, rows) == reference(chosen, "bitrate", "desc")
    assert {p["total"] for p in pages} == {len(chosen)}
    assert len(chosen) > 2


def test_a_cursor_with_other_filters_or_sort_is_422(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    cursor = get(client, {"filetype": "mp3", "per_page": 2})["next_cursor"]
    other = client.get("/api/tracks", params={"filetype": "flac", "cursor": cursor})
    assert other.status_code == 422
    assert "another search or filter" in other.json()["error"]
    resorted = client.get("/api/tracks", params={"filetype": "mp3", "sort": "bitrate",
                                                 "cursor": cursor})  # fmt: skip
    assert resorted.status_code == 422
    assert "sort=title order=asc" in resorted.json()["error"]


def forged(**fields: Any) -> str:
    """Return a cursor with these fields, as someone editing one by hand would make it."""
    import base64
    import json

    data = {"d": "next", "s": "title", "o": "asc", "p": 2, "v": "a", "i": 1, **fields}
    if "f" not in data:
        from mediashelf.library.listing.cursor import scope_digest

        data["f"] = scope_digest({"q": None, "filters": (), "missing": None})
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!", "AAAA", "bm90IGpzb24", "W10", "e30", "x" * 3000,
        forged(d="sideways"), forged(p=0), forged(p="2"), forged(i=-1), forged(i=2**70),
        forged(v=5), forged(v=["a"]), forged(v="a\x00b"), forged(f="0" * 16),
        forged(v="\ud800"), forged(s="relpath", v="a\udfffb"),  # lone surrogates
        forged(s="bitrate", v="fast"), forged(s="duration", v="NaN"),
        forged(s="duration", v=float("nan")), forged(s="duration", v=10**400),
        forged(s="bitrate", v=2**70),
        forged(s="probed_at", v="2026-01-01T00:00:00"), forged(s="probed_at", v="yesterday"),
        forged(s="size_bytes", v=True), forged(s="password"),
    ],
)  # fmt: skip
def test_garbage_or_tampered_cursors_are_422(client: TestClient, cursor: str) -> None:
    sort = "title"
    if cursor.startswith("eyJ"):  # a forged one: ask with its own sort, to reach the checks
        import base64
        import json

        sort = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["s"]
        sort = sort if sort in SORTABLE else "title"
    response = client.get("/api/tracks", params={"cursor": cursor, "sort": sort})
    assert response.status_code == 422, response.text
    assert response.json()["status"] == "error"
    assert "cursor" in response.json()["error"]


def test_a_hand_made_cursor_of_the_right_shape_just_moves(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    body = get(client, {"cursor": forged(v="zzz", i=0), "per_page": 50})
    assert all(t["title"] > "zzz" for t in body["items"])
    moved = forged(s="probed_at", v=BASE.isoformat())
    dated = get(client, {"cursor": moved, "sort": "probed_at"})
    assert dated["items"]
    beyond = get(client, {"cursor": forged(v=None), "per_page": 50})  # title is never NULL
    assert beyond["items"] == []


def test_a_forged_page_number_stays_within_the_pages_there_are(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    pages = -(-len(rows) // 10)
    ahead = get(client, {"cursor": forged(p=2**62, v="a", i=0), "per_page": 10})
    assert ahead["items"]
    assert ahead["page"] == pages
    back = get(client, {"cursor": forged(d="prev", p=2**62, v="\uffff", i=0), "per_page": 10})
    assert back["items"]
    assert back["page"] == pages
    first = get(client, {"cursor": forged(d="prev", p=7, v=rows_title(rows, 3), i=0)})
    assert first["page"] == 1
    assert first["prev_cursor"] is None  # nothing lies before it


def rows_title(rows: list[dict[str, Any]], n: int) -> str:
    """Return the title `n` rows into the title order (a cursor walking back stops there)."""
    return str(sorted(row["title"] for row in rows)[n])


def test_deep_page_numbers_are_refused_with_a_pointer_to_the_cursor(client: TestClient) -> None:
    allowed = client.get("/api/tracks", params={"per_page": 100, "page": MAX_OFFSET // 100 + 1})
    assert allowed.status_code == 200
    assert allowed.json()["page"] == 1  # past the end: the last page, here the only one
    deep = client.get("/api/tracks", params={"per_page": 100, "page": MAX_OFFSET // 100 + 2})
    assert deep.status_code == 422
    assert "cursor" in deep.json()["error"]


def test_a_page_number_past_the_end_is_the_last_page(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    """It was an empty page with no link back (the HTML said "No tracks yet")."""
    last = get(client, {"cursor": "last", "per_page": 10})
    for page in (6, 7, 1000):
        past = get(client, {"page": page, "per_page": 10})
        assert (past["page"], past["items"]) == (5, last["items"])
        assert past["prev_cursor"] is not None
        assert past["next_cursor"] is None


def test_last_page_holds_the_rows_after_the_last_full_page(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    body = get(client, {"cursor": "last", "per_page": 10})
    assert (body["page"], body["total"], len(body["items"])) == (5, 45, 5)
    assert body["next_cursor"] is None
    before = get(client, {"cursor": body["prev_cursor"], "per_page": 10})
    assert before["page"] == 4
    assert len(before["items"]) == 10
    assert get(client, {"cursor": "last"})["prev_cursor"] is None  # one page only


def titles(client: TestClient, q: str) -> list[str]:
    """Return the titles a search finds (all of them)."""
    return sorted(t["title"] for t in get(client, {"q": q, "per_page": 500})["items"])


def test_search_folds_case_in_and_out_of_ascii(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    nandu = sorted(r["title"] for r in rows if "Ñandú" in r["title"])
    assert nandu
    for q in ("ñandú", "ÑANDÚ", "andú", "ANDÚ – C", "ñ", "Ñ", "ñA", "dú"):
        assert set(nandu) <= set(titles(client, q)), q
    ecole = sorted(r["title"] for r in rows if "ÉCOLE" in r["title"])
    assert titles(client, "école") == ecole
    assert titles(client, "cole de") == ecole
    in_path = sorted(r["title"] for r in rows if r["relpath"].startswith("Ärtist"))
    assert titles(client, "ärtist b") == in_path


def test_search_takes_every_character_literally(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    def having(part: str) -> list[str]:
        return sorted(r["title"] for r in rows if part.lower() in r["title"].lower()
                      or part.lower() in r["relpath"].lower())  # fmt: skip

    hostile = (
        "%",
        "_",
        "c_d",
        "0%",
        '"hi"',
        '"',
        'y "',
        "*",
        "a*",
        "NEAR",
        "NEAR(a b)",
        "-",
        "ab -c",
        ":",
        "title:abc",
        "(",
        "^zeta",
        "AND",
        "OR x",
        "\\",
        "'",
        "%_%",
    )
    for q in hostile:
        assert titles(client, q) == having(q), q
    assert titles(client, "%") == having("100%")


def test_search_follows_adds_renames_and_deletes(
    client: TestClient, database: Database, rows: list[dict[str, Any]]
) -> None:
    with database.engine.begin() as conn:
        conn.execute(insert(Track), [{**track_row(99, random.Random(1)), "title": "Quetzal"}])
        conn.execute(update(Track).where(Track.id == rows[0]["id"]).values(title="Xylophonist",
                     relpath="moved/Xylophonist.mp3"))  # fmt: skip
        conn.execute(delete(Track).where(Track.id == rows[1]["id"]))
    assert titles(client, "quetz") == ["Quetzal"]
    assert titles(client, "lophon") == ["Xylophonist"]
    assert titles(client, "moved/") == ["Xylophonist"]
    assert rows[0]["title"] not in titles(client, rows[0]["title"]) or any(
        r["title"] == rows[0]["title"] for r in rows[1:]
    )
    assert get(client, {"q": rows[1]["video_id"]})["total"] == 0
    assert get(client, {})["total"] == 45


def test_counts_follow_changes(client: TestClient, database: Database, rows: Any) -> None:
    mp3 = sum(r["filetype"] == "mp3" for r in rows)
    assert get(client, {"filetype": "mp3"})["total"] == mp3
    with database.engine.begin() as conn:
        conn.execute(insert(Track), [{**track_row(100, random.Random(2)), "filetype": "mp3"}])
    assert get(client, {"filetype": "mp3"})["total"] == mp3 + 1
    page = client.get("/tracks")
    assert page.status_code == 200
    assert "46 in the library" in page.text


def test_upgrade_from_0003_keeps_rows_and_makes_them_searchable(db_url: str) -> None:
    with Database(db_url) as db:
        upgrade(db, "0003")
        old = [{**track_row(i, random.Random(i)), "title": f"Ñandú {i}"} for i in range(3)]
        with db.engine.begin() as conn:
            conn.execute(insert(Track), old)
        upgrade(db)
        assert current_revision(db) == head_revision()
        assert schema_diff(db) == []
        with db.unit_of_work() as session:
            found = list_tracks(session, TrackQuery(q="ñandú", sort="relpath"))
            assert sorted(t.title for t in found.items) == ["Ñandú 0", "Ñandú 1", "Ñandú 2"]
            assert list_tracks(session, TrackQuery(q="ñ")).total == 3


@pytest.mark.parametrize("wide", [2, 4, 5000])
def test_filtered_and_searched_walks_whichever_index_reads_them(
    client: TestClient, rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, wide: int
) -> None:
    # WIDE decides between the sort index and the filters' (or the search's) own: every way
    # must give the reference order. At 4 a search's matches are many but a filter leaves
    # few of them ("artist" 17 -> 3 mkv): the first page is gathered with the filters.
    monkeypatch.setattr(listing_store, "WIDE", wide)

    def has(part: str) -> Any:
        return lambda r: part in r["title"].lower() or part in r["relpath"].lower()

    cases = [
        ({"filetype": "mp3", "sort": "bitrate", "order": "desc"}, lambda r: r["filetype"] == "mp3"),
        ({"probe_status": "error", "sort": "duration"}, lambda r: r["probe_status"] == "error"),
        ({"q": "zeta", "sort": "title"}, has("zeta")),
        ({"q": "artist", "sort": "size_bytes", "order": "desc"}, has("artist")),
        ({"q": "école", "video_codec": "h264", "sort": "added_at"},
         lambda r: has("école")(r) and r["video_codec"] == "h264"),
        ({"q": "artist", "filetype": "mkv", "sort": "duration", "order": "desc"},
         lambda r: has("artist")(r) and r["filetype"] == "mkv"),
        ({"q": "artist", "missing": "false", "sort": "title"},
         lambda r: has("artist")(r) and r["missing_since"] is None),
    ]  # fmt: skip
    for params, keep in cases:
        chosen = [r for r in rows if keep(r)]
        want = reference(chosen, params["sort"], params.get("order", "asc"))
        forward = walk(client, {**params, "per_page": 3}, "next_cursor", None)
        seen = [t["video_id"] for page in forward for t in page["items"]]
        assert ids_of(client, seen, rows) == want, params
        backward = walk(client, {**params, "per_page": 3}, "prev_cursor", "last")
        seen = [t["video_id"] for page in reversed(backward) for t in page["items"]]
        assert ids_of(client, seen, rows) == want, params
        assert {p["total"] for p in forward + backward} == {len(chosen)}


@pytest.mark.parametrize("wide", [2, 5000])
def test_a_search_counts_what_the_table_holds_after_deletes_and_renames(
    database: Database, rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, wide: int
) -> None:
    # An unfiltered search on SQLite is counted by the trigram index alone: its triggers must
    # keep it one row per track through deletes and renames, narrow searches and wide.
    monkeypatch.setattr(listing_store, "WIDE", wide)
    gone = [r["id"] for r in rows if "zeta" in r["title"].lower()][:2]
    renamed = [r["id"] for r in rows if "zeta" not in r["title"].lower()][:3]
    with database.engine.begin() as conn:
        conn.execute(delete(Track).where(Track.id.in_(gone)))
        conn.execute(update(Track).where(Track.id.in_(renamed)).values(title="Zeta renamed"))
    with database.unit_of_work() as session:
        stored = session.query(Track).all()
        for word in ("zeta", "artist", "renamed", "nothing-like-it"):
            want = sorted(
                t.id for t in stored if word in t.title.lower() or word in t.relpath.lower()
            )
            listing = list_tracks(session, TrackQuery(q=word, per_page=100, sort="title"))
            assert listing.total == len(want), word
            assert sorted(t.id for t in listing.items) == want, word


@pytest.mark.parametrize("filetype", [None, "mkv"])
def test_a_search_shows_one_state_of_the_library_across_its_queries(
    database: Database, rows: list[dict[str, Any]], filetype: str | None
) -> None:
    # On SQLite a search reads its matches from the trigram index, then the page's rows: a
    # track renamed by another process in between must not be shown for a word it no longer
    # holds, nor counted. Provoked for real: the rename commits from another connection just
    # before the page's query runs.
    renamed = next(r for r in rows if r["filetype"] == "mkv")
    with database.engine.begin() as conn:
        conn.execute(update(Track).where(Track.id.in_([renamed["id"]])).values(title="Quetzal"))
    other = Database(database.url)
    fired: list[str] = []

    def rename_before_the_page(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "json_each" in statement and not fired:  # the page of the rowids just gathered
            fired.append(statement)
            with other.engine.begin() as conn:
                values = {"title": "Renamed", "relpath": "elsewhere/renamed.mkv"}
                conn.execute(update(Track).where(Track.id == renamed["id"]).values(**values))

    event.listen(database.engine, "before_cursor_execute", rename_before_the_page)
    try:
        with database.unit_of_work() as session:
            listing = list_tracks(session, TrackQuery(q="quetzal", filetype=filetype))
    finally:
        event.remove(database.engine, "before_cursor_execute", rename_before_the_page)
        other.dispose()
    if database.dialect == "sqlite":
        assert fired  # the rename happened between the two reads
    # Either the state before the rename (the track as it was, counted) or after it (neither).
    assert [(t.id, t.title) for t in listing.items] in ([(renamed["id"], "Quetzal")], [])
    assert listing.total == len(listing.items)
