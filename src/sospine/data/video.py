"""Recordings as data: frames sampled from a video as the dataset's were made, with FFmpeg's own
libraries (PyAV).

`sample_frames` decodes a recording (any container and codec FFmpeg reads: mp4, mov, avi, mkv;
H.264, HEVC, ...) and passes every frame through FFmpeg's `fps` filter, the one `ffmpeg -i VIDEO -vf
fps=1` runs, so the frames kept are the same; they are written as JPEG named like the dataset's
(`NAME_frame_00000001.jpeg`, from 1). The frames go to a `.partial` folder first and take their
final name only when the recording has been read to its end (or to where it is cut short, which
`Sampling.note` says): a folder of frames is never a half-written one.

`write_video` does the reverse for tests and the demo: frames held for a while each, encoded with
FFmpeg's H.264 (libx264) or HEVC (libx265) encoder.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

#: frames of a recording, named like the dataset's: `<name>_frame_00000001.jpeg`
FRAME_NAME = "{name}_frame_{number:08d}.jpeg"
#: a stream that ends this much before its stated duration was cut short
CUT_TOLERANCE_S = 1.5
PROGRESS_EVERY_S = 10.0


class VideoError(ValueError):
    """A recording that cannot be sampled; the message names the file and says why in one line."""


@dataclass
class Sampling:
    """What `sample_frames` read and wrote (also written as JSON beside the frames)."""

    video: str
    name: str
    fps: float
    frames: int
    duration_s: float | None  # what the container says, if it says
    read_until_s: float  # the last decoded frame's time
    complete: bool  # read to its end (False: cut short; `note` says where)
    note: str = ""

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


def _open(video: Path):  # noqa: ANN202 - av.container.InputContainer
    import av

    if not video.is_file():
        raise VideoError(f"{video}: no such file")
    if video.stat().st_size == 0:
        raise VideoError(f"{video}: an empty file, not a video")
    try:
        container = av.open(str(video))
    except (av.FFmpegError, UnicodeDecodeError) as error:
        reason = _reason(error)
        if _mp4_without_index(video):  # an MP4/MOV's index is written last: the recording stopped
            raise VideoError(
                f"{video}: cut short before its index was written (no moov box): the recording stopped "
                "before it was finished, and nothing of it can be read"
            ) from None
        raise VideoError(f"{video}: not a video FFmpeg can read ({reason})") from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["nothing"]
        container.close()
        raise VideoError(f"{video}: no video stream (it holds {', '.join(kinds)})")
    return container


def _mp4_without_index(video: Path) -> bool:
    """Whether `video` is an MP4/MOV (ISO boxes from its first byte) whose top-level boxes hold no
    `moov`, the index that is written when a recording is finished."""
    import struct

    with open(video, "rb") as handle:
        size = video.stat().st_size
        position, seen = 0, []
        while position + 8 <= size and len(seen) < 64:
            handle.seek(position)
            length, kind = struct.unpack(">I4s", handle.read(8))
            if length == 1 and position + 16 <= size:
                length = struct.unpack(">Q", handle.read(8))[0]
            seen.append(kind)
            if length < 8:
                break
            position += length
    return bool(seen) and seen[0] == b"ftyp" and b"moov" not in seen


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(str(text).split())[:200]


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Sampler:
    """FFmpeg's fps filter on the decoded frames, and its JPEG encoder (mjpeg, as the ffmpeg command
    writes .jpeg files) on the frames it keeps."""

    def __init__(self, stream, fps: float, folder: Path, name: str) -> None:  # noqa: ANN001 - a PyAV stream
        import av

        self.av, self.folder, self.name, self.written, self.encoder = av, folder, name, 0, None
        self.graph = av.filter.Graph()
        self.source = self.graph.add_buffer(template=stream)
        sampler = self.graph.add("fps", f"fps={Fraction(fps).limit_denominator(1000)}")
        self.sink = self.graph.add("buffersink")
        self.source.link_to(sampler)
        sampler.link_to(self.sink)
        self.graph.configure()

    def push(self, frame) -> None:  # noqa: ANN001 - a PyAV frame, or None at the end
        self.source.push(frame)
        while True:
            try:
                kept = self.sink.pull()
            except (self.av.error.BlockingIOError, self.av.error.EOFError):
                return
            if self.encoder is None:
                self.encoder = self.av.CodecContext.create("mjpeg", "w")
                self.encoder.width, self.encoder.height, self.encoder.pix_fmt = kept.width, kept.height, "yuvj420p"
                self.encoder.time_base = kept.time_base  # the fps filter's clock: 1/fps
            for packet in self.encoder.encode(kept.reformat(format="yuvj420p")):
                self.written += 1
                (self.folder / FRAME_NAME.format(name=self.name, number=self.written)).write_bytes(bytes(packet))


def sample_frames(
    video: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    fps: float = 1.0,
    say: Callable[[str], None] | None = None,
) -> Sampling:
    """Sample `video` at `fps` frames per second (FFmpeg's fps filter) into `out_dir` as JPEG files
    named `<name>_frame_%08d.jpeg` from 1 (`name`: the video's stem). A recording that stops early
    (cut short mid-file) gives its readable part, and `Sampling.note` says where it ends; a file that
    is no video, empty or without a video stream raises VideoError. `say` gets progress lines."""
    import av

    video, out_dir = Path(video), Path(out_dir)
    name = name or video.stem
    if fps <= 0:
        raise VideoError(f"--fps must be above 0, got {fps:g}")
    partial = _fresh_partial(out_dir)
    started = time.monotonic()
    with _open(video) as container:
        partial.mkdir(parents=True)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame and slice threads, as the ffmpeg command decodes
        duration = _duration(container, stream)
        sampler = _Sampler(stream, fps, partial, name)
        last_time, last_said, problem = 0.0, started, ""
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    last_time = float(frame.time) if frame.time is not None else last_time
                    sampler.push(frame)
                if say and time.monotonic() - last_said > PROGRESS_EVERY_S:
                    last_said = time.monotonic()
                    of = f" of {_clock(duration)}" if duration else ""
                    say(f"frames {name}: {_clock(last_time)}{of} read, {sampler.written} frames")
        except av.FFmpegError as error:  # a damaged or cut file: keep what was read
            problem = _reason(error)
        except BaseException:  # a full disk, Ctrl-C: nothing half-written stays
            shutil.rmtree(partial, ignore_errors=True)
            raise
        sampler.push(None)
    if not sampler.written:
        shutil.rmtree(partial, ignore_errors=True)
        raise VideoError(f"{video}: no frame could be decoded{f' ({problem})' if problem else ''}")
    cut = bool(problem) or (duration is not None and last_time < duration - CUT_TOLERANCE_S)
    note = ""
    if cut:
        ending = f" of {_clock(duration)}" if duration else ""
        why = f" ({problem})" if problem else ""
        note = (
            f"{video} is cut short: readable up to {_clock(last_time)}{ending}{why}; "
            f"the {sampler.written} frames up to there are analysed"
        )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.replace(out_dir)
    if say:
        seconds = time.monotonic() - started
        say(
            f"frames {name}: {sampler.written} frames at {fps:g} fps in {seconds:.1f} s" + (f"; {note}" if note else "")
        )
    return Sampling(str(video), name, float(fps), sampler.written, duration, round(last_time, 3), not cut, note)


def _fresh_partial(out_dir: Path) -> Path:
    """This process's own unfinished folder beside `out_dir` (a second sampling into the same folder
    does not write into it), after removing those that killed processes left."""
    import os

    for stale in out_dir.parent.glob(f"{out_dir.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[1]
        if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    return out_dir.with_name(f"{out_dir.name}.partial-{os.getpid()}")


def _duration(container, stream) -> float | None:  # noqa: ANN001
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # av.time_base
    return None


def write_video(
    frames: Iterable, path: str | Path, *, fps: int = 30, hold_s: float = 1.0, codec: str = "libx264"
) -> Path:
    """Write images (PIL images or image files) to `path` as a video, each held `hold_s` seconds at
    `fps` frames per second: what a camera recording a still scene for that long gives."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial" + path.suffix)
    repeats = max(1, round(hold_s * fps))
    try:
        _encode(frames, partial, fps, repeats, codec, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return path


def _encode(frames: Iterable, partial: Path, fps: int, repeats: int, codec: str, path: Path) -> None:
    import av
    from PIL import Image

    with av.open(str(partial), "w") as container:
        stream, shown = None, 0
        for item in frames:
            image = item if isinstance(item, Image.Image) else Image.open(item)
            image = image.convert("RGB")
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.width, stream.height = image.width - image.width % 2, image.height - image.height % 2
                stream.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_image(image.crop((0, 0, stream.width, stream.height)))
            for _ in range(repeats):
                frame.pts, shown = shown, shown + 1
                for packet in stream.encode(frame):
                    container.mux(packet)
        if stream is None:
            raise VideoError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)


def trial_frames(frames_zip: str | Path, trial: str) -> Iterator:
    """One trial's frames of a frames.zip, in frame order, as PIL images, one at a time."""
    import io
    import zipfile

    from PIL import Image

    from sospine.constants import FRAME_NAME_RE

    with zipfile.ZipFile(frames_zip) as archive:
        found = []
        for member in archive.namelist():
            match = FRAME_NAME_RE.match(Path(member).name)
            if match and match["trial"] == trial:
                found.append((int(match["frame"]), member))
        if not found:
            raise VideoError(f"{frames_zip}: no frames of trial {trial!r}")
        for _, member in sorted(found):
            yield Image.open(io.BytesIO(archive.read(member)))
