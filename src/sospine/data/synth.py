"""A deterministic synthetic SOSpine in the published formats.

The offline stand-in for FigShare: trials named like the real ones, JPEG frames at "1 fps" in a
zip, tool tips with the seven tip labels, boxes from the generator's own geometry by the paper's
rule, an outcomes file with the real file's quirks, and the scripted ground-truth phases.

Every drawn tool is a polyline through its annotated key points, so the box of the points is the
drawn object and a small detector can learn each tool from its colour and shape.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from sospine import constants
from sospine.constants import COORDS
from sospine.data.synth_detections import synthetic_detections
from sospine.tables import write_csv

#: The 24 video trials of the real release; `--trials N` takes the first N.
VIDEO_TRIALS = constants.VIDEO_TRIALS
#: Trials that have outcomes but no video, as in the real file.
NO_VIDEO_TRIALS: tuple[str, ...] = ("S1A1", "S2A1")

#: The scripted procedure: (phase name or "" for none, tools in view, share of the trial).
#: The suture block repeats for each stitch.
_OPENING = [("", (), 0.04), ("", ("durotomy",), 0.04), ("exposure", ("grasper", "durotomy"), 0.10)]
_STITCH = [
    ("taking a bite", ("needle driver", "needle", "durotomy"), 0.12),
    ("pulling suture", ("needle driver", "grasper", "durotomy"), 0.08),
    ("suture tying", ("nerve hook", "durotomy"), 0.10),
]
_CLOSING = [("", ("durotomy",), 0.08), ("", (), 0.04)]
N_STITCHES = 2

COLOURS = {
    "durotomy": (95, 10, 25),
    "needle driver": (60, 100, 235),
    "grasper": (30, 185, 60),
    "nerve hook": (245, 225, 30),
    "needle": (235, 40, 200),
}
PRIOR_CASES = ("0", "< 10", "10-20", "20-30", "30-40")


#: The smallest frame side: tool shapes scale with the short side, and the closest key points of one
#: tool (the nerve hook's hook, 0.04 of the short side) must stay more than 1.5 px apart, so that no
#: two points of one label round to the same pixel (a duplicate row, which validation rejects).
MIN_FRAME_SIDE = 64


@dataclass(frozen=True)
class SynthSpec:
    seed: int = 0
    trials: int = 24
    frames_per_trial: int = 60
    width: int = constants.FULL_WIDTH
    height: int = constants.FULL_HEIGHT
    jpeg_quality: int = 85
    single_point_needle_rate: float = 0.15
    # the stand-in for the paper's YOLOv4 detections: ground truth jittered, some boxes missed, some
    # false positives added, scores higher for hits than for false positives
    detection_jitter: float = 0.1  # standard deviation of each corner's shift, as a share of the box size
    detection_miss_rate: float = 0.15
    detection_false_positives: float = 0.3  # per frame, on average
    # an outcome tied to one performance metric of the video (for testing outcome models): a metric
    # of sospine.analytics.apms, e.g. "grasper_time_in_view_s" or "nerve_hook_in_n_outs"; "" for none.
    # Its z-score over the trials shifts the repair time by -strength x 150 s and the log-odds of a
    # leak by -strength (more of the metric: faster and more often successful).
    outcome_signal: str = ""
    outcome_strength: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.trials <= len(VIDEO_TRIALS):
            raise ValueError(f"trials must be between 1 and {len(VIDEO_TRIALS)}, got {self.trials}")
        if self.frames_per_trial < 1:
            raise ValueError(f"frames-per-trial must be at least 1, got {self.frames_per_trial}")
        if self.outcome_signal and not re.fullmatch(
            r"(?:needle|needle_driver|grasper|nerve_hook|durotomy)_(?:time_in_view_s|in_n_outs)", self.outcome_signal
        ):
            raise ValueError(
                "outcome signal must be <tool>_time_in_view_s or <tool>_in_n_outs (tool with _ for spaces), "
                f"got {self.outcome_signal!r}"
            )
        if self.width < MIN_FRAME_SIDE or self.height < MIN_FRAME_SIDE:
            raise ValueError(
                f"frame size must be at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE}, got {self.width}x{self.height} "
                "(below it two key points of one tool can round to one pixel)"
            )


def script_segments(n_frames: int, rng: np.random.Generator) -> pd.DataFrame:
    """Consecutive segments (phase, tools, start_frame, end_frame), 1-based inclusive frames."""
    template = _OPENING + _STITCH * N_STITCHES + _CLOSING
    shares = np.array([s for _, _, s in template]) * rng.uniform(0.7, 1.3, len(template))
    bounds = np.round(np.concatenate([[0], np.cumsum(shares) / shares.sum()]) * n_frames).astype(int)
    rows = [
        (phase, tools, start + 1, end)
        for (phase, tools, _), start, end in zip(template, bounds[:-1], bounds[1:], strict=False)
        if end > start
    ]
    return pd.DataFrame(rows, columns=["phase", "tools", "start_frame", "end_frame"])


class _TrialScene:
    """Geometry of one trial: where each tool sits and how it drifts, in pixels."""

    def __init__(self, spec: SynthSpec, rng: np.random.Generator, background_rng: np.random.Generator):
        self.w, self.h = spec.width, spec.height
        u = min(self.w, self.h)  # lengths are in units of the frame's short side so shapes scale with it
        self.u = u
        self.centre = np.array([self.w / 2, self.h / 2]) + rng.uniform(-0.05, 0.05, 2) * u
        self.durotomy_angle = rng.uniform(-0.35, 0.35)
        self.entry = {
            "needle driver": rng.uniform(0.3, 0.8),
            "grasper": rng.uniform(2.3, 2.8),
            "nerve hook": rng.uniform(-0.9, -0.4),
        }
        self.phase_offsets = rng.uniform(0, 2 * np.pi, 8)
        self._background_rng = background_rng  # its own stream: the annotations never wait for pixels
        self._background: Image.Image | None = None

    @property
    def background(self) -> Image.Image:
        if self._background is None:
            self._background = self._draw_background(self._background_rng)
        return self._background

    def _draw_background(self, rng: np.random.Generator) -> Image.Image:
        w, h = self.w, self.h
        tissue = np.array([200, 135, 125]) + rng.uniform(-20, 20, 3)
        small = np.repeat(rng.normal(0, 14, (max(h // 16, 4), max(w // 16, 4), 1)), 3, axis=2)
        noise = (
            np.asarray(
                Image.fromarray(np.clip(small + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), float
            )
            - 128
        )
        yy, xx = np.mgrid[0:h, 0:w]
        radius = np.hypot(xx - w / 2, yy - h / 2) / (0.5 * h)
        # the view through the tubular retractor: bright inside, dark outside the tube
        light = np.clip(1.25 - 0.6 * radius**2, 0.08, 1.0)[..., None]
        rgb = np.clip((tissue + noise) * light, 0, 255).astype(np.uint8)
        return Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius=max(1, h // 270)))

    def _drift(self, t: int, k: int, amplitude: float, period: float) -> np.ndarray:
        phase = self.phase_offsets[k % 8]
        return (
            amplitude
            * self.u
            * np.array([np.sin(2 * np.pi * t / period + phase), np.cos(2 * np.pi * t / (1.3 * period) + phase)])
        )

    def tool_points(self, tool: str, t: int) -> np.ndarray:
        """Key points (n, 2) of `tool` at frame `t`, in pixels, as an annotator would click them."""
        u, c = self.u, self.centre
        if tool == "durotomy":
            mid = c + self._drift(t, 0, 0.01, 40)
            d = 0.13 * u * np.array([np.cos(self.durotomy_angle), np.sin(self.durotomy_angle)])
            return np.stack([mid - d, mid + d])
        if tool == "needle driver":
            tip = c + np.array([0.06, -0.05]) * u + self._drift(t, 1, 0.05, 23)
            a = self.entry[tool] + 0.1 * np.sin(t / 9)
            return np.stack([tip, tip + 0.42 * u * np.array([np.cos(a), np.sin(a)])])
        if tool == "grasper":
            joint = c + np.array([-0.08, 0.03]) * u + self._drift(t, 2, 0.05, 19)
            b = self.entry[tool] + 0.1 * np.sin(t / 7)
            shaft = joint + 0.40 * u * np.array([np.cos(b), np.sin(b)])
            jaws = [joint + 0.08 * u * np.array([np.cos(b + np.pi + s), np.sin(b + np.pi + s)]) for s in (-0.35, 0.35)]
            return np.stack([shaft, joint, *jaws])
        if tool == "nerve hook":
            bend = c + np.array([0.03, -0.04]) * u + self._drift(t, 3, 0.05, 17)
            g = self.entry[tool] + 0.1 * np.sin(t / 8)
            along = np.array([np.cos(g), np.sin(g)])
            normal = np.array([-along[1], along[0]])
            return np.stack(
                [bend + 0.42 * u * along, bend, bend - 0.05 * u * normal, bend - 0.05 * u * normal + 0.04 * u * along]
            )
        if tool == "needle":
            held = self.tool_points("needle driver", t)[0] + np.array([-0.02, 0.04]) * u
            a = 0.8 + 0.5 * np.sin(t / 5)
            d = 0.07 * u * np.array([np.cos(a), np.sin(a)])
            return np.stack([held + d, held - d])  # tip, base
        raise ValueError(tool)

    def clip(self, points: np.ndarray) -> np.ndarray:
        return (
            np.column_stack([np.clip(points[:, 0], 0, self.w - 1), np.clip(points[:, 1], 0, self.h - 1)])
            .round()
            .astype(int)
        )


TIP_LABELS_OF = {
    "durotomy": ("durotomy", "durotomy"),
    "needle driver": ("needle driver tip", "needle driver base"),
    "grasper": ("grasper",) * 4,
    "nerve hook": ("nerve hook",) * 4,
    "needle": ("needle tip", "needle base"),
}
DRAW_ORDER = ("durotomy", "grasper", "nerve hook", "needle", "needle driver")

# The published files' quirks, at the published rates (sospine_bbox.csv, 21,371 boxes), so that the
# synthetic release raises the same kinds of validation warnings in similar proportions:
#: two clicks of a two-point tool on one pixel row or column: a zero-width or zero-height box
#: (168 of 12,141 durotomy boxes, 4 of 1,417 needle boxes)
ZERO_SIZE_RATE = {"durotomy": 168 / 12141, "needle": 4 / 1417}
#: a needle seen only by its tip at the bottom edge of the view: its +-50 px box reaches past the
#: frame (7 of the 1,232 single-point needle boxes; `inside_frame_height` at 1080 px)
EDGE_NEEDLE_RATE = 7 / 1232
#: the outcomes file declares 2 or 3 frames fewer per trial than are annotated (all 24 trials)
DECLARED_FRAMES_SHORT = (2, 3)


def _annotated_points(
    scene: _TrialScene, tool: str, t: int, draws: np.ndarray, spec: SynthSpec
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The key points an annotator clicks for `tool` in frame `t` and their tip labels, with the
    published files' quirks drawn from `draws` (three uniforms, one set per tool and frame)."""
    points = scene.clip(scene.tool_points(tool, t))
    labels = TIP_LABELS_OF[tool]
    single, quirk, where = draws
    if tool == "needle" and single < spec.single_point_needle_rate:
        points, labels = points[:1].copy(), labels[:1]
        if quirk < EDGE_NEEDLE_RATE:  # at the bottom edge, 1..45 px above it
            points[0, 1] = max(0, scene.h - 1 - int(where * 45))
        return points, labels
    if quirk < ZERO_SIZE_RATE.get(tool, 0.0) and len(points) == 2:
        # 1: the same row (zero height), 0: the same column (zero width); never both, which would
        # make the two clicks one point (a duplicate row where the two share a label)
        axis = int(where < 0.5)
        if points[0, 1 - axis] == points[1, 1 - axis]:
            axis = 1 - axis
        points = points.copy()
        points[1, axis] = points[0, axis]
    return points, labels


def _draw_tool(draw: ImageDraw.ImageDraw, tool: str, points: np.ndarray, u: float) -> None:
    pts = [tuple(map(int, p)) for p in points]
    colour = COLOURS[tool]
    if tool == "durotomy":
        a, b = np.asarray(pts[0], float), np.asarray(pts[-1], float)
        along = b - a
        normal = np.array([-along[1], along[0]]) / max(np.linalg.norm(along), 1e-6) * 0.022 * u
        mid = (a + b) / 2
        draw.polygon([tuple(a), tuple(mid + normal), tuple(b), tuple(mid - normal)], fill=colour)
    elif tool == "needle driver":
        draw.line(pts[::-1], fill=colour, width=max(2, int(0.035 * u)))
        draw.ellipse(
            [pts[0][0] - 0.02 * u, pts[0][1] - 0.02 * u, pts[0][0] + 0.02 * u, pts[0][1] + 0.02 * u], fill=(20, 40, 140)
        )
    elif tool == "grasper":
        draw.line(pts[:2], fill=colour, width=max(2, int(0.03 * u)))
        for jaw in pts[2:]:
            draw.line([pts[1], jaw], fill=(120, 255, 120), width=max(1, int(0.012 * u)))
    elif tool == "nerve hook":
        draw.line(pts, fill=colour, width=max(1, int(0.013 * u)), joint="curve")
    elif tool == "needle":
        if len(pts) == 1:  # only the tip is visible: a short stub ending at it
            x, y = pts[0]
            draw.line([(x - 0.025 * u, y + 0.02 * u), (x, y)], fill=colour, width=max(1, int(0.01 * u)))
        else:
            a, b = np.asarray(pts[0], float), np.asarray(pts[1], float)
            normal = np.array([-(b - a)[1], (b - a)[0]]) * 0.35
            arc = [tuple(a + (b - a) * s + normal * 4 * s * (1 - s)) for s in np.linspace(0, 1, 9)]
            draw.line(arc, fill=colour, width=max(2, int(0.014 * u)))


def _box(points: np.ndarray) -> tuple[int, int, int, int]:
    """The paper's rule (`sospine.dataset.boxes.derive_boxes`), from the generator's own points: a single
    point is a +-50 px square whose low corners stop at pixel 1."""
    if len(points) == 1:
        x, y = points[0]
        h = constants.SINGLE_POINT_HALF_SIZE
        low = constants.SINGLE_POINT_LOWEST
        return int(max(x - h, low)), int(max(y - h, low)), int(x + h), int(y + h)
    return int(points[:, 0].min()), int(points[:, 1].min()), int(points[:, 0].max()), int(points[:, 1].max())


def _signal(plans: list, trials: list[str], metric: str) -> dict[str, float]:
    """The planted metric's z-score per trial: a tool's frames in view, or its entries into view."""
    tool, kind = re.fullmatch(r"(.+)_(time_in_view_s|in_n_outs)", metric).groups()
    tool = tool.replace("_", " ")
    values = {}
    for trial, trial_plan in zip(trials, plans, strict=True):
        seen = np.array([any(t == tool for t, _ in drawn) for _, drawn in trial_plan.frames])
        values[trial] = (
            float(seen.sum()) if kind == "time_in_view_s" else float((seen & ~np.r_[False, seen[:-1]]).sum())
        )
    numbers = np.array(list(values.values()))
    spread = numbers.std() or 1.0
    return {trial: (value - numbers.mean()) / spread for trial, value in values.items()}


def _outcomes(
    trials: list[str], spec: SynthSpec, rng: np.random.Generator, signal: dict[str, float] | None = None
) -> pd.DataFrame:
    surgeons = sorted({int(t[1:].split("A")[0]) for t in trials if t.startswith("S")} | {1, 2})
    profile = {
        s: (
            int(rng.integers(1, 8)),
            "N" if rng.random() < 0.2 else "Y",
            PRIOR_CASES[int(rng.integers(0, len(PRIOR_CASES)))],
        )
        for s in surgeons
    }

    def declared() -> tuple[str, int]:
        """Length and frame count as the outcomes file declares them: a few frames short."""
        low, high = DECLARED_FRAMES_SHORT
        frames = max(0, spec.frames_per_trial - int(rng.integers(low, high + 1)))
        return f"{frames // 3600}:{frames // 60 % 60:02d}:{frames % 60:02d}", frames

    rows = []
    names = [t for t in trials if t.startswith("Clip")] + sorted(
        [t for t in trials if t.startswith("S")] + list(NO_VIDEO_TRIALS),
        key=lambda t: tuple(map(int, t[1:].split("A"))),
    )
    for trial in names:
        if trial.startswith("Clip"):
            length, frames = declared()
            rows.append([trial, length, None, None, None, None, None, frames])
            continue
        surgeon, attempt = map(int, trial[1:].split("A"))
        pgy, miss, cases = profile[surgeon]
        if signal and trial in signal:  # the planted tie: more of the metric, faster and fewer leaks
            z = signal[trial]
            repair = int(max(120, rng.normal(700 - spec.outcome_strength * 150 * z, 60)))
            leak = "Y" if rng.random() < 1 / (1 + np.exp(spec.outcome_strength * 1.5 * z)) else "N"
        else:
            repair = int(max(120, rng.normal(800 - 150 * (attempt - 1), 150)))
            leak = "Y" if rng.random() < 0.65 - 0.25 * (attempt - 1) else "N"
        length, frames = declared() if trial not in NO_VIDEO_TRIALS else (None, None)
        rows.append([trial, length, pgy, miss, cases, repair, leak, frames])
    table = pd.DataFrame(rows, columns=list(constants.OUTCOME_COLUMNS))
    for column in ("Postgraduate year", "Time for repair", "Total Frames at 1 FPS"):
        table[column] = table[column].astype("Int64")
    return table


@dataclass
class _TrialPlan:
    """One trial as the generator plans it: its scene and, per frame, the tools drawn with their points."""

    scene: _TrialScene
    frames: list[tuple[str, list[tuple[str, np.ndarray]]]]


@dataclass
class SyntheticRelease:
    """The tables of a synthetic release (everything but the frames) and the plan to draw them."""

    tool_tips: pd.DataFrame
    bbox: pd.DataFrame
    outcomes: pd.DataFrame
    phases: pd.DataFrame
    detections: pd.DataFrame
    plans: list[_TrialPlan]


def plan(spec: SynthSpec) -> SyntheticRelease:
    """Every table of the release for `spec`, without drawing a pixel (frames are drawn lazily by
    `generate`); the same spec gives the same tables."""
    rng = np.random.default_rng(spec.seed)
    tip_rows: list[tuple] = []
    box_rows: list[tuple] = []
    phase_rows: list[tuple] = []
    plans = []
    for trial in VIDEO_TRIALS[: spec.trials]:
        index = VIDEO_TRIALS.index(trial)
        trial_rng = np.random.default_rng([spec.seed, index])
        scene = _TrialScene(spec, trial_rng, np.random.default_rng([spec.seed, index, 1]))
        segments = script_segments(spec.frames_per_trial, trial_rng)
        frames = []
        for seg in segments.itertuples():
            if seg.phase:
                phase_rows.append((trial, seg.phase, seg.start_frame, seg.end_frame))
            for t in range(seg.start_frame, seg.end_frame + 1):
                name = constants.frame_name(trial, t)
                drawn = []
                for tool in (tool for tool in DRAW_ORDER if tool in seg.tools):
                    points, labels = _annotated_points(scene, tool, t, trial_rng.random(3), spec)
                    drawn.append((tool, points))
                    tip_rows.extend((name, x, y, x, y, label) for (x, y), label in zip(points, labels, strict=True))
                    box_rows.append((name, *_box(points), tool))
                if not drawn:
                    tip_rows.append((name, None, None, None, None, None))
                    box_rows.append((name, None, None, None, None, None))
                frames.append((name, drawn))
        plans.append(_TrialPlan(scene, frames))

    def annotation_table(rows: list[tuple]) -> pd.DataFrame:
        table = pd.DataFrame(rows, columns=list(constants.ANNOTATION_COLUMNS))
        for column in COORDS:
            table[column] = table[column].astype("Int64")
        return table

    boxes = annotation_table(box_rows).sort_values(["trial_frame", "label"], kind="stable")
    return SyntheticRelease(
        tool_tips=annotation_table(tip_rows),
        bbox=boxes,
        outcomes=_outcomes(
            list(VIDEO_TRIALS[: spec.trials]),
            spec,
            rng,
            _signal(plans, list(VIDEO_TRIALS[: spec.trials]), spec.outcome_signal) if spec.outcome_signal else None,
        ),
        phases=pd.DataFrame(phase_rows, columns=["trial", "phase", "start_frame", "end_frame"]),
        detections=synthetic_detections(boxes, spec, np.random.default_rng([spec.seed, 7])),
        plans=plans,
    )


def _frame_jpeg(scene: _TrialScene, drawn: list[tuple[str, np.ndarray]], quality: int) -> bytes:
    image = scene.background.copy()
    draw = ImageDraw.Draw(image)
    for tool, points in drawn:
        _draw_tool(draw, tool, points, scene.u)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


TABLE_FILES = (
    constants.TOOL_TIPS_CSV,
    constants.BBOX_CSV,
    constants.OUTCOMES_CSV,
    "phases.csv",
    constants.PAPER_DETECTIONS_CSV,
)


def write_tables(release: SyntheticRelease, out_dir: str | Path) -> dict[str, Path]:
    """The release's CSV files in the published formats (everything `generate` writes but frames.zip)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in TABLE_FILES}
    # as published: CRLF and no line break after the last row
    write_csv(release.tool_tips, paths[constants.TOOL_TIPS_CSV], final_newline=False)
    write_csv(release.bbox, paths[constants.BBOX_CSV], final_newline=False)
    write_csv(release.outcomes, paths[constants.OUTCOMES_CSV], bom=True, final_newline=False)
    write_csv(release.phases, paths["phases.csv"], crlf=False)
    write_csv(release.detections, paths[constants.PAPER_DETECTIONS_CSV], crlf=False)  # as published: LF
    return paths


def generate(spec: SynthSpec, out_dir: str | Path) -> dict[str, Path]:
    """Write the synthetic release to `out_dir`; the same spec gives byte-identical files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    release = plan(spec)
    frames_zip = out / constants.FRAMES_ZIP
    tmp_zip = frames_zip.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_STORED) as archive:
        for trial_plan in release.plans:
            for name, drawn in trial_plan.frames:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, _frame_jpeg(trial_plan.scene, drawn, spec.jpeg_quality))
    tmp_zip.replace(frames_zip)
    return {constants.FRAMES_ZIP: frames_zip, **write_tables(release, out)}
