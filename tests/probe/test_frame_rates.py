"""Frame rates that rounded timestamps skewed, and the default video track (probe attack).

Each file is one a user really has: a Matroska remux from a tool that writes no
DefaultDuration, a fragmented MP4 as ffmpeg writes it to a pipe, an MKV with an alternate
angle. Every way of probing (fast, full, ffprobe) must store the true fact.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.probe.base import Prober

DEFAULT_DURATION = b"\x23\xe3\x83"  # Matroska's DefaultDuration element id
UNKNOWN_ELEMENT = b"\x23\xe3\x84"  # an id no demuxer knows: the element is skipped


def _without_default_duration(path: Path) -> None:
    """Rename the track's DefaultDuration, as muxers that never write one leave it."""
    data = path.read_bytes()
    assert DEFAULT_DURATION in data
    path.write_bytes(data.replace(DEFAULT_DURATION, UNKNOWN_ELEMENT, 1))


def _remux(source: Path, target: Path, fmt: str, options: dict[str, str]) -> None:
    """Copy every stream of `source` into `target` with container `options`."""
    with av.open(str(source)) as src, av.open(str(target), "w", format=fmt,
                                                options=options) as dst:  # fmt: skip
        outs = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = outs[packet.stream.index]
                dst.mux(packet)


def test_matroska_without_frame_durations_keeps_ntsc_rates(
    tmp_path: Path, each_way: Prober
) -> None:
    """The average of millisecond timestamps read 24.417 for 23.976 and 62.5 for 59.94."""
    for fps, expected in ((Fraction(24000, 1001), 23.976), (Fraction(60000, 1001), 59.94),
                          (Fraction(120), 120.0), (Fraction(25), 25.0)):  # fmt: skip
        path = tmp_path / f"{float(fps):.0f}.mkv"
        write_clip(path, ClipSpec("matroska", "libx264", "aac", width=64, height=48, fps=fps,
                                  duration_s=2.0, amplitude=0))  # fmt: skip
        _without_default_duration(path)
        assert each_way.probe(path).video_fps == expected, path.name


def test_fragmented_mp4_states_its_nominal_rate(tmp_path: Path, each_way: Prober) -> None:
    """ffmpeg's fMP4 (frag_keyframe, empty_moov) read 24.884 fps for 25."""
    plain = tmp_path / "plain.mp4"
    write_clip(plain, ClipSpec("mp4", "libx264", "aac", width=64, height=48, duration_s=4.0,
                               video_options=(("g", "25"),), amplitude=0))  # fmt: skip
    fragmented = tmp_path / "fragmented.mp4"
    _remux(plain, fragmented, "mp4",
           {"movflags": "frag_keyframe+empty_moov+default_base_moof"})  # fmt: skip
    assert each_way.probe(fragmented).video_fps == 25.0


def test_a_rate_equal_to_the_time_base_is_no_frame_rate(tmp_path: Path, each_way: Prober) -> None:
    """Variable-rate Matroska (30 fps, then 10) has no frame duration: not "1000 fps"."""
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        times = [i * 1000 // 30 for i in range(75)] + [2500 + i * 100 for i in range(25)]
        for ms in times:
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    if DEFAULT_DURATION in path.read_bytes():
        _without_default_duration(path)
    fps = each_way.probe(path).video_fps
    assert fps is not None
    assert 10.0 <= fps <= 30.0  # the peak or the average; never the time base


def test_the_default_video_track_is_the_main_one(tmp_path: Path, each_way: Prober) -> None:
    """An alternate angle, larger but not default, was taken for the film."""
    path = tmp_path / "angles.mkv"
    with av.open(str(path), "w", format="matroska") as out:
        small = out.add_stream("libx264", rate=25)
        large = out.add_stream("libx264", rate=25)
        for stream, (width, height) in ((small, (64, 48)), (large, (128, 96))):
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        small.disposition = av.stream.Disposition.default
        large.disposition = av.stream.Disposition(0)
        for index in range(10):
            for stream in (small, large):
                frame = av.VideoFrame(stream.width, stream.height, "yuv420p")
                frame.pts = index
                out.mux(stream.encode(frame))
        for stream in (small, large):
            out.mux(stream.encode(None))
    result = each_way.probe(path)
    assert (result.width, result.height) == (64, 48)
