"""The `sospine` command: exit 0 = success, 1 = bad data (one clear message), 2 = bad usage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sospine import __version__, constants

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK, EXIT_BAD_DATA, EXIT_USAGE = 0, 1, 2


class BadDataError(Exception):
    """Input the command cannot work with; the message is shown to the user as is."""


class UsageError(Exception):
    """A command line that cannot be carried out as given (a missing input path, a profile already
    installed): exit 2, the message shown as is."""


def _existing_files(**paths: str | None) -> None:
    """Stop before anything is written when an input file is missing (bad usage), naming the option
    and path."""
    for option, path in paths.items():
        if path and not Path(path).is_file():
            what = "is a folder, not a file" if Path(path).is_dir() else "no such file"
            raise UsageError(f"--{option.replace('_', '-')} {path}: {what}")


def _writable_dir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".sospine-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise BadDataError(f"{out}: output folder is not writable ({error.strerror or error})") from None
    return out


def cmd_synth(args: argparse.Namespace) -> int:
    from sospine.data.synth import SynthSpec, generate

    try:
        spec = SynthSpec(
            seed=args.seed,
            trials=args.trials,
            frames_per_trial=args.frames_per_trial,
            width=args.width,
            height=args.height,
            detection_jitter=args.detection_jitter,
            detection_miss_rate=args.detection_miss_rate,
            detection_false_positives=args.detection_false_positives,
            outcome_signal=args.outcome_signal,
            outcome_strength=args.outcome_strength,
        )
    except ValueError as error:
        raise BadDataError(str(error)) from None
    paths = generate(spec, _writable_dir(args.out))
    for path in paths.values():
        print(path)
    return EXIT_OK


def _record(text: str) -> tuple[str, str]:
    name, sep, doi = text.partition("=")
    if not sep or not name or not doi:
        raise argparse.ArgumentTypeError(f"expected NAME=DOI, got {text!r}")
    return name, doi


def cmd_fetch(args: argparse.Namespace) -> int:
    from sospine.data.fetch import DEFAULT_API_URL, FetchError, FigshareClient, fetch_records

    records = dict(args.record) if args.record else constants.FIGSHARE_RECORDS
    client = FigshareClient(
        args.api_url or DEFAULT_API_URL, retries=args.retries, timeout_s=args.timeout, backoff_s=args.backoff
    )
    try:
        entries = fetch_records(records, _writable_dir(args.out), client)
    except FetchError as error:
        raise BadDataError(str(error)) from None
    for entry in entries:
        print(f"{entry.file}\t{entry.size}\t{entry.md5}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from sospine.validation import format_issue, validate

    paths = {"tool_tips": args.tool_tips, "bbox": args.bbox, "outcomes": args.outcomes, "detections": args.detections}
    if not any(paths.values()):
        print("sospine validate: give at least one of --tool-tips, --bbox, --outcomes, --detections", file=sys.stderr)
        return EXIT_USAGE
    _existing_files(**paths)
    report_path = Path(args.report)
    _writable_dir(str(report_path.parent))
    report, _ = validate(paths)
    report.to_csv(report_path, index=False)
    errors = report[report["severity"] == "error"]
    warnings = report[report["severity"] == "warning"]
    info = report[report["severity"] == "info"]
    print(f"{len(errors)} errors, {len(warnings)} warnings, {len(info)} info rows (e.g. empty frames) -> {report_path}")
    for row in errors.head(10).itertuples(index=False):
        print(f"  {format_issue(row)}", file=sys.stderr)
    return EXIT_BAD_DATA if len(errors) else EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from sospine.scoring import ScoringError, score_files

    _existing_files(truth=args.truth, detections=args.detections)
    try:
        summary = score_files(
            args.truth,
            args.detections,
            _writable_dir(args.out),
            test_trials=args.test_trials,
            iou=args.iou,
            bootstrap=args.bootstrap,
            seed=args.seed,
        )
    except ScoringError as error:
        raise BadDataError(str(error)) from None
    print(
        f"IoU {summary['iou_threshold']}: mAP (VOC) all {summary['map_voc_all']:.3f}, "
        f"instruments {summary['map_voc_instruments']:.3f}; paper's rules all {summary['map_paper_all']:.3f}, "
        f"instruments {summary['map_paper_instruments']:.3f}; COCO mAP50 {summary['map50_coco_all']:.3f} -> {args.out}"
    )
    print(_class_table(Path(args.out) / "ap_per_class.csv"))
    return EXIT_OK


def _class_table(path: Path) -> str:
    """The per-class APs as the console shows them: VOC, the paper's rule, COCO, counts."""
    import pandas as pd

    table = pd.read_csv(path)
    columns = [
        c for c in ("label", "n_truth", "n_detections", "ap_voc", "ap_paper", "ap50_coco", "best_f1") if c in table
    ]
    shown = table[columns].copy()
    for column in ("ap_voc", "ap_paper", "ap50_coco", "best_f1"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    return shown.to_string(index=False)


def cmd_install_profiles(args: argparse.Namespace) -> int:
    import os
    import shutil
    import time

    source = Path(__file__).resolve().parents[2] / "profiles"
    if not source.is_dir():
        raise BadDataError(
            f"{source}: profiles folder not found (install the project with pip install -e . from its checkout)"
        )
    dest = (
        Path(args.dest) if args.dest else Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "snakemake"
    )
    _writable_dir(str(dest))
    for name in args.names:
        if not (source / name).is_dir():
            raise BadDataError(f"no profile {name!r} in {source}")
    existing = [dest / name for name in args.names if (dest / name).exists()]
    if existing and not args.force:
        raise UsageError(
            f"{', '.join(map(str, existing))} already exists and is left as it is; compare it with "
            f"{source}, or run again with --force (the existing folder is kept as <name>.bak-<time>)"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in args.names:
        if (dest / name).exists():
            backup = dest / f"{name}.bak-{stamp}"
            (dest / name).rename(backup)
            print(f"{dest / name} kept as {backup}")
        shutil.copytree(source / name, dest / name)
        print(f"{dest / name}  (snakemake --profile {name})")
    return EXIT_OK


#: the columns `sospine board` reads from each table of the leaderboard job -> whether they hold numbers
BOARD_COLUMNS = {
    "rank": True,
    "detector": False,
    "label": False,
    "ap_voc": True,
    "n_truth": True,
    "n_trials": True,
    "test_trials": False,
}
PAIRED_COLUMNS = {"detector": False, "reference": False, "label": False, "diff": True, "p_value": True, "note": False}


def _csv_problem(raw: bytes, columns: dict[str, bool]) -> str | None:
    """What keeps `raw` (a file's bytes) from being read as a table with `columns`, in words;
    None when nothing does. A header without rows is left to the caller."""
    import csv
    import io

    if not raw.strip():
        return "is empty (0 bytes)" if not raw else "holds only blank lines"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "is not a CSV table (not UTF-8 text)"
    if "\x00" in text:
        return "is not a CSV table (binary data)"
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        return f"is not a CSV table ({error})"
    header = rows[0]
    missing = [column for column in columns if column not in header]
    if missing:
        found = ", ".join(header[:6]) + (", ..." if len(header) > 6 else "")
        return f"has no column {', '.join(missing)} (its header: {found or 'empty'})"
    for number, row in enumerate(rows[1:], start=2):
        if row and len(row) != len(header):  # blank lines are skipped by pandas too
            return (
                f"line {number} has {len(row)} fields, the header {len(header)} (a row cut off, or a quote left open)"
            )
    if not text.endswith("\n"):  # every table the workflow writes ends with a line end
        return f"ends mid-row (line {len(rows)} has no line end: the file was cut off)"
    return None


def _read_board_table(path: Path, columns: dict[str, bool]) -> pd.DataFrame:
    """A table of the leaderboard job, checked for what `sospine board` reads: each problem is one
    line naming the file (bad data), never a traceback."""
    import io

    import pandas as pd

    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "no such file"
        raise BadDataError(
            f"{path}: {what}, though {path.parent / 'leaderboard.csv'} is there (the leaderboard "
            "job did not finish: run the workflow again)"
        )
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise BadDataError(f"{path}: cannot read it ({error.strerror or error})") from None
    if problem := _csv_problem(raw, columns):
        raise BadDataError(f"{path}: {problem}")
    try:
        table = pd.read_csv(io.BytesIO(raw))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise BadDataError(f"{path}: is not a CSV table ({str(error).splitlines()[0]})") from None
    for column, numeric in columns.items():
        if not numeric:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column].notna() & values.isna()
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2  # the header is line 1
            raise BadDataError(f"{path}: line {line}: {column} is {table[column][bad].iat[0]!r}, not a number")
        table[column] = values
    return table


def cmd_board(args: argparse.Namespace) -> int:
    from sospine.scoring.leaderboard import headline_text

    folder = Path(args.results) / "leaderboard"
    board_path, paired_path = folder / "leaderboard.csv", folder / "paired.csv"
    if not board_path.is_file():
        raise UsageError(f"{board_path}: no such file (run the workflow first; output_dir is {args.results})")
    board = _read_board_table(board_path, BOARD_COLUMNS)
    paired = _read_board_table(paired_path, PAIRED_COLUMNS)
    if board.empty:
        raise BadDataError(f"{board_path}: has a header but no rows (the leaderboard job did not finish)")
    if board["rank"].isna().any():
        raise BadDataError(f"{board_path}: line {int(board['rank'].isna().to_numpy().argmax()) + 2}: rank is empty")
    for detector, rows in board.groupby("detector", sort=False):
        if missing := [label for label in ("instruments", "all") if label not in set(rows["label"])]:
            raise BadDataError(f"{board_path}: detector {detector!r} has no {' or '.join(missing)} row (cut off?)")
    if unranked := sorted(set(paired["detector"]) - set(board["detector"])):  # cut off between detectors
        raise BadDataError(f"{board_path}: has no rows of {', '.join(unranked)}, which {paired_path.name} compares")
    detectors = board["detector"].nunique()
    if paired.empty and detectors > 1:  # one detector alone has nothing to be compared with
        raise BadDataError(f"{paired_path}: has a header but no rows, though {board_path} ranks {detectors} detectors")
    try:
        text = headline_text(board, paired)
    except (KeyError, ValueError, TypeError, IndexError) as error:  # what the checks above did not foresee
        raise BadDataError(f"{folder}: leaderboard.csv and paired.csv do not make a headline ({error!r})") from None
    print(text)
    return EXIT_OK


def cmd_frames(args: argparse.Namespace) -> int:
    from sospine.data.video import VideoError, sample_frames

    if not Path(args.video).is_file():
        raise UsageError(f"{args.video}: {'is a folder, not a file' if Path(args.video).is_dir() else 'no such file'}")
    try:
        sampling = sample_frames(args.video, args.out, fps=args.fps, say=lambda line: print(line, file=sys.stderr))
    except VideoError as error:
        raise BadDataError(str(error)) from None
    except OSError as error:
        raise BadDataError(f"{args.out}: {error.strerror or error}") from None
    print(f"{sampling.frames} frames in {args.out}" + (f" ({sampling.note})" if sampling.note else ""))
    return EXIT_OK


def cmd_recording(args: argparse.Namespace) -> int:
    from sospine.data.video import VideoError, trial_frames, write_video

    _existing_files(frames=args.frames)
    try:
        write_video(trial_frames(args.frames, args.trial), args.out, fps=args.fps, hold_s=args.hold, codec=args.codec)
    except VideoError as error:
        raise BadDataError(str(error)) from None
    print(f"{args.out}: trial {args.trial} as a recording, each frame held {args.hold:g} s at {args.fps} fps")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sospine", description="SOSpine benchmark tools")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a deterministic synthetic SOSpine in the published formats")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same bytes (default 0)")
    p.add_argument(
        "--trials",
        type=int,
        default=24,
        help="number of trials, 1 to 24: the first N of the real trial names (default 24)",
    )
    p.add_argument("--frames-per-trial", type=int, default=120, help="frames (1 fps) per trial (default 120)")
    p.add_argument(
        "--width", type=int, default=1920, help="frame width in pixels, at least 64 (default 1920, as published)"
    )
    p.add_argument(
        "--height", type=int, default=1080, help="frame height in pixels, at least 64 (default 1080, as published)"
    )
    p.add_argument(
        "--detection-jitter",
        type=float,
        default=0.1,
        help="synthetic detections (the paper-detections stand-in): corner shift, share of box size (default 0.1)",
    )
    p.add_argument("--detection-miss-rate", type=float, default=0.15, help="share of boxes missed (default 0.15)")
    p.add_argument(
        "--detection-false-positives", type=float, default=0.3, help="false positives per frame (default 0.3)"
    )
    p.add_argument(
        "--outcome-signal",
        default="",
        help="tie the outcomes to one metric, e.g. grasper_time_in_view_s (default: none, as in the real file)",
    )
    p.add_argument(
        "--outcome-strength", type=float, default=2.0, help="how strongly --outcome-signal moves them (default 2)"
    )
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("fetch", help="download FigShare records (md5-verified) and write fetch_manifest.json")
    p.add_argument("--out", required=True, help="folder for the downloaded files and fetch_manifest.json")
    p.add_argument("--api-url", default=None, help="FigShare API v2 base URL (default https://api.figshare.com/v2)")
    p.add_argument(
        "--record",
        action="append",
        type=_record,
        metavar="NAME=DOI",
        help="repeatable; default: the four SOSpine data records",
    )
    p.add_argument("--retries", type=int, default=5, help="attempts per request after the first (default 5)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per network read (default 60)")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds, doubling (default 1)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("validate", help="validate SOSpine files, every bad row at once")
    p.add_argument("--tool-tips", help="tool-tip CSV (sospine_tool_tips.csv format)")
    p.add_argument("--bbox", help="bounding-box CSV (sospine_bbox.csv format)")
    p.add_argument("--outcomes", help="outcomes CSV (sospine_outcomes.csv format)")
    p.add_argument("--detections", help="detections CSV (trial_frame,frame,x1,y1,x2,y2,score,label)")
    p.add_argument(
        "--report", required=True, help="report CSV: file,line,column,check,value,severity (error, warning or info)"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "score",
        help="score published-format detections against ground-truth boxes",
        description="Score detections (published format) against the ground-truth boxes: VOC AP, the paper's "
        "rule and COCO mAP per class, written to --out, with a per-class table on the console. Example: "
        "sospine score --truth sospine_bbox.csv --detections sospine_detections_3.6_0.05.csv --out scores. "
        "Exit 0: scored; 1: a file does not validate (validation_report.csv says where) or covers no test "
        "trial; 2: bad usage (a missing file).",
    )
    p.add_argument("--truth", required=True, help="bbox CSV in the published format")
    p.add_argument("--detections", required=True, help="detections CSV in the published format")
    p.add_argument(
        "--out",
        required=True,
        help="folder for ap_per_class.csv, per_trial_ap.csv, pr_curves.csv/.png and, last, summary.json "
        "(validation_report.csv instead when the files do not validate); an earlier run's files there "
        "are removed first",
    )
    p.add_argument("--test-trials", nargs="+", default=None, help="default: the trials of the detections file")
    p.add_argument("--iou", type=float, default=0.5, help="IoU threshold of ap_voc and ap_paper (default 0.5)")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        help="trial resamples for 95%% intervals, given from 10 test trials on (0: none; default 1000)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples (default 0)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "frames",
        help="sample a recording's frames as the dataset was made (FFmpeg's fps=1), JPEG, NAME_frame_00000001.jpeg",
        description="Sample a recording (any container and codec FFmpeg reads) at --fps frames per second with "
        "FFmpeg's fps filter, as `ffmpeg -i VIDEO -vf fps=1` does, into --out as <video stem>_frame_%%08d.jpeg from 1. "
        "A recording cut short gives its readable part and says where it ends. Example: "
        "sospine frames case.mp4 --out case_frames. Exit 0: written; 1: not a readable video; 2: bad usage.",
    )
    p.add_argument("video", help="the recording (mp4, mov, avi, mkv, ...; H.264, HEVC, ...)")
    p.add_argument("--out", required=True, help="folder for the frames (replaced only once the frames are complete)")
    p.add_argument("--fps", type=float, default=1.0, help="frames per second to keep (default 1, as the dataset)")
    p.set_defaults(func=cmd_frames)

    p = sub.add_parser(
        "recording",
        help="write one trial of a frames.zip as a video (each frame held --hold s at --fps), e.g. to try the "
        "recording analysis",
    )
    p.add_argument("--frames", required=True, help="a frames.zip in the published layout (or the synthetic one)")
    p.add_argument("--trial", required=True, help="the trial to write, e.g. S4A1")
    p.add_argument("--out", required=True, help="the video file to write (.mp4, .mkv, .mov)")
    p.add_argument("--fps", type=int, default=30, help="frame rate of the video (default 30)")
    p.add_argument("--hold", type=float, default=1.0, help="seconds each 1-fps frame is held (default 1)")
    p.add_argument("--codec", default="libx264", choices=["libx264", "libx265"], help="H.264 or HEVC (default libx264)")
    p.set_defaults(func=cmd_recording)

    p = sub.add_parser("board", help="print the leaderboard's headline rows of a run's output folder")
    p.add_argument("results", nargs="?", default="results", help="the run's output_dir (default results)")
    p.set_defaults(func=cmd_board)

    p = sub.add_parser("install-profiles", help="copy the cluster profiles where `snakemake --profile NAME` finds them")
    p.add_argument(
        "names", nargs="*", default=["slurm", "aws-batch"], help="profiles to install (default: slurm aws-batch)"
    )
    p.add_argument("--dest", default=None, help="default: $XDG_CONFIG_HOME/snakemake or ~/.config/snakemake")
    p.add_argument(
        "--force", action="store_true", help="replace profiles already there, keeping each as <name>.bak-<time>"
    )
    p.set_defaults(func=cmd_install_profiles)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BadDataError as error:
        print(f"sospine {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_DATA
    except UsageError as error:
        print(f"sospine {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
