"""Probe failures: each backend and the chain classify them alike and leak no server path."""

from __future__ import annotations

import os
import pathlib
import shutil
import zlib
from pathlib import Path
from typing import Any

import pytest

from mediashelf.config import Settings
from mediashelf.errors import (
    ConfigError,
    ProbeCorrupt,
    ProbeCrashed,
    ProbeEmpty,
    ProbeError,
    ProbeMissing,
    ProbeNoStreams,
    ProbePermission,
    ProbeTimeout,
    ProbeUnsupported,
)
from mediashelf.probe.base import ProbeRunner, is_text
from mediashelf.probe.chain import ProbeChain, build_chain
from mediashelf.probe.ffprobe_backend import FfprobeProber
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult
from tests.conftest import Corpus

BROKEN = [
    ("broken/empty.mp3", "empty"),
    ("broken/truncated.mp4", "corrupt"),
    ("broken/random.mp4", "corrupt"),
    ("broken/notes.mkv", "corrupt"),
]


@pytest.fixture(params=["pyav", "ffprobe", "chain"])
def runner(request: pytest.FixtureRequest) -> ProbeRunner:
    """Each real backend, and the default chain."""
    if request.param == "pyav":
        return PyAVProber()
    if request.param == "ffprobe":
        request.getfixturevalue("require_ffprobe")
        return FfprobeProber()
    return build_chain(Settings())


def _assert_no_path_leak(error: ProbeError, path: Path) -> None:
    for text in (error.message, str(error)):
        assert str(path) not in text
        assert str(path.parent) not in text
        assert "/tmp" not in text


def test_broken_list_matches_the_manifest(corpus: Corpus) -> None:
    assert sorted(rel for rel, _ in BROKEN) == sorted(f.relpath for f in corpus.of_kind("broken"))


@pytest.mark.parametrize(("relpath", "error_class"), BROKEN)
def test_broken_file_is_classified(
    runner: ProbeRunner, corpus: Corpus, relpath: str, error_class: str
) -> None:
    path = corpus.root / relpath
    with pytest.raises(ProbeError) as caught:
        runner.probe(path)
    assert caught.value.error_class == error_class
    assert caught.value.message
    _assert_no_path_leak(caught.value, path)


def test_missing_file(runner: ProbeRunner, tmp_path: Path) -> None:
    path = tmp_path / "gone" / "nothing.mp4"
    with pytest.raises(ProbeMissing) as caught:
        runner.probe(path)
    assert caught.value.error_class == "missing"
    _assert_no_path_leak(caught.value, path)


def test_directory_is_unsupported(runner: ProbeRunner, tmp_path: Path) -> None:
    path = tmp_path / "folder.mkv"
    path.mkdir()
    with pytest.raises(ProbeUnsupported) as caught:
        runner.probe(path)
    assert caught.value.error_class == "unsupported"
    _assert_no_path_leak(caught.value, path)


def test_unreadable_file_is_permission(
    runner: ProbeRunner, corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where mode 000 does not stop reads: fake the refusal at open().
    path = tmp_path / "locked.mp4"
    shutil.copyfile(corpus.root / "video/h264_aac.mp4", path)
    real_open = pathlib.Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", refusing_open)
    with pytest.raises(ProbePermission) as caught:
        runner.probe(path)
    assert caught.value.error_class == "permission"
    _assert_no_path_leak(caught.value, path)


def test_good_file_still_probes(runner: ProbeRunner, corpus: Corpus) -> None:
    result = runner.probe(corpus.root / "video/h264_aac.mp4")
    assert result.video_codec == "h264"
    assert result.audio_codec == "aac"


# --------------------------------------------------------------------------- chain rules


def _result(tag: str) -> ProbeResult:
    return ProbeResult(
        container=tag, duration=1.0, size_bytes=10, bitrate=80, has_video=False, has_audio=True
    )


class FakeProber:
    """A backend with a scripted outcome that records its calls."""

    def __init__(self, name: str, outcome: ProbeResult | Exception) -> None:
        self.name = name
        self.outcome = outcome
        self.calls: list[Path] = []

    def probe(self, path: Path) -> ProbeResult:
        """Return or raise the scripted outcome."""
        self.calls.append(path)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


PATH = Path("clip.mp4")


def test_chain_first_success_wins() -> None:
    first, second = FakeProber("a", _result("first")), FakeProber("b", _result("second"))
    assert ProbeChain((first, second)).probe(PATH).container == "first"
    assert first.calls == [PATH]
    assert second.calls == []


@pytest.mark.parametrize(
    "error",
    [
        ProbeCorrupt("bad"),
        ProbeUnsupported("odd"),
        ProbeTimeout("slow"),
        ProbeCrashed("died"),
        ProbeNoStreams(),
    ],
)
def test_chain_moves_on_after_a_probe_error(error: ProbeError) -> None:
    failing, working = FakeProber("a", error), FakeProber("b", _result("second"))
    assert ProbeChain((failing, working)).probe(PATH).container == "second"
    assert failing.calls == [PATH]
    assert working.calls == [PATH]


@pytest.mark.parametrize("error", [ProbeMissing(), ProbePermission(), ProbeEmpty()])
def test_chain_stops_at_a_file_level_error(error: ProbeError) -> None:
    failing, working = FakeProber("a", error), FakeProber("b", _result("second"))
    with pytest.raises(type(error)) as caught:
        ProbeChain((failing, working)).probe(PATH)
    assert caught.value is error
    assert working.calls == []


def test_chain_raises_the_first_error_when_all_fail() -> None:
    first_error, second_error = ProbeUnsupported("first"), ProbeCorrupt("second")
    first, second = FakeProber("a", first_error), FakeProber("b", second_error)
    with pytest.raises(ProbeUnsupported) as caught:
        ProbeChain((first, second)).probe(PATH)
    assert caught.value is first_error
    assert second.calls == [PATH]


def test_a_backends_bug_fails_that_file_as_crashed_not_the_caller() -> None:
    """A bug met on one file (a crafted tag once divided by zero) is that file's failure:
    the next backend is tried, and when none succeeds the file is `crashed`, the bug named."""
    buggy, working = (
        FakeProber("a", ZeroDivisionError("float division by zero")),
        FakeProber("b", _result("second")),
    )
    assert ProbeChain((buggy, working)).probe(PATH).container == "second"
    with pytest.raises(ProbeCrashed) as caught:
        ProbeChain((buggy,)).probe(PATH)
    assert "ZeroDivisionError: float division by zero" in caught.value.message


@pytest.mark.parametrize("name", ["movie.mkv", "song.mp3", "film.mp4"])
def test_a_file_never_written_fails_once_without_the_fallback(tmp_path: Path, name: str) -> None:
    """A download client's preallocated file: zeros at its full size, whatever its name."""
    path = tmp_path / name
    with path.open("wb") as file:
        file.truncate(3 << 20)  # 3 MB of zeros (sparse)
    fallback = FakeProber("b", _result("second"))
    with pytest.raises(ProbeCorrupt) as caught:
        ProbeChain((PyAVProber(), fallback)).probe(path)
    assert "nothing but zero bytes" in caught.value.message
    assert fallback.calls == []


def test_a_fifo_named_like_media_fails_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe.mp3"
    os.mkfifo(path)
    fallback = FakeProber("b", ProbeUnsupported("not a file either"))
    with pytest.raises(ProbeUnsupported) as caught:
        ProbeChain((PyAVProber(), fallback)).probe(path)  # would block if opened to read
    assert caught.value.message == "Not a regular file."
    assert fallback.calls == [path]


def _png() -> bytes:
    """A 1x1 PNG picture: signature, IHDR, IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


ERROR_PAGE = (b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
              b"<body><h1>Not Found</h1><p>The requested URL was not found.</p></body>\n"
              b"</html>\n")  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [("cover.mp3", _png(), "a still picture"),
     ("cover.m4a", _png(), "a still picture"),
     ("song.mp3", ERROR_PAGE * 50, "it holds text"),
     ("film.mp4", ERROR_PAGE, "it holds text"),
     ("notes.flac", "Überschrift — ein Text\n".encode() * 300, "it holds text"),
     ("noise.flac", bytes(range(1, 256)) * 100, "No usable audio/video stream")],
)  # fmt: skip
def test_a_settled_verdict_is_not_asked_of_another_backend(
    tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    """A picture, text or noise under a media name: ffprobe took 0.1-0.25 s to say the same."""
    path = tmp_path / name
    path.write_bytes(content)
    fallback = FakeProber("b", _result("second"))
    with pytest.raises(ProbeCorrupt) as caught:
        ProbeChain((PyAVProber(), fallback)).probe(path)
    assert says in caught.value.message
    assert caught.value.settled
    assert fallback.calls == []


def test_bytes_no_container_matches_still_get_the_fallback(tmp_path: Path) -> None:
    """ffprobe may read a format the bundled libav lacks (extra extensions configured)."""
    path = tmp_path / "tune.mp4"
    path.write_bytes(bytes(range(1, 256)) * 100)  # binary, not text, no container
    fallback = FakeProber("b", _result("second"))
    assert ProbeChain((PyAVProber(), fallback)).probe(path).container == "second"
    assert fallback.calls == [path]


@pytest.mark.parametrize(
    "error",
    [ProbeCorrupt("still", settled=True), ProbeNoStreams(settled=True)],
)  # fmt: skip
def test_the_chain_stops_at_a_settled_verdict(tmp_path: Path, error: ProbeError) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x01" + bytes(100_000))  # neither zeros nor text
    failing, working = FakeProber("a", error), FakeProber("b", _result("second"))
    with pytest.raises(type(error)) as caught:
        ProbeChain((failing, working)).probe(path)
    assert caught.value is error
    assert working.calls == []


def test_text_is_told_from_binary_media_headers() -> None:
    assert is_text(b"hello\n")
    assert is_text("\ufeffTitel: Grüße\r\n".encode())
    assert is_text("é".encode() * 2047 + "é".encode()[:1])  # a character cut by the sample end
    assert not is_text(b"ID3\x04\x00\x00\x00\x00\x00\x00")  # an MP3's tag header
    assert not is_text(b"RIFF\x24\x08\x00\x00WAVEfmt ")
    assert not is_text(b"#!AMR\n\x3c\x48\xf5\x1f")  # AMR: a text magic, binary frames
    assert not is_text(b"YUV4MPEG2 W2 H2 F25:1\nFRAME\n\x10\x10\x10\x10\x80\x80")
    assert not is_text("é".encode()[:1] + b"x" * 100)  # invalid UTF-8 at the start


def test_zeros_after_a_real_start_still_get_the_fallback(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x01" + bytes(100_000))
    failing = FakeProber("a", ProbeCorrupt("bad"))
    working = FakeProber("b", _result("second"))
    assert ProbeChain((failing, working)).probe(path).container == "second"


def test_empty_chain_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        ProbeChain(()).probe(PATH)


def test_build_chain_keeps_the_configured_order() -> None:
    chain = build_chain(Settings(probers=("pyav",)))
    assert [p.name for p in chain.probers] == ["pyav"]


def test_build_chain_without_any_available_backend_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings(probers=("ffprobe",), ffprobe_path=str(tmp_path / "no-ffprobe"))
    with pytest.raises(ConfigError):
        build_chain(settings)


@pytest.mark.usefixtures("require_ffprobe")
def test_default_chain_is_pyav_then_ffprobe() -> None:
    chain = build_chain(Settings(probers=("pyav", "ffprobe")))
    assert [p.name for p in chain.probers] == ["pyav", "ffprobe"]
