"""Names and formats fixed by the SOSpine data release (Balu et al., Sci Data 2024)."""

from __future__ import annotations

import re

#: Box labels in the fixed class order used for YOLO/COCO exports (class id = index).
BOX_LABELS: tuple[str, ...] = ("needle", "needle driver", "grasper", "nerve hook", "durotomy")

#: The paper's "instruments" mAP averages over these three classes.
INSTRUMENTS: tuple[str, ...] = ("grasper", "needle driver", "nerve hook")

#: Tool-tip labels of sospine_tool_tips.csv and the box label each one belongs to.
TIP_TO_TOOL: dict[str, str] = {
    "needle tip": "needle",
    "needle base": "needle",
    "needle driver tip": "needle driver",
    "needle driver base": "needle driver",
    "grasper": "grasper",
    "nerve hook": "nerve hook",
    "durotomy": "durotomy",
}
TIP_LABELS: tuple[str, ...] = tuple(TIP_TO_TOOL)

#: A tool annotated with a single point becomes a square of +-SINGLE_POINT_HALF_SIZE px.
SINGLE_POINT_HALF_SIZE = 50
#: ... whose low corners stop at this pixel, as in the published bbox file: its three single-point
#: needles within 50 px of the top edge start at y1 = 1 (e.g. 839,1,939,84), while the high corners
#: are not clipped (eight boxes reach past the 1080-pixel edge, up to y2 = 1100).
SINGLE_POINT_LOWEST = 1

COORDS: list[str] = ["x1", "y1", "x2", "y2"]  # a box's corners, in pixels of the original frame
ANNOTATION_COLUMNS: tuple[str, ...] = ("trial_frame", *COORDS, "label")
DETECTION_COLUMNS: tuple[str, ...] = ("trial_frame", "frame", *COORDS, "score", "label")
OUTCOME_COLUMNS: tuple[str, ...] = (
    "Trial ID",
    "Length",
    "Postgraduate year",
    "Prior experience with MISS",
    "Number prior cases",
    "Time for repair",
    "Leak At 40mmHg",
    "Total Frames at 1 FPS",
)

TRIAL_PATTERN = r"(?:S\d+A\d+|Clip\d+)"
#: Ground-truth frames are `<trial>_frame_<8 digits>.jpeg`; the published detections use `.jpg`.
FRAME_NAME_RE = re.compile(rf"^(?P<trial>{TRIAL_PATTERN})_frame_(?P<frame>\d{{8}})\.(?P<ext>jpeg|jpg)$")

#: The 24 video trials of the published release (a synthetic release of N trials has the first N).
VIDEO_TRIALS: tuple[str, ...] = ("Clip0", "Clip1") + tuple(
    f"S{s}A{a}" for s in range(1, 9) for a in range(1, 4) if (s, a) not in {(1, 1), (2, 1)}
)

#: The four test trials of the paper (the trials of the published YOLOv4 detections).
PAPER_TEST_TRIALS: tuple[str, ...] = ("S4A1", "Clip0", "S8A2", "S6A3")

#: FigShare names of the published files.
FRAMES_ZIP = "frames.zip"
TOOL_TIPS_CSV = "sospine_tool_tips.csv"
BBOX_CSV = "sospine_bbox.csv"
OUTCOMES_CSV = "sospine_outcomes.csv"
PAPER_DETECTIONS_CSV = "sospine_detections_3.6_0.05.csv"

FULL_WIDTH, FULL_HEIGHT = 1920, 1080


def frame_name(trial: str, frame: int, ext: str = "jpeg") -> str:
    return f"{trial}_frame_{frame:08d}.{ext}"


# The SOSpine data records on FigShare, version 1 as the paper cites them (record name -> DOI).
FIGSHARE_RECORDS = {
    "frames": "10.6084/m9.figshare.20201636.v1",
    "tool_tips": "10.6084/m9.figshare.20171135.v1",
    "bbox": "10.6084/m9.figshare.20171129.v1",
    "outcomes": "10.6084/m9.figshare.20171132.v1",
}
# The whole release with the authors' analysis files, as one archive (several GB).
FIGSHARE_RELEASE_ZIP = "10.6084/m9.figshare.22341523"
DATASET_LICENSE = {"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}
DATASET_CITATION = (
    "Balu A, et al. Simulated outcomes for durotomy repair in minimally invasive spine surgery. "
    "Scientific Data 11 (2024)"
)
