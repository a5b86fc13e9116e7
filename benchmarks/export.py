"""Frames per second of the YOLO export (JPEG draft-mode decode from the zip, parallel workers)
against a naive loop (extract, full decode, Image.resize), on the same 1920x1080 frames.

    python benchmarks/export.py [--frames 80] [--max-side 640] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import zipfile
from pathlib import Path

from PIL import Image

from sospine import constants
from sospine.data.synth import SynthSpec, generate
from sospine.dataset.export import export_yolo, target_size
from sospine.tables import read_annotations, with_frame_columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = generate(SynthSpec(seed=0, trials=2, frames_per_trial=args.frames // 2), tmp / "data")
        boxes = read_annotations(paths[constants.BBOX_CSV])
        frames = (
            with_frame_columns(boxes).drop_duplicates("trial_frame")[["trial_frame", "trial"]].assign(split="train")
        )

        start = time.perf_counter()
        export_yolo(
            paths[constants.FRAMES_ZIP], boxes, frames, tmp / "fast", max_side=args.max_side, workers=args.workers
        )
        fast_s = time.perf_counter() - start

        out = tmp / "naive"
        out.mkdir()
        start = time.perf_counter()
        with zipfile.ZipFile(paths[constants.FRAMES_ZIP]) as archive:
            for name in frames["trial_frame"]:
                image = Image.open(io.BytesIO(archive.read(name)))
                image = image.convert("RGB").resize(target_size(*image.size, args.max_side), Image.BILINEAR)
                image.save(out / name.replace(".jpeg", ".jpg"), quality=90)
        naive_s = time.perf_counter() - start

    n = len(frames)
    print(f"{n} frames 1920x1080 -> longest side {args.max_side}")
    print(f"export (draft mode, {args.workers} workers, labels + COCO): {n / fast_s:.1f} frames/s")
    print(f"naive loop (full decode + resize, images only):   {n / naive_s:.1f} frames/s")
    print(f"speed-up: {naive_s / fast_s:.1f}x")


if __name__ == "__main__":
    main()
