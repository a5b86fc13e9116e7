"""YOLO (ultralytics layout) and COCO export straight from frames.zip.

Frames are decoded from the archive (no extraction) with Pillow's JPEG draft mode, which decodes
at a reduced scale, so downscaling 1920x1080 frames costs a fraction of a full decode. Output file
names come from the validated annotation frame names, never from archive entry names, so a hostile
archive cannot make us write outside the output folder.
"""

from __future__ import annotations

import json
import logging
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from sospine import constants
from sospine.constants import BOX_LABELS, COORDS
from sospine.progress import Progress

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
# pycocotools 2.0.9-2.0.10 raise KeyError: 'info' on files without it
COCO_INFO = {
    "description": "SOSpine: simulated outcomes for durotomy repair in minimally invasive spine surgery "
    "(frames exported by the sospine workflow; file_name is relative to the dataset folder)",
    "url": "https://doi.org/" + constants.FIGSHARE_RECORDS["frames"],
    "version": "1",
    "year": 2024,
    "contributor": constants.DATASET_CITATION,
    "date_created": "2024",
}


class ExportError(RuntimeError):
    pass


@dataclass
class ArchiveIndex:
    entries: dict[str, str]  # frame file name -> archive entry name
    refused: list[str]  # zip-slip entries (absolute paths, ..)
    skipped: list[str]  # non-JPEG entries
    oversized: list[str]  # JPEG entries far larger than a frame can be


# A 1920x1080 JPEG frame is well under 2 MB; an entry above this is no frame (and would be read
# into memory whole by every export worker).
MAX_FRAME_BYTES = 64 << 20


def index_archive(archive: zipfile.ZipFile) -> ArchiveIndex:
    entries, refused, skipped, oversized = {}, [], [], []
    for info in archive.infolist():
        name = info.filename
        if info.is_dir():
            continue
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":"):
            refused.append(name)
            continue
        if path.suffix.lower() not in (".jpeg", ".jpg"):
            skipped.append(name)
            continue
        if info.file_size > MAX_FRAME_BYTES:
            oversized.append(f"{name} ({info.file_size} bytes)")
            continue
        entries[path.name] = name
    return ArchiveIndex(entries, refused, skipped, oversized)


def target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def clip_to_frame(xyxy: np.ndarray, width, height) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) clipped to their frame (scalars or per-box arrays) and a mask of those with area left."""
    xy = np.asarray(xyxy, dtype=float).reshape(-1, 4).copy()
    w = np.broadcast_to(np.asarray(width, dtype=float), len(xy))
    h = np.broadcast_to(np.asarray(height, dtype=float), len(xy))
    xy[:, 0], xy[:, 2] = np.clip(xy[:, 0], 0, w), np.clip(xy[:, 2], 0, w)
    xy[:, 1], xy[:, 3] = np.clip(xy[:, 1], 0, h), np.clip(xy[:, 3], 0, h)
    return xy, (xy[:, 2] > xy[:, 0]) & (xy[:, 3] > xy[:, 1])


def yolo_labels(classes: np.ndarray, xyxy: np.ndarray, width: int, height: int) -> tuple[list[str], int]:
    """Label lines (class cx cy w h, normalised) for one frame's boxes in original pixels.

    Boxes are clipped to the frame first; boxes with no area left are skipped and counted.
    """
    if len(classes) == 0:
        return [], 0
    xy, keep = clip_to_frame(xyxy, width, height)
    lines = [
        f"{int(c)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
        f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        for c, (x1, y1, x2, y2) in zip(classes[keep], xy[keep], strict=False)
    ]
    return lines, int((~keep).sum())


def _decode(data: bytes, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    import io

    image = Image.open(io.BytesIO(data))
    original = image.size
    size = target_size(*original, max_side)
    if size != original:
        image.draft("RGB", size)  # decode at 1/2, 1/4 or 1/8 scale when that is still >= size
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.BILINEAR)
    return image, original


def export_yolo(
    frames_zip: str | Path,
    boxes: pd.DataFrame,
    frames: pd.DataFrame,
    out_dir: str | Path,
    *,
    max_side: int = 640,
    jpeg_quality: int = 90,
    workers: int = 2,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write images/<split>/, labels/<split>/, coco/<split>.json and dataset.yaml under `out_dir`.

    `progress` receives a compact line every few seconds (default: this module's log).

    `boxes` are published-format rows (original pixels); `frames` has `trial_frame` and `split`.
    Returns counts for the log. Raises ExportError naming missing frames or corrupt JPEGs.
    """
    out = Path(out_dir)
    labelled = boxes.dropna(subset=["label"])
    # per frame, positions into plain arrays: the workers never touch pandas
    rows_of_frame = labelled.groupby("trial_frame", sort=False).indices
    all_classes = labelled["label"].map({label: i for i, label in enumerate(BOX_LABELS)}).to_numpy(int)
    all_xyxy = labelled[COORDS].to_numpy(float)
    no_rows = np.array([], dtype=int)
    try:
        with zipfile.ZipFile(frames_zip) as archive:
            index = index_archive(archive)
    except (zipfile.BadZipFile, OSError) as error:  # truncated, empty, not a zip at all
        raise ExportError(f"{frames_zip}: not a readable zip archive ({error})") from None
    if index.oversized:
        raise ExportError(
            f"{frames_zip}: {len(index.oversized)} entries are far larger than a frame can be "
            f"(over {MAX_FRAME_BYTES >> 20} MB): {', '.join(index.oversized[:5])}"
        )
    for name in index.refused:
        log.warning("refusing unsafe archive entry %r (absolute path or '..')", name)
    for name in index.skipped:
        log.warning("skipping non-JPEG archive entry %r", name)
    missing = sorted(set(frames["trial_frame"]) - set(index.entries))
    if missing:
        shown = ", ".join(missing[:20]) + (f" ... ({len(missing)} in all)" if len(missing) > 20 else "")
        raise ExportError(f"{frames_zip}: {len(missing)} annotated frames missing from the archive: {shown}")

    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)

    local = threading.local()

    def thread_archive() -> zipfile.ZipFile:
        if not hasattr(local, "archive"):
            local.archive = zipfile.ZipFile(frames_zip)
        return local.archive

    def export_frame(row: tuple[str, str]) -> tuple[str, str, tuple[int, int], tuple[int, int], int, int]:
        frame, split = row
        stem = frame.rsplit(".", 1)[0]
        try:
            image, original = _decode(thread_archive().read(index.entries[frame]), max_side)
        except Exception as error:  # noqa: BLE001 - any decoder failure means a corrupt frame
            raise ExportError(f"{frames_zip}: corrupt JPEG {index.entries[frame]!r}: {error}") from None
        image.save(out / "images" / split / f"{stem}.jpg", quality=jpeg_quality)
        rows = rows_of_frame.get(frame, no_rows)
        lines, dropped = yolo_labels(all_classes[rows], all_xyxy[rows], *original)
        (out / "labels" / split / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
        return frame, split, original, image.size, len(lines), dropped

    rows = list(zip(frames["trial_frame"], frames["split"], strict=False))
    results = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        counter = Progress(f"export {out.name}", len(rows), "frames", write=progress or log.info)
        for result in pool.map(export_frame, rows):
            results.append(result)
            counter.update()

    _write_coco(out, results, labelled)
    (out / "dataset.yaml").write_text(
        "# ultralytics dataset; paths are relative to this file's folder\n"
        + "".join(f"{split}: images/{split}\n" for split in SPLITS)
        + "names:\n"
        + "".join(f"  {i}: {label}\n" for i, label in enumerate(BOX_LABELS))
    )
    counts = pd.DataFrame(results, columns=["frame", "split", "original", "size", "boxes", "dropped"])
    return {
        "frames": counts.groupby("split").size().to_dict(),
        "boxes": counts.groupby("split")["boxes"].sum().to_dict(),
        "dropped_zero_area": int(counts["dropped"].sum()),
        "refused_entries": index.refused,
        "skipped_entries": index.skipped,
    }


def _write_coco(out: Path, results: list, labelled: pd.DataFrame) -> None:
    """One COCO file per split; boxes clipped to the frame and scaled to the exported images."""
    (out / "coco").mkdir(exist_ok=True)
    categories = [{"id": i + 1, "name": label} for i, label in enumerate(BOX_LABELS)]
    frames = pd.DataFrame(
        [(frame, split, orig[0], orig[1], size[0], size[1]) for frame, split, orig, size, _, _ in results],
        columns=["trial_frame", "split", "original_width", "original_height", "width", "height"],
    )
    frames["stem"] = frames["trial_frame"].str.rsplit(".", n=1).str[0]
    for split in SPLITS:
        images = frames[frames["split"] == split].reset_index(drop=True)
        images["id"] = np.arange(1, len(images) + 1)
        images["file_name"] = "images/" + split + "/" + images["stem"] + ".jpg"
        boxes = labelled.merge(images, on="trial_frame")
        xy, keep = clip_to_frame(
            boxes[COORDS].to_numpy(float),
            boxes["original_width"].to_numpy(),
            boxes["original_height"].to_numpy(),
        )
        x1, y1, x2, y2 = xy.T
        sx = (boxes["width"] / boxes["original_width"]).to_numpy(float)
        sy = (boxes["height"] / boxes["original_height"]).to_numpy(float)
        w, h = ((x2 - x1) * sx)[keep], ((y2 - y1) * sy)[keep]
        annotations = pd.DataFrame(
            {
                "id": np.arange(1, keep.sum() + 1),
                "image_id": boxes["id"].to_numpy()[keep],
                "category_id": boxes["label"]
                .map({label: i + 1 for i, label in enumerate(BOX_LABELS)})
                .to_numpy()[keep],
                "bbox": np.column_stack([(x1 * sx)[keep], (y1 * sy)[keep], w, h]).tolist(),
                "area": w * h,
                "iscrowd": 0,
            }
        )
        image_records = images[
            ["id", "file_name", "width", "height", "trial_frame", "original_width", "original_height"]
        ]
        document = {
            "info": COCO_INFO,
            "licenses": [constants.DATASET_LICENSE],
            "images": image_records.assign(license=constants.DATASET_LICENSE["id"]).to_dict("records"),
            "annotations": annotations.to_dict("records"),
            "categories": categories,
        }
        (out / "coco" / f"{split}.json").write_text(json.dumps(document, default=int))


def to_original_pixels(xyxy: np.ndarray, image: dict) -> np.ndarray:
    """Boxes on an exported (resized) image, in the original frame's pixels: the inverse of the
    export's scaling, for every detector's predictions (COCO `images` entries name both sizes).

    >>> image = {"width": 96, "height": 54, "original_width": 1920, "original_height": 1080}
    >>> to_original_pixels([[10, 5, 20, 15]], image).tolist()
    [[200.0, 100.0, 400.0, 300.0]]
    """
    scale = np.array([image["original_width"] / image["width"], image["original_height"] / image["height"]] * 2)
    return np.asarray(xyxy, dtype=float).reshape(-1, 4) * scale
