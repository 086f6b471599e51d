"""What a probe tells about one file, independent of the backend that found it."""

from __future__ import annotations

from dataclasses import dataclass, field

MEDIA_FIELDS: tuple[str, ...] = (
    "container",
    "duration",
    "size_bytes",
    "bitrate",
    "width",
    "height",
    "resolution",
    "video_codec",
    "video_fps",
    "video_bitrate",
    "audio_codec",
    "audio_bitrate",
    "audio_channels",
    "audio_channel_layout",
    "audio_sample_rate",
    "audio_bit_depth",
)
VIDEO_FIELDS: tuple[str, ...] = (
    "width",
    "height",
    "resolution",
    "video_codec",
    "video_fps",
    "video_bitrate",
)
AUDIO_FIELDS: tuple[str, ...] = (
    "audio_codec",
    "audio_bitrate",
    "audio_channels",
    "audio_channel_layout",
    "audio_sample_rate",
    "audio_bit_depth",
)


@dataclass(frozen=True)
class StreamFacts:
    """One stream as a backend read it, raw: the shared normaliser applies every rule.

    Numbers stay as the backend found them ("N/A", 0, "30000/1001", Fraction, int); the
    normaliser decides what is unknown. Both backends fill the same fields with the same
    meaning (those of libav's AVCodecParameters), which is what makes them agree.
    """

    kind: str  # "video" | "audio" | other codec types
    codec: str | None  # libav's canonical codec name ("mp3", "h264", "pcm_s16le")
    width: object = None
    height: object = None
    avg_frame_rate: object = None
    r_frame_rate: object = None
    field_order: str | None = None  # "progressive", "tt", "bb", "tb", "bt" or None
    frames: object = None  # nb_frames as the container states it
    bitrate: object = None
    channels: object = None
    channel_layout: str | None = None
    sample_rate: object = None
    sample_format: str | None = None  # "s16", "s32p", "fltp" ...
    bits_per_raw_sample: object = None
    attached_pic: bool = False
    default: bool = False
    # The programmes (MPEG-TS services) the stream belongs to: a broadcast capture carries
    # several, each with its own picture and sound.
    programs: tuple[int, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    """The technical facts of one media file; None means unknown."""

    container: str | None
    duration: float | None
    size_bytes: int | None
    bitrate: int | None
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    video_fps: float | None = None
    video_bitrate: int | None = None
    audio_codec: str | None = None
    audio_bitrate: int | None = None
    audio_channels: int | None = None
    audio_channel_layout: str | None = None
    audio_sample_rate: int | None = None
    audio_bit_depth: int | None = None
    prober: str = ""
    probe_ms: float = field(default=0.0, compare=False)

    @property
    def resolution(self) -> str | None:
        """Return "WxH", or None when there is no video or a dimension is unknown."""
        if self.width is None or self.height is None:
            return None
        return f"{self.width}x{self.height}"

    def media_fields(self) -> dict[str, object]:
        """Return the media columns of §2 as a dict (resolution included)."""
        return {name: getattr(self, name) for name in MEDIA_FIELDS}  # scalars: no deep copy
