"""The isolated probe pool: hangs are killed, crashes contained, errors classified, order kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediashelf.config import Settings
from mediashelf.errors import (
    PROBE_ERRORS,
    ProbeCorrupt,
    ProbeCrashed,
    ProbeError,
    ProbeMissing,
    ProbeTimeout,
)
from mediashelf.probe.chain import build_chain
from mediashelf.probe.pool import AHEAD_WINDOW, ProbePool
from mediashelf.probe.result import ProbeResult
from tests.conftest import Corpus
from tests.polling import wait_until
from tests.probe.fake_probers import CrashingProber, ErrorProber, HangingProber, RecordingProber

GOOD_VIDEO = "video/h264_aac.mp4"
GOOD_AUDIO = "audio/flac16_stereo.flac"


@pytest.fixture(scope="module")
def hanging_pool() -> Iterator[ProbePool]:
    """One worker, one-second timeout."""
    with ProbePool(HangingProber(), processes=1, timeout_s=1) as pool:
        yield pool


@pytest.fixture(scope="module")
def crashing_pool() -> Iterator[ProbePool]:
    """Two workers that segfault on "crash" files."""
    with ProbePool(CrashingProber(), processes=2, timeout_s=20) as pool:
        yield pool


@pytest.fixture(scope="module")
def error_pool() -> Iterator[ProbePool]:
    """One worker that always fails."""
    with ProbePool(ErrorProber(), processes=1, timeout_s=20) as pool:
        yield pool


def test_hang_is_killed_at_the_timeout_and_the_pool_keeps_working(
    hanging_pool: ProbePool, corpus: Corpus, tmp_path: Path
) -> None:
    hang = tmp_path / "hang.mp4"
    hang.write_bytes(b"never read")
    with pytest.raises(ProbeTimeout) as caught:
        hanging_pool.probe(hang)
    assert caught.value.error_class == "timeout"
    assert "1s" in caught.value.message

    result = hanging_pool.probe(corpus.root / GOOD_VIDEO)
    assert result.video_codec == "h264"
    assert result.resolution == "160x120"


def test_crash_becomes_probe_crashed_and_the_next_file_probes(
    crashing_pool: ProbePool, corpus: Corpus, tmp_path: Path
) -> None:
    with pytest.raises(ProbeCrashed) as caught:
        crashing_pool.probe(tmp_path / "crash.mp4")
    assert caught.value.error_class == "crashed"

    result = crashing_pool.probe(corpus.root / GOOD_AUDIO)
    assert result.audio_codec == "flac"
    assert result.audio_bit_depth == 16


@pytest.mark.parametrize("error_class", sorted(PROBE_ERRORS))
def test_errors_come_back_as_their_subclass_with_their_message(
    error_pool: ProbePool, tmp_path: Path, error_class: str
) -> None:
    path = tmp_path / f"{error_class}.mp4"
    with pytest.raises(ProbeError) as caught:
        error_pool.probe(path)
    assert type(caught.value) is PROBE_ERRORS[error_class]
    assert caught.value.error_class == error_class
    assert caught.value.message == ErrorProber.message_for(path)


def test_unknown_error_class_is_probe_corrupt(error_pool: ProbePool, tmp_path: Path) -> None:
    path = tmp_path / "whatever.mp4"
    with pytest.raises(ProbeCorrupt) as caught:
        error_pool.probe(path)
    assert caught.value.message == "scripted whatever failure"


def test_probe_many_yields_in_input_order_with_mixed_outcomes(
    crashing_pool: ProbePool, corpus: Corpus, tmp_path: Path
) -> None:
    paths = [
        corpus.root / GOOD_VIDEO,
        tmp_path / "crash.mkv",
        corpus.root / "broken/notes.mkv",
        tmp_path / "missing.mp3",
        corpus.root / GOOD_AUDIO,
        corpus.root / "broken/empty.mp3",
        corpus.root / "audio/plain.mp3",
    ]

    outcomes = list(crashing_pool.probe_many(paths, window=2))

    assert [path for path, _ in outcomes] == paths
    kinds = [o.audio_codec if isinstance(o, ProbeResult) else o.error_class for _, o in outcomes]
    assert kinds == ["aac", "crashed", "corrupt", "missing", "flac", "empty", "mp3"]
    assert isinstance(outcomes[3][1], ProbeMissing)


def test_probe_many_of_nothing_yields_nothing(crashing_pool: ProbePool) -> None:
    assert list(crashing_pool.probe_many([])) == []


def _sleeping_ffprobe(tmp_path: Path) -> tuple[Path, Path]:
    """Write a fake ffprobe that records its pid and sleeps; return (binary, pid file)."""
    pids = tmp_path / "pids"
    binary = tmp_path / "ffprobe"
    binary.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 60\n")
    binary.chmod(0o755)
    return binary, pids


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_until_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_ffprobe_timeout_is_classed_timeout_and_its_child_ends(
    tmp_path: Path, corpus: Corpus
) -> None:
    binary, pids = _sleeping_ffprobe(tmp_path)
    settings = Settings(probers=("ffprobe",), ffprobe_path=str(binary), probe_timeout_s=1)
    chain = build_chain(settings)
    with ProbePool.for_chain(chain, processes=1) as pool:
        assert pool.timeout_s > settings.probe_timeout_s  # the backend's own timeout fires first
        with pytest.raises(ProbeTimeout) as caught:
            pool.probe(corpus.root / GOOD_VIDEO)
    assert caught.value.error_class == "timeout"
    assert "ffprobe took longer" in caught.value.message
    (pid,) = (int(line) for line in pids.read_text().split())
    assert _wait_until_gone(pid)


def test_ffprobe_child_dies_with_a_probe_process_the_pool_kills(
    tmp_path: Path, corpus: Corpus
) -> None:
    binary, pids = _sleeping_ffprobe(tmp_path)
    chain = build_chain(Settings(probers=("ffprobe",), ffprobe_path=str(binary)))
    with ProbePool(chain, processes=1, timeout_s=1) as pool:  # kills before ffprobe's 15 s
        with pytest.raises(ProbeTimeout):
            pool.probe(corpus.root / GOOD_VIDEO)
        (pid,) = (int(line) for line in pids.read_text().split())
        assert _wait_until_gone(pid)  # not orphaned: it went with its parent


def test_a_timeout_outranks_another_backends_error(tmp_path: Path, corpus: Corpus) -> None:
    binary, _ = _sleeping_ffprobe(tmp_path)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(1, 256)) * 16)  # neither zeros nor text: both fail at once
    settings = Settings(ffprobe_path=str(binary), probe_timeout_s=1)  # pyav, then ffprobe
    with pytest.raises(ProbeTimeout):
        build_chain(settings).probe(junk)


# -- probing ahead ---------------------------------------------------------------------------


def _ahead(*paths: Path) -> list[tuple[Path, int, int]]:
    return [(p, p.stat().st_size, p.stat().st_mtime_ns) for p in paths]


def _probed(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _await_probes(log: Path, count: int) -> None:
    wait_until(lambda: len(_probed(log)) >= count, f"{count} probes")


def _copies(corpus: Corpus, folder: Path, *relpaths: str) -> list[Path]:
    copies = []
    for n, relpath in enumerate(relpaths):
        copy = folder / f"{n}-{Path(relpath).name}"
        copy.write_bytes((corpus.root / relpath).read_bytes())
        copies.append(copy)
    return copies


def test_files_probed_ahead_are_not_probed_again_when_asked_for(
    corpus: Corpus, tmp_path: Path
) -> None:
    log = tmp_path / "probed.log"
    files = _copies(corpus, tmp_path, GOOD_VIDEO, GOOD_AUDIO, GOOD_VIDEO)
    with ProbePool(RecordingProber(log), processes=2, timeout_s=20) as pool:
        pool.probe_ahead(iter(_ahead(*files)), limit=10)
        _await_probes(log, 3)
        results = [pool.probe(path) for path in files]
    assert sorted(_probed(log)) == sorted(str(p) for p in files)  # once each
    assert [r.video_codec for r in results] == ["h264", None, "h264"]
    assert results[1].audio_codec == "flac"


def test_a_file_changed_after_probing_ahead_is_probed_again(corpus: Corpus, tmp_path: Path) -> None:
    log = tmp_path / "probed.log"
    (path,) = _copies(corpus, tmp_path, GOOD_VIDEO)
    with ProbePool(RecordingProber(log), processes=1, timeout_s=20) as pool:
        pool.probe_ahead(iter(_ahead(path)), limit=10)
        _await_probes(log, 1)
        path.write_bytes((corpus.root / GOOD_AUDIO).read_bytes())  # replaced: another size
        result = pool.probe(path)
    assert _probed(log) == [str(path), str(path)]
    assert (result.video_codec, result.audio_codec) == (None, "flac")


def test_probing_ahead_takes_at_most_the_limit_and_ends_at_the_first_request(
    corpus: Corpus, tmp_path: Path
) -> None:
    log = tmp_path / "probed.log"
    files = _copies(corpus, tmp_path, GOOD_AUDIO, GOOD_AUDIO, GOOD_AUDIO, GOOD_AUDIO)
    asked = threading.Event()
    taken: list[Path] = []

    def offered() -> Iterator[tuple[Path, int, int]]:
        for item in _ahead(*files):
            if len(taken) == 1:  # the second waits until the job has asked for something
                assert asked.wait(20)
            taken.append(item[0])
            yield item

    with ProbePool(RecordingProber(log), processes=1, timeout_s=20) as pool:
        pool.probe_ahead(offered(), limit=3)
        _await_probes(log, 1)
        pool.probe(files[0])  # the first request: probing ahead ends
        asked.set()
        # the thread takes one more file, sees that probing ahead ended, and stops
        wait_until(lambda: len(taken) >= 2, "the second file offered")
        pool.probe(files[3])
    assert len(taken) == 2  # never the third, let alone the fourth (beyond the limit)
    assert str(files[1]) not in _probed(log)
    assert _probed(log) == [str(files[0]), str(files[3])]


def test_dropping_probes_ahead_wastes_at_most_the_few_in_flight(
    corpus: Corpus, tmp_path: Path
) -> None:
    log = tmp_path / "probed.log"
    files = _copies(corpus, tmp_path, *[GOOD_AUDIO] * 20)
    with ProbePool(RecordingProber(log, pause_s=0.2), processes=1, timeout_s=20) as pool:
        pool.probe_ahead(iter(_ahead(*files)), limit=20)
        _await_probes(log, 1)
        pool.drop_ahead()  # the job runs elsewhere
        with pytest.raises(ProbeMissing):
            pool.probe(tmp_path / "gone.flac")
    probed = _probed(log)
    assert probed[-1] == str(tmp_path / "gone.flac")
    assert len(probed) - 1 <= AHEAD_WINDOW + 1  # not the 20 offered


RELEASE_SCRIPT = """
import json, os, sys
from multiprocessing import forkserver
from pathlib import Path
from mediashelf.config import Settings
from mediashelf.probe.chain import build_chain
from mediashelf.probe.pool import ProbePool, release_forkserver

path = Path(sys.argv[1])
with ProbePool(build_chain(Settings()), processes=1, timeout_s=20) as pool:
    first = pool.probe(path).duration
old = forkserver._forkserver._forkserver_pid
release_forkserver()
exited = os.waitpid(old, 0)[0] == old  # it exits while this process goes on (else: timeout)
with ProbePool(build_chain(Settings()), processes=1, timeout_s=20) as pool:
    again = pool.probe(path).duration
new = forkserver._forkserver._forkserver_pid
release_forkserver()
release_forkserver()  # a second call finds nothing to release
print(json.dumps({"first": first, "again": again, "exited": exited, "new": new != old}))
"""


def test_a_released_forkserver_exits_at_once_and_a_later_pool_starts_another(
    corpus: Corpus,
) -> None:
    """In a process of its own: releasing the forkserver would break this one's other pools."""
    done = subprocess.run([sys.executable, "-c", RELEASE_SCRIPT, str(corpus.root / GOOD_AUDIO)],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    seen = json.loads(done.stdout)
    assert seen["first"] == seen["again"] > 0
    assert seen["exited"]
    assert seen["new"]


def test_the_forkserver_stays_while_a_pool_is_open(error_pool: ProbePool, tmp_path: Path) -> None:
    from multiprocessing import forkserver

    from mediashelf.probe.pool import release_forkserver

    with pytest.raises(ProbeCorrupt):  # the pool's processes (and their server) are up
        error_pool.probe(tmp_path / "any.mp3")
    server = forkserver._forkserver
    before = getattr(server, "_forkserver_pid", None)
    release_forkserver()
    assert getattr(server, "_forkserver_pid", None) == before is not None
    with pytest.raises(ProbeCorrupt):  # the open pool still gets its processes' answers
        error_pool.probe(tmp_path / "any.mp3")


def test_the_process_starting_a_pool_imports_no_backend(corpus: Corpus) -> None:
    """The pool's processes build the chain from its names: the process that starts the pool
    (a `mediashelf scan`, importing the database layer meanwhile) loads neither libav nor the
    backends' parsers, yet the pool probes with both (ffprobe is the fallback)."""
    code = (
        "import json, sys; from pathlib import Path; from mediashelf.config import Settings; "
        "from mediashelf.probe.pool import ProbePool\n"
        "with ProbePool.for_settings(Settings()) as pool:\n"
        f"    result = pool.probe(Path({str(corpus.root / GOOD_AUDIO)!r}))\n"
        "print(json.dumps([result.audio_codec, result.prober, "
        "sorted(m for m in sys.modules if m == 'av' or m.endswith('_backend'))]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    codec, prober, loaded = json.loads(done.stdout)
    assert (codec, loaded) == ("flac", [])
    assert prober.startswith("pyav")
