"""An MP3's duration from its own frames and headers, where libav's is the file's size.

An MP3 states its length only in a Xing/Info or VBRI header in its first frame. libav (and
ffprobe, and most media servers) otherwise divide the file's size by the first frame's
bitrate, and they throw away a stated count when the file is more than a sixteenth larger
than the count's bytes ("a concatenated file"). Both go wrong on files people keep:

- a VBR file without a count (mp3 cutters, old encoders): 14.6 s for a 12 s file;
- tags after the audio: an APEv2 tag holding cover art (foobar2000 and MP3Gain write APEv2)
  is megabytes libav counts as audio, even beside a correct Xing count: 247 s for 8 s;
- junk between the ID3v2 tag and the first frame, which libav skips and the count did not.

So the audio is taken to run from the first run of frames after the leading tags to the
trailing ID3v1/APEv2 tags (`probe/elementary.py`). A stated count that fits those bytes
is the length (less the encoder delay and padding LAME states); a file cut short holds
fewer (its count would time the missing part too). One that does not fit, or none in
a file whose bitrate varies, has every frame header walked (4 bytes per ~0.4 KB frame, no
decoding); a constant bitrate divides the audio's bytes. A CBR file costs five small reads:
at the start and at each fifth of the audio, its frames must have the first frame's bitrate
and begin where that bitrate puts them (an encoder pads frames so that frame k starts within
a byte of k times the average length), and the audio must end on that grid too. A VBR file
quiet at all five places (silence encodes at the lowest bitrate) has louder, longer frames
elsewhere, so the quiet frames found there are off that grid, and it is walked; so is a file
of CBR parts joined at different bitrates. At 48 kHz every frame length is a multiple of
24 bytes, so a VBR file lands on the grid by chance at one place in four; five places and
the end make that about one in a thousand, for a file quiet at all of them. libav's
duration is kept where it read the same stated count (within two frames: its own rounding);
a count of every frame, or a CBR file's bytes, replace it (libav's own estimate from the
bytes differs by microseconds between the fast path and the full analysis).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mediashelf.probe.covers import ID3_HEADER, id3v2_tag_length
from mediashelf.probe.elementary import audio_end, audio_start, first_run
from mediashelf.probe.mpeg_audio import Frame, parse_header, stated_count
from mediashelf.probe.reader import ProbeReader
from mediashelf.probe.result import ProbeResult

MPEG_AUDIO_CODECS = frozenset({"mp1", "mp2", "mp3"})
_FIRST = 4096  # bytes read at the first frame: its header, and a Xing/Info/VBRI header
_WINDOW = 8 * 1024  # bytes read at each sampled place: 3 frames and a search at any bitrate
_PLACES = 5  # the start and each fifth of the audio
_CHUNK = 1 << 20  # bytes per read while counting
_TRAILING_TAGS = 32 * 1024  # room for a tag after the audio that is not ID3v1 or APEv2
_SLACK_FRAMES = 2  # how far libav's duration may be from the counted one and still be kept
_GRID_SLACK = 2  # bytes a CBR frame may start off the constant bitrate's grid (padding)
_CUT_SLACK = 1024  # bytes fewer than a count states that still pass as its audio (a frame)


def counted_duration(path: Path, result: ProbeResult) -> ProbeResult:
    """Return `result` with the duration of the MP3 `path`'s frames where libav's is off.

    Anything unexpected (no frame run, damage the walk cannot cross) leaves `result` as
    libav read it.
    """
    if result.container != "mp3" or result.audio_codec not in MPEG_AUDIO_CODECS:
        return result
    if result.has_video or not result.size_bytes:
        return result
    try:
        with ProbeReader(path) as file:  # no readahead past what is read
            counted = _count(file)
    except OSError:
        return result
    if counted is None:
        return result
    seconds, audio_bytes, first, stated = counted
    slack = _SLACK_FRAMES * first.samples / first.sample_rate
    if stated and result.duration is not None and abs(result.duration - seconds) <= slack:
        return result  # libav read the same count: its rounding stays
    return replace(
        result,
        duration=round(seconds, 6),
        bitrate=round(result.size_bytes * 8 / seconds),
        audio_bitrate=round(audio_bytes * 8 / seconds),
    )


def _count(file: ProbeReader) -> tuple[float, int, Frame, bool] | None:
    """Return (seconds, audio bytes, first frame, whether a stated count gave the length)
    of the audio, or None when unsure."""
    start = first_run(file, audio_start(file), "mp3")
    if start is None:
        return None
    end = audio_end(file)
    head = file.pread(start, _FIRST)
    first = parse_header(head)
    if first is None or end <= start:
        return None
    audio = end - start
    stated = stated_count(head, first)
    if stated is not None and _fits(stated.bytes, audio, start):
        samples = stated.frames * first.samples - stated.trimmed
        return (samples / first.sample_rate, audio, first, True) if samples > 0 else None
    if stated is None and _constant_bitrate(file, start, end, first):
        return audio * 8 / first.bitrate, audio, first, False
    walked = _walk(file, start, end, first)
    if walked is None:
        return None
    seconds, audio_bytes = walked
    if stated is not None:
        seconds -= first.samples / first.sample_rate  # the header's own frame holds no audio
    if seconds <= 0:
        return None
    return seconds, audio_bytes, first, False


def _fits(stated_bytes: int | None, audio: int, lead: int) -> bool:
    """Tell whether a count of `stated_bytes` describes `audio` bytes of frames that start
    `lead` bytes into the file.

    Up to a sixteenth more audio is libav's own tolerance (a tag it did not see); less audio
    than stated by more than _CUT_SLACK is a file cut short (an interrupted download, a copy
    that stopped), whose count would time frames that are not there, unless the count
    includes what precedes the frames (an encoder counting the ID3v2 tag it wrote itself).
    """
    if stated_bytes is None:
        return True
    short = stated_bytes - audio
    return -(audio // 16) <= short <= _CUT_SLACK or abs(short - lead) <= _CUT_SLACK


def _constant_bitrate(file: ProbeReader, start: int, end: int, first: Frame) -> bool:
    """Tell whether the audio ends, and the frames at the start and at each fifth of it sit,
    where a constant bitrate puts them, at that bitrate."""
    average = first.samples * first.bitrate / (8 * first.sample_rate)  # bytes per frame

    def on_grid(offset: int) -> bool:
        return abs(offset - round(offset / average) * average) <= _GRID_SLACK

    if not on_grid(end - start):
        return False
    for nth in range(_PLACES):  # not only the start: VBR files open with quiet frames
        place = start + (end - start) * nth // _PLACES
        at, frames = _frames(file.pread(place, _WINDOW), first)
        if not frames or any(frame.bitrate != first.bitrate for frame in frames):
            return False
        if not on_grid(place + at - start):
            return False
    return True


def _walk(file: ProbeReader, start: int, end: int, first: Frame) -> tuple[float, int] | None:
    """Return the seconds and bytes of every frame from `start`; None when the frames stop
    well before `end`.

    MP3 files joined with `cat` (chapters, a split recording put back) are walked across:
    at an ID3v2 tag where a frame should be, the next file begins, in a stream of its own
    (another bitrate or sample rate), and its Xing/Info frame, which holds no audio, does
    not count.
    """
    seconds, audio_bytes = 0.0, 0
    offset, buffer, base = start, b"", start
    stream: tuple[int, int, int] | None = first.stream
    joined = False
    known: dict[bytes, Frame | None] = {}  # a stream repeats a few dozen distinct headers
    while True:
        if offset + _FIRST > base + len(buffer) and base + len(buffer) < end:
            buffer, base = file.pread(offset, _CHUNK), offset
        if offset + 4 > base + len(buffer):
            break
        head = buffer[offset - base : offset - base + 4]
        frame = known[head] if head in known else known.setdefault(head, parse_header(head))
        if frame is None and head.startswith(b"ID3"):
            tag = id3v2_tag_length(file.pread(offset, ID3_HEADER))
            if tag is None:
                break
            offset, stream, joined = offset + tag, None, True
            continue
        if frame is None or stream not in (None, frame.stream) or offset + frame.length > end:
            break
        if joined and stated_count(buffer[offset - base : offset - base + _FIRST], frame):
            offset, joined = offset + frame.length, False  # the joined file's Info frame
            continue
        stream, joined = frame.stream, False
        seconds += frame.samples / frame.sample_rate
        audio_bytes, offset = audio_bytes + frame.length, offset + frame.length
    return (seconds, audio_bytes) if seconds and end - offset <= _TRAILING_TAGS else None


def _frames(data: bytes, first: Frame) -> tuple[int, list[Frame]]:
    """Return where the frames found in `data` start, and them: from its first header that
    two more confirm on."""
    for at in range(max(0, len(data) - 4)):
        chain = _chain(data, at, first)
        if len(chain) >= 3:
            return at, chain
    return 0, []


def _chain(data: bytes, at: int, first: Frame) -> list[Frame]:
    chain: list[Frame] = []
    while at + 4 <= len(data):
        frame = parse_header(data[at : at + 4])
        if frame is None or frame.stream != first.stream:
            break
        chain.append(frame)
        at += frame.length
    return chain
