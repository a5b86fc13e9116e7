"""Sampling a recording's frames: `sospine frames VIDEO --out DIR` against the reference command
`ffmpeg -i VIDEO -vf fps=1 DIR/%08d.jpeg`, both as whole processes, on a 1080p30 H.264 file made in
the same run (FFmpeg's testsrc2 pattern, encoded with libx264), alternating, median of --repeats.

    python benchmarks/frames.py [--seconds 60] [--repeats 3]

Prints both wall times, their ratio (the target: sospine within 1.25x of ffmpeg) and that both wrote
the same number of frames. Needs the ffmpeg command (Debian's package).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the 1080p30 test recording (default 60)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command (default 3)")
    args = parser.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("the reference ffmpeg command is not installed (apt-get install ffmpeg)", file=sys.stderr)
        return 1
    sospine = [sys.executable, "-m", "sospine"]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        video = work / "case.mp4"
        source = f"testsrc2=size=1920x1080:rate=30:duration={args.seconds}"
        subprocess.run(
            [ffmpeg, "-v", "error", "-f", "lavfi", "-i", source, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)],
            check=True,
        )
        print(f"recording: {args.seconds} s of 1080p30 H.264, {video.stat().st_size / 2**20:.1f} MB")
        reference, ours = [], []
        for _ in range(args.repeats):
            shutil.rmtree(work / "ffmpeg", ignore_errors=True)
            (work / "ffmpeg").mkdir()
            reference.append(
                timed([ffmpeg, "-v", "error", "-i", str(video), "-vf", "fps=1", f"{work}/ffmpeg/%08d.jpeg"])
            )
            ours.append(timed([*sospine, "frames", str(video), "--out", str(work / "sospine")]))
        n_reference = len(list((work / "ffmpeg").glob("*.jpeg")))
        n_ours = len(list((work / "sospine").glob("*.jpeg")))
    ffmpeg_s, sospine_s = statistics.median(reference), statistics.median(ours)
    print(f"ffmpeg -vf fps=1: {ffmpeg_s:.2f} s (median of {args.repeats}: {', '.join(f'{t:.2f}' for t in reference)})")
    print(f"sospine frames:   {sospine_s:.2f} s (median of {args.repeats}: {', '.join(f'{t:.2f}' for t in ours)})")
    print(f"ratio sospine / ffmpeg: {sospine_s / ffmpeg_s:.2f} (target at most 1.25)")
    print(f"frames: ffmpeg {n_reference}, sospine {n_ours}")
    return 0 if n_reference == n_ours else 1


if __name__ == "__main__":
    sys.exit(main())
