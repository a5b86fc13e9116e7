"""The run's plan (see `sospine.plan`): the data, the detectors and their files, the targets."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sospine import constants
from sospine.detectors import kinds as detector_config
from sospine.detectors.weights import expected_sha256, mismatch_problem, to_download, untrusted_problem
from sospine.plan.errors import PlanError
from sospine.plan.folds import FoldsPlan
from sospine.plan.recordings import RecordingsPlan
from sospine.plan.report import config_of_run, finished_runs, with_config

#: kind of published file -> its FigShare name
DATA_FILES = {
    "frames": constants.FRAMES_ZIP,
    "tool_tips": constants.TOOL_TIPS_CSV,
    "bbox": constants.BBOX_CSV,
    "outcomes": constants.OUTCOMES_CSV,
}
#: the published CSVs that are validated, in the order the report lists them
VALIDATED_KINDS = ("tool_tips", "bbox", "outcomes")


@dataclass
class Plan(FoldsPlan, RecordingsPlan):
    config: Mapping[str, Any]
    #: a file's checksum by algorithm (the workflow's cache of external files' checksums)
    checksum: Callable[[str | Path, str], str] | None = None
    results: Path = field(init=False)
    source: str = field(init=False)
    provided: dict[str, str] = field(init=False)
    detectors: dict[str, detector_config.Detector] = field(init=False)
    baseline: str = field(init=False)
    #: a downloaded weights name -> the sha256 it must have (configured, else published)
    weights_sha256: dict[str, str | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        config = self.config
        self.results = Path(config["output_dir"])
        self.source = config["data"]["source"]
        self.provided = self._provided_files()
        self.baseline = detector_config.baseline_name(config, self.source)
        self.detectors = detector_config.resolve(config, self.baseline_detections(), self.source)
        problems = detector_config.reserved_name_problems(config, self.source)
        reference = detector_config.reference_problem(config["leaderboard"]["reference"], list(self.detectors))
        problems += [reference] if reference else []
        if problems:
            raise PlanError(f"invalid configuration: {problems[0]}")
        self._check_models()
        self._check_claims()
        self.analysis_detector()  # a named one must be able to; any at all when there are recordings

    # --- data ---------------------------------------------------------------------------------

    def out(self, path: str) -> str:
        """A path under the output folder."""
        return str(self.results / path)

    @property
    def mirror_dir(self) -> Path:
        folder = self.config["data"].get("mirror_dir") or ""
        if not folder or not Path(folder).is_dir():
            raise PlanError(
                f"data.mirror_dir: {folder!r} is not a folder "
                "(data.source is 'mirror'; point it at a folder of the SOSpine files)"
            )
        return Path(folder)

    def _provided_files(self) -> dict[str, str]:
        if self.source != "mirror":
            return dict(DATA_FILES)
        found = {k: n for k, n in DATA_FILES.items() if (self.mirror_dir / n).is_file()}
        if not {"bbox", "tool_tips"} & set(found):
            raise PlanError(
                f"data.mirror_dir: {self.mirror_dir} holds neither {constants.BBOX_CSV} nor "
                f"{constants.TOOL_TIPS_CSV} (looked for {', '.join(DATA_FILES.values())} and "
                f"{constants.PAPER_DETECTIONS_CSV}); point it at a folder of the SOSpine files under their "
                "FigShare names"
            )
        return found

    @property
    def missing(self) -> list[str]:
        """Kinds of published file the source does not provide."""
        return sorted(set(DATA_FILES) - set(self.provided))

    def missing_note(self) -> str | None:
        """What the run leaves out for want of files, in one line, or None."""
        if not self.missing:
            return None
        skipped = (
            "(no frames.zip: no YOLO export, training or prediction; detections files are still scored)"
            if "frames" in self.missing
            else ""
        )
        files = ", ".join(DATA_FILES[k] for k in self.missing)
        return f"note: data source '{self.source}' does not provide {files}; rules that need them are skipped {skipped}"

    def start_notes(self) -> list[str]:
        """What the run prints at start: files it lacks, and under leave-one-surgeon-out what is out of fold."""
        return [note for note in (self.missing_note(), self.loso_note()) if note]

    @property
    def data_source(self) -> dict[str, str]:
        """What the output folder's results are made from (one source per folder)."""
        return {
            "source": self.source,
            "mirror_dir": str(self.mirror_dir.resolve()) if self.source == "mirror" else "",
        }

    def raw_path(self, kind: str) -> str:
        """Where a published file of this kind lies in the output folder."""
        return self.out(f"raw/{DATA_FILES[kind]}")

    def validated_path(self, kind: str) -> str:
        """A validated CSV (what every downstream rule reads)."""
        return self.out(f"validation/clean/{DATA_FILES[kind]}")

    def validated_kinds(self) -> list[str]:
        return [k for k in VALIDATED_KINDS if k in self.provided]

    @property
    def synthetic_detections(self) -> str:
        """The synthetic source's stand-in for the paper's detections (made by the synthesize rule)."""
        return self.out(f"raw/{constants.PAPER_DETECTIONS_CSV}")

    def baseline_detections(self) -> str | None:
        """Path of the baseline detections CSV, or None."""
        setting = self.config["baseline"]["detections"]
        if setting == "auto":
            if self.source == "synthetic":
                return self.synthetic_detections
            if self.source == "mirror":
                candidate = self.mirror_dir / constants.PAPER_DETECTIONS_CSV
                return str(candidate) if candidate.is_file() else None
            return None
        if not setting:
            return None
        if not Path(setting).is_file():
            raise PlanError(f"baseline.detections: {setting} does not exist")
        return setting

    def boxes_source(self) -> str:
        """`published` (the bbox file) or `derived` (boxes from the tool tips)."""
        choice = self.config["annotations"]["boxes"]
        if choice == "auto":
            return "published" if "bbox" in self.provided else "derived"
        needed = {"published": "bbox", "derived": "tool_tips"}[choice]
        if needed not in self.provided:
            raise PlanError(
                f"annotations.boxes: {choice!r} needs {DATA_FILES[needed]}, which data source '{self.source}' "
                "does not provide"
            )
        return choice

    def external_files(self) -> dict[str, Path]:
        """Every file read from outside the output folder, by path (their content is stamped)."""
        files = [self.mirror_dir / name for name in self.provided.values()] if self.source == "mirror" else []
        files += [
            Path(d.path) for d in self.detectors.values() if d.kind == "file" and d.path and not self._generated(d)
        ]
        files += [Path(path) for d in self.detectors.values() for path in d.fold_files.values()]
        files += [Path(d.settings["model"]) for d in self.trained.values() if Path(d.settings["model"]).is_file()]
        files += [Path(d.path) for d in self.weighted.values()]
        files += [Path(path) for path in self.videos.values() if not self.is_made_here(path)]
        return {str(path): path for path in files}

    def _generated(self, detector: detector_config.Detector) -> bool:
        return detector.path == self.synthetic_detections

    # --- detectors ----------------------------------------------------------------------------

    @property
    def loso(self) -> bool:
        return self.config["split"]["method"] == "leave_one_surgeon_out"

    @property
    def trained(self) -> dict[str, detector_config.Detector]:
        """ultralytics detectors trained here (they need frames.zip, as the YOLO export does)."""
        return {n: d for n, d in self.detectors.items() if d.trained and "frames" in self.provided}

    @property
    def commands(self) -> dict[str, detector_config.Detector]:
        return {n: d for n, d in self.detectors.items() if d.kind == "command" and "frames" in self.provided}

    @property
    def weighted(self) -> dict[str, detector_config.Detector]:
        """ultralytics weights given as they are: predicted here, never trained."""
        return {n: d for n, d in self.detectors.items() if d.kind == "weights" and "frames" in self.provided}

    @property
    def produced(self) -> dict[str, detector_config.Detector]:
        """Detectors that predict the test images here (trained, given weights or commands): folds, costs."""
        return {**self.trained, **self.commands, **self.weighted}

    @property
    def predictors(self) -> dict[str, detector_config.Detector]:
        """Detectors that can detect tools in a new recording: ultralytics weights, trained or given,
        and command detectors with a prediction command (`predict`)."""
        return {n: d for n, d in self.produced.items() if d.predicts_new_images}

    @staticmethod
    def pattern(names: Mapping[str, Any]) -> str:
        """A wildcard constraint matching exactly these names (so `<name>-<fold>` is never a name)."""
        return "|".join(re.escape(n) for n in names) or "(?!)"

    def _check_models(self) -> None:
        """Every trained detector's model file exists and its weights are trusted (sha256), before any job;
        so are given weights."""
        for name, detector in self.weighted.items():
            expected = detector.settings.get("sha256")
            actual = self.checksum(detector.path, "sha256") if self.checksum else None
            if actual is not None and actual != expected:
                mismatch = mismatch_problem(detector.path, actual, expected, True)
                raise PlanError(f"invalid configuration: detectors.{name}.weights: {mismatch}")
        for name, detector in self.trained.items():
            model, sha256 = detector.settings["model"], detector.settings.get("sha256") or None
            where = f"detectors.{name}.model" if self.config.get("detectors") else "train.model"
            if "/" in model and not Path(model).exists():
                raise PlanError(f"model of detector {name!r}: {model} does not exist")
            problem = untrusted_problem(model, sha256, where)
            if problem:
                raise PlanError(f"invalid configuration: {problem}")
            expected = expected_sha256(model, sha256)
            if model.endswith(".pt") and Path(model).is_file():
                actual = self.checksum(model, "sha256") if self.checksum else None
                if actual is not None and actual != expected:
                    mismatch = mismatch_problem(model, actual, expected, bool(sha256))
                    raise PlanError(f"invalid configuration: {where}: {mismatch}")
            elif to_download(model):
                known = self.weights_sha256.setdefault(to_download(model), expected)
                if known != expected:
                    raise PlanError(
                        f"invalid configuration: {where}: {model} is given with two different sha256 values"
                    )

    def detection_tables(self) -> dict[str, str]:
        """Detector name -> its validated detections table, for every detector the run can score."""
        return {
            name: self.out(f"detections/{name}.csv")
            for name, d in self.detectors.items()
            if d.kind == "file" or name in self.produced
        }

    def score_tables(self) -> list[str]:
        """Each scored detector's per-class APs, in the order of `detection_tables`."""
        return [self.out(f"scores/{name}/ap_per_class.csv") for name in self.detection_tables()]

    def cost_files(self) -> list[str]:
        """What each detector that predicts here cost, in the order of `produced`."""
        return [self.out(f"costs/{name}.json") for name in self.produced]

    def raw_detections(self, name: str) -> str:
        """The detections file a detector (or a fold of one) gives, before validation: its predictions,
        the file a detections detector names (or, for one given per fold, that fold's file, and for
        the detector itself its folds' files joined, each on its fold's test trials)."""
        fold = self.fold_detector(name)
        if fold and fold[0] not in self.produced:
            return self.detectors[fold[0]].fold_files.get(fold[1], f"<no file for fold {fold[1]}>")
        if name in self.produced or fold:
            return self.out(f"predictions/{name}.csv")
        detector = self.detectors.get(name)
        if detector is None or detector.kind != "file":
            raise PlanError(f"no detections for detector {name!r}; known: {sorted(self.detection_tables())}")
        return self.out(f"inputs/out_of_fold/{name}.csv") if detector.fold_files else detector.path

    def is_external_file(self, name: str) -> bool:
        """Whether a detector's (or a fold's) detections are a file from outside the output folder."""
        fold = self.fold_detector(name)
        if fold and fold[0] not in self.produced:
            return True
        detector = self.detectors.get(name)
        return (
            detector is not None
            and detector.kind == "file"
            and not detector.fold_files
            and not self._generated(detector)
        )

    def kind(self, name: str) -> str:
        """`train`, `command` or `weights` for a detector that predicts here (and its folds), `file` for
        a file (and a fold's file)."""
        fold = self.fold_detector(name)
        return self.detectors[fold[0] if fold else name].kind

    def test_split(self, name: str) -> str:
        """Which split defines the test trials of a detector's detections: its fold's, the main
        split's frames for one that predicts here, the trials table for a file."""
        fold = self.fold_detector(name)
        if fold:
            return self.out(f"split/fold_frames/{fold[1]}.csv")
        return self.out("split/frames.csv") if name in self.produced else self.out("split/trials.csv")

    def model_file(self, name: str) -> str | None:
        """The file a trained detector's model is built from: a local file, the downloaded weights of
        a .pt name, or None (an ultralytics architecture name)."""
        model = self.trained[name].settings["model"]
        if Path(model).exists():
            return model
        weights = to_download(model)
        return self.out(f"weights/{weights}") if weights else None

    def command_work_dir(self, name: str, fold: str | None = None) -> str:
        """A command's own folder: per detector, and per fold under leave-one-surgeon-out."""
        return self.out(f"folds/{fold}/commands/{name}") if fold else self.out(f"commands/{name}")

    def descriptions(self) -> dict[str, str]:
        """Detector -> what it is, for the board: the model file, the command, the file, and for the
        baseline what it stands for."""
        found = {n: d.settings.get("model") or d.settings.get("command") or d.path for n, d in self.detectors.items()}
        for name, detector in self.detectors.items():
            if detector.fold_files:
                files = "; ".join(f"{fold}: {path}" for fold, path in detector.fold_files.items())
                found[name] = f"one detections file per fold ({files})"
        if self.baseline in found and self.source == "synthetic":
            found[self.baseline] = (
                "synthetic stand-in for the paper's YOLOv4: ground truth jittered, with misses and false positives"
            )
        elif self.baseline in found:
            found[self.baseline] = f"the paper's YOLOv4 detections ({found[self.baseline]})"
        return found

    def leaderboard_sources(self, folds: list[str]) -> dict[str, list[str]]:
        """Detector -> the validated detections tables it is ranked on: its own, or under
        leave-one-surgeon-out every fold's for one that predicts here (each trial is tested in one fold)."""
        found = self.detection_tables()
        if self.loso:
            return {
                n: [self.out(f"detections/{n}-{f}.csv") for f in folds] if n in self.produced else [p]
                for n, p in found.items()
            }
        return {name: [path] for name, path in found.items()}

    # --- targets ------------------------------------------------------------------------------

    def all_targets(self) -> list[str]:
        """Every final output and every file a later step reads: a missing one is re-planned, so after
        an interrupted or failed job the same command redoes it and everything downstream of it."""
        out, provided, tables = self.out, self.provided, self.detection_tables()
        targets = [
            out("validation/report.csv"),
            *[self.validated_path(kind) for kind in self.validated_kinds()],
            out("annotations/bbox.csv"),
            out("stats/table1.csv"),
            out("split/trials.csv"),
        ]
        if "tool_tips" in provided and "bbox" in provided:
            targets.append(out("annotations/bbox_vs_published.csv"))
        if "frames" in provided:
            targets.append(out("yolo/dataset.yaml"))
        for name, detector in self.trained.items():
            weights = to_download(detector.settings["model"])
            targets += [out(f"weights/{weights}")] if weights else []
            targets += [out(f"train/{name}/best.pt")]
        targets += [out(f"predictions/{name}.csv") for name in self.produced]
        targets += [out(f"costs/{name}.json") for name in self.produced]
        targets += list(tables.values())
        targets += [out(f"scores/{name}/summary.json") for name in tables]
        if self.loso:
            targets += [out(f"scores/{name}-loso/folds.csv") for name in self.produced]
        if tables:
            targets.append(out("leaderboard/leaderboard.csv"))
        targets += [out("timelines/presence.csv"), out("phases/segments.csv")]
        targets += [out(f"outcomes/{name}.csv") for name in ("tool_patterns", "pattern_entropy", "tool_profile")]
        if tables:
            targets.append(out("presence/presence_ap.csv"))
        if "outcomes" in provided:
            targets += [out("outcomes/by_attempt.csv"), out("outcomes/apm_agreement.csv")]
            targets.append(out("outcomes/prediction.csv"))
        return targets + self.recording_targets()

    def fold_targets(self, folds: list[str]) -> list[str]:
        """Leave-one-surgeon-out: every fold's export, training, predictions and validated detections."""
        if not self.loso or not self.produced:
            return []
        targets = []
        for fold in folds:
            targets.append(self.out(f"folds/{fold}/yolo/dataset.yaml"))
            for name in self.produced:
                targets += [self.out(f"folds/{fold}/train/{name}/best.pt")] if name in self.trained else []
                targets += [self.out(f"predictions/{name}-{fold}.csv"), self.out(f"detections/{name}-{fold}.csv")]
        return targets

    @property
    def front_page(self) -> str:
        return self.out("report/front_page.rst")

    def report_page(self) -> str:
        """The report's front page: the one written for this run once it exists, else the general one."""
        page = Path(self.front_page).resolve()
        return str(page) if page.is_file() else "workflow/report/workflow.rst"

    def report_figures(self) -> list[str]:
        """The report's figures that the front page links to (those with a name of their own); the
        accuracy-cost figure only where a detector predicts here (detections files made elsewhere have
        no cost). The front page links those that exist with content (`front_page.shown_figures`)."""
        figures = [self.out("stats/box_sizes.png"), self.out("timelines/test_trials.png")]
        if self.detection_tables():
            figures.append(self.out("leaderboard/leaderboard.png"))
        if self.produced:
            figures.append(self.out("leaderboard/accuracy_cost.png"))
        if "outcomes" in self.provided:
            figures.append(self.out("outcomes/learning_curve.png"))
        return figures

    def report_not_ready(self, argv: list[str]) -> str | None:
        """Why `snakemake ... --report` cannot report yet (a result missing), naming the output folder it
        looked in and the command to run first, or None. Where a finished run (one with its front page)
        lies in another folder beside or under this one, the command is the report's with that run's
        --config (what its provenance.json records beyond this command's configuration): finishing this
        folder instead may mean a download or a training."""
        missing = [path for path in [*self.all_targets(), self.front_page] if not Path(path).exists()]
        if not missing:
            return None
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        problem = f"the report needs a finished run: {missing[0]} is missing{more} in the output folder {self.results}"
        finished = finished_runs(self.results)
        if finished:
            others = f" (also finished: {', '.join(map(str, finished[1:]))})" if len(finished) > 1 else ""
            command = " ".join(["snakemake", *with_config(argv, config_of_run(finished[0], self.config))])
            return (
                f"{problem}; a finished run is in {finished[0]}{others}: repeat its --config to report on it "
                f"({command}), or finish this folder's run first"
            )
        options = " ".join(a for a in argv if not a.startswith("--report") and not a.endswith(".html"))
        return f"{problem}; finish the run first (snakemake {options}), then ask for the report again"
