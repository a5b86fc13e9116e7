import os
import re
import sys
from pathlib import Path

# The workflow's own files are found relative to this file, never to the working folder or the main
# Snakefile: deployed as a module (`module sospine: snakefile: ...`), those belong to someone else.
# The Snakefile reads the library from this checkout's src/ (so config checks match the code next
# to them); jobs' scripts import the installed package (`pip install -e .`, see README). A workflow
# deployed from a remote source (github(...)) has no src/ here: it needs the package installed.
# (workflow.source_path copies a file into a per-run cache: good for reading it, not for folders.)
_RULES_DIR = workflow.current_basedir
CHECKOUT = Path(_RULES_DIR.get_path_or_uri(secret_free=True)).parents[1] if _RULES_DIR.is_local else None
if CHECKOUT is not None and (CHECKOUT / "src" / "sospine" / "constants.py").is_file():
    sys.path.insert(0, str(CHECKOUT / "src"))

from snakemake.utils import min_version, validate

from sospine import constants, locks, records
from sospine import detectors as detector_config
from sospine.inputs import ChecksumCache, stamp_inputs
from sospine.weights import expected_sha256, mismatch_problem, to_download, untrusted_problem
from sospine.config import (
    ConfigError,
    check,
    check_command_line_config,
    data_source_conflict,
    deep_merge,
    load_yaml,
    merge_overrides,
    profile_files,
)

min_version("9.0")


wildcard_constraints:
    fold=r"S\d+",
    detector=r"[A-Za-z0-9_.-]+",


def fail(message):
    """Stop before any job with one line that names the key or path (no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


SCHEMA_PATH = workflow.source_path("../schemas/config.schema.yaml")
# Used as a module, the deploying workflow hands its settings over as this module's `config`; the
# command line's --configfile/--config belong to that workflow, not to this one.
IN_MODULE = workflow.modifier.namespace is not None
try:
    _schema = load_yaml(SCHEMA_PATH)
    _file_config = load_yaml(workflow.source_path("../../config/config.yaml"))  # the defaults
    if IN_MODULE:
        _file_config = deep_merge(_file_config, dict(config))
        _command_line = {}
    else:
        # every YAML file of this command line is read strictly: a key given twice is refused, where
        # Snakemake's own reading would keep the last one without a word
        if workflow.is_main_process:
            for _profile in profile_files(sys.argv[1:], CHECKOUT or Path.cwd()):
                load_yaml(_profile)
            check_command_line_config(sys.argv[1:])
        for _path in workflow.overwrite_configfiles or []:
            _file_config = deep_merge(_file_config, load_yaml(_path))
        # the command line's --config as given: Snakemake's own merge into `config` cannot express that
        # an empty mapping replaces the default (`--config analytics='{phases: {}}'` means no phases)
        _command_line = dict(workflow.config_settings.config or {})
    _coerced = deep_merge(_file_config, merge_overrides(_command_line, _file_config, _schema))
    check(_coerced, _schema)
except ConfigError as error:
    fail(f"invalid configuration: {error}")
config.clear()
config.update(_coerced)
validate(config, str(SCHEMA_PATH))  # fills the schema's defaults

RESULTS = Path(config["output_dir"])
RAW = RESULTS / "raw"
LOGS = RESULTS / "logs"
SOURCE = config["data"]["source"]


def out(path):
    """A path under the configured output folder (`output_dir`)."""
    return str(RESULTS / path)


# checksums of the files read from outside the output folder, reread only when their stat changes
CHECKSUMS = ChecksumCache(RESULTS / "inputs" / "checksums.json", log=lambda line: print(line, file=sys.stderr))


# One run writes an output folder at a time, also from another checkout (Snakemake's own lock is per
# working folder): taken when jobs are about to run (not for a dry run), given back at the end; a lock
# whose process is gone is taken over.
OUTPUT_LOCK = RESULTS / ".sospine.lock"


def take_output_lock():
    try:
        locks.acquire(OUTPUT_LOCK, f"output folder {RESULTS}", describe=f"run of the workflow in {Path.cwd()}")
    except locks.LockedError as error:
        fail(str(error))
    records.record_writer(RESULTS, Path.cwd())


# Snakemake's records of what it made live in the checkout, not the output folder: what the checkout
# that wrote this folder last knows (files it made, jobs it had stopped) is taken over before planning.
if not locks.is_live(OUTPUT_LOCK) and (_handed_over := records.hand_over(RESULTS, Path.cwd())):
    print(_handed_over, file=sys.stderr)


def give_back_output_lock():
    locks.release(OUTPUT_LOCK)


SYNTHETIC_DETECTIONS = out(f"raw/{constants.PAPER_DETECTIONS_CSV}")  # made by the synthesize rule


DATA_FILES = {
    "frames": constants.FRAMES_ZIP,
    "tool_tips": constants.TOOL_TIPS_CSV,
    "bbox": constants.BBOX_CSV,
    "outcomes": constants.OUTCOMES_CSV,
}


def mirror_dir():
    folder = Path(config["data"]["mirror_dir"] or ".")
    if not config["data"]["mirror_dir"] or not folder.is_dir():
        fail(
            f"data.mirror_dir: {config['data']['mirror_dir']!r} is not a folder "
            "(data.source is 'mirror'; point it at a folder of the SOSpine files)"
        )
    return folder


def provided_files():
    """Kinds of published file the configured source provides (kind -> FigShare name)."""
    if SOURCE == "mirror":
        return {k: n for k, n in DATA_FILES.items() if (mirror_dir() / n).is_file()}
    return dict(DATA_FILES)


PROVIDED = provided_files()
# what the output folder's results are made from; a folder holds one source (see data_source_conflict)
DATA_SOURCE = {"source": SOURCE, "mirror_dir": str(mirror_dir().resolve()) if SOURCE == "mirror" else ""}
DATA_SOURCE_STAMP = RESULTS / "data_source.json"
_conflict = data_source_conflict(DATA_SOURCE_STAMP, DATA_SOURCE)
if _conflict:
    fail(_conflict)
MISSING = sorted(set(DATA_FILES) - set(PROVIDED))
if SOURCE == "mirror" and not {"bbox", "tool_tips"} & set(PROVIDED):
    fail(
        f"data.mirror_dir: {mirror_dir()} holds neither {constants.BBOX_CSV} nor {constants.TOOL_TIPS_CSV} (looked for "
        f"{', '.join(DATA_FILES.values())} and {constants.PAPER_DETECTIONS_CSV}); point it at a folder of the SOSpine "
        "files under their FigShare names"
    )
if MISSING and workflow.is_main_process:  # once: jobs that read this file again say nothing
    print(
        f"note: data source '{SOURCE}' does not provide {', '.join(DATA_FILES[k] for k in MISSING)}; "
        "rules that need them are skipped "
        + ("(no frames.zip: no YOLO export, training or detector scoring)" if "frames" in MISSING else ""),
        file=sys.stderr,
    )


def raw_path(kind):
    """Where a published file of this kind lies in the output folder."""
    return out(f"raw/{DATA_FILES[kind]}")


def validated_path(kind):
    """A validated CSV (what every downstream rule reads)."""
    return out(f"validation/clean/{DATA_FILES[kind]}")


def validated_kinds():
    return [k for k in ("tool_tips", "bbox", "outcomes") if k in PROVIDED]


def baseline_detections():
    """Path of the baseline detections CSV, or None."""
    setting = config["baseline"]["detections"]
    if setting == "auto":
        if SOURCE == "synthetic":  # the generator's stand-in for the paper's YOLOv4 detections
            return SYNTHETIC_DETECTIONS
        if SOURCE == "mirror":
            candidate = mirror_dir() / constants.PAPER_DETECTIONS_CSV
            return str(candidate) if candidate.is_file() else None
        return None
    if not setting:
        return None
    if not Path(setting).is_file():
        fail(f"baseline.detections: {setting} does not exist")
    return setting


def boxes_source():
    choice = config["annotations"]["boxes"]
    if choice == "auto":
        return "published" if "bbox" in PROVIDED else "derived"
    needed = {"published": "bbox", "derived": "tool_tips"}[choice]
    if needed not in PROVIDED:
        fail(f"annotations.boxes: {choice!r} needs {DATA_FILES[needed]}, which data source '{SOURCE}' does not provide")
    return choice


LOSO = config["split"]["method"] == "leave_one_surgeon_out"


def loso_folds():
    """The folds the split wrote (known once the split checkpoint has run)."""
    folds_dir = Path(checkpoints.split.get().output.folds)
    return sorted(p.stem for p in folds_dir.glob("*.csv"))


# Every detector of the run (config `detectors`, or train.name alone), the baseline last. Trained
# ones need frames.zip; without it they are left out, like the YOLO export.
BASELINE = detector_config.baseline_name(config, SOURCE)
DETECTORS = detector_config.resolve(config, baseline_detections(), SOURCE)
TRAINED = {n: d for n, d in DETECTORS.items() if d.trained and "frames" in PROVIDED}
COMMANDS = {n: d for n, d in DETECTORS.items() if d.kind == "command" and "frames" in PROVIDED}
PRODUCED = {**TRAINED, **COMMANDS}  # detectors that predict the test images here: folds, costs
# the train/predict/command rules match exactly these names, so `<name>-<fold>` is never read as a name
TRAINED_PATTERN = "|".join(re.escape(n) for n in TRAINED) or "(?!)"
COMMAND_PATTERN = "|".join(re.escape(n) for n in COMMANDS) or "(?!)"
PRODUCED_PATTERN = "|".join(re.escape(n) for n in PRODUCED) or "(?!)"
for _problem in detector_config.reserved_name_problems(config, SOURCE):
    fail(f"invalid configuration: {_problem}")
_problem = detector_config.reference_problem(config["leaderboard"]["reference"], list(DETECTORS))
if _problem:
    fail(f"invalid configuration: {_problem}")
_weights_sha256 = {}  # a downloaded weights name -> the sha256 it must have
for _name, _detector in TRAINED.items():
    _model, _sha256 = _detector.settings["model"], _detector.settings.get("sha256") or None
    _where = f"detectors.{_name}.model" if config.get("detectors") else "train.model"
    if "/" in _model and not Path(_model).exists():
        fail(f"model of detector {_name!r}: {_model} does not exist")
    _problem = untrusted_problem(_model, _sha256, _where)
    if _problem:
        fail(f"invalid configuration: {_problem}")
    if _model.endswith(".pt") and Path(_model).is_file():
        _actual = CHECKSUMS.checksum(_model, "sha256")
        if _actual != expected_sha256(_model, _sha256):
            fail(
                f"invalid configuration: {_where}: {mismatch_problem(_model, _actual, expected_sha256(_model, _sha256), bool(_sha256))}"
            )
    elif to_download(_model):
        _known = _weights_sha256.setdefault(to_download(_model), expected_sha256(_model, _sha256))
        if _known != expected_sha256(_model, _sha256):
            fail(f"invalid configuration: {_where}: {_model} is given with two different sha256 values")
CHECKSUMS.save()


def external(path):
    """A file the workflow reads from this machine (a mirror, a model file, someone's detections),
    never looked up in a default storage such as AWS Batch's S3 prefix."""
    return local(str(path))


def _external_files():
    """Every file read from outside the output folder, by path."""
    files = [mirror_dir() / name for name in PROVIDED.values()] if SOURCE == "mirror" else []
    files += [Path(d.path) for d in DETECTORS.values() if not d.trained and d.path != SYNTHETIC_DETECTIONS]
    files += [Path(d.settings["model"]) for d in TRAINED.values() if Path(d.settings["model"]).is_file()]
    return {str(path): path for path in files}


# Content stamps of the external files (sospine.inputs): rewritten at start only when a file's content
# changed, and read by the rules that read the file, so that new content under an old mtime re-plans
# them. Jobs that read this file again on a cluster node only name the stamps.
STAMPS = stamp_inputs(_external_files(), RESULTS / "inputs", CHECKSUMS, write=workflow.is_main_process)


def stamp_of(path):
    """The content stamp of an external file (as input, local like the file)."""
    return local(STAMPS[str(path)])


def detectors():
    """Detector name -> its validated detections table, for every detector the configuration can score."""
    return {
        name: out(f"detections/{name}.csv") for name, d in DETECTORS.items() if d.kind == "file" or name in PRODUCED
    }


def raw_detections_of(wildcards):
    """The detections file a detector (or a leave-one-surgeon-out fold of one) gives, before validation:
    a trained detector's predictions, or the file a detections detector names."""
    name = wildcards.detector
    if name in PRODUCED or fold_detector(name):
        return out(f"predictions/{name}.csv")
    detector = DETECTORS.get(name)
    if detector is None or detector.kind != "file":
        raise WorkflowError(f"no detections for detector {name!r}; known: {sorted(detectors())}")
    return detector.path if detector.path == SYNTHETIC_DETECTIONS else external(detector.path)


def detections_stamp(wildcards):
    """The content stamp of a detections file from outside the output folder, or nothing."""
    detector = DETECTORS.get(wildcards.detector)
    external_file = detector is not None and detector.kind == "file" and detector.path != SYNTHETIC_DETECTIONS
    return stamp_of(detector.path) if external_file else []


def detector_kind(wildcards):
    """`train` or `command` for a detector that predicts the test images here (and its folds), `file`
    for a detections file."""
    fold = fold_detector(wildcards.detector)
    return DETECTORS[fold[0] if fold else wildcards.detector].kind


def test_split_of(wildcards):
    """Which split defines the test trials of a detector's detections: its fold's for a
    leave-one-surgeon-out fold, the main split's frames for a trained detector (the first fold's under
    leave-one-surgeon-out), the trials table for a file (every trial tested in any fold)."""
    fold = fold_detector(wildcards.detector)
    if fold:
        return out(f"split/fold_frames/{fold[1]}.csv")
    return out("split/frames.csv") if wildcards.detector in PRODUCED else out("split/trials.csv")


def setting(key):
    """A trained detector's setting (its own, else train's), for params and resources."""
    return lambda wildcards: TRAINED[wildcards.detector].settings.get(key)


def weights_sha256(wildcards):
    """The sha256 a downloaded weights file must have (configured, else published)."""
    return _weights_sha256.get(wildcards.weights)


def command_setting(key):
    """A command detector's setting, for params and resources."""
    return lambda wildcards: COMMANDS[wildcards.detector].settings.get(key)


def command_script(wildcards):
    """The file a command detector's command runs (a script), as input: a changed script reruns it."""
    from sospine.commands import checked_file

    path = checked_file(COMMANDS[wildcards.detector].settings["command"])
    return external(path) if path else []


def command_threads(wildcards):
    return COMMANDS[wildcards.detector].settings["threads"]


def command_work_dir(wildcards):
    """The command's own folder: per detector, and per fold under leave-one-surgeon-out."""
    fold = dict(wildcards.items()).get("fold")
    return out(f"folds/{fold}/commands/{wildcards.detector}") if fold else out(f"commands/{wildcards.detector}")


def detector_descriptions():
    """Detector -> what it is, for the board's `model` column: the model file, the command, the file,
    and for the baseline what it stands for."""
    found = {}
    for name, d in DETECTORS.items():
        found[name] = d.settings.get("model") or d.settings.get("command") or d.path
    if BASELINE in found and SOURCE == "synthetic":
        found[BASELINE] = (
            "synthetic stand-in for the paper's YOLOv4: ground truth jittered, with misses and false positives"
        )
    elif BASELINE in found:
        found[BASELINE] = f"the paper's YOLOv4 detections ({found[BASELINE]})"
    return found


def cost_files(wildcards):
    """What each detector that predicts here cost (parameters, GFLOPs, training time, inference ms);
    file detectors have none. In the order of `cost_names`."""
    return [out(f"costs/{name}.json") for name in PRODUCED]


def cost_names(wildcards):
    return list(PRODUCED)


def model_file(wildcards):
    """The file a detector's model is built from, declared as input: a local .yaml/.pt, the
    downloaded weights of a .pt name, or nothing (an ultralytics architecture name)."""
    model = TRAINED[wildcards.detector].settings["model"]
    if Path(model).exists():
        return external(model)
    name = to_download(model)
    return out(f"weights/{name}") if name else []


def model_stamp(wildcards):
    """The content stamp of a local model file, or nothing."""
    model = TRAINED[wildcards.detector].settings["model"]
    return stamp_of(model) if Path(model).is_file() else []


def fold_detector(name):
    """(detector, fold) for a leave-one-surgeon-out fold's name `<detector>-<fold>` of a detector that
    predicts here (trained or a command), else None."""
    if not LOSO:
        return None
    detector, _, fold = name.rpartition("-")
    return (detector, fold) if detector in PRODUCED and re.fullmatch(r"S\d+", fold) else None


def all_targets():
    """Every final output and every file a later step reads: a missing one is re-planned, so after an
    interrupted or failed job the same command redoes it and everything downstream of it (Snakemake
    leaves a missing intermediate alone while the outputs made from it exist)."""
    targets = [
        out("validation/report.csv"),
        *[validated_path(kind) for kind in validated_kinds()],
        out("annotations/bbox.csv"),
        out("stats/table1.csv"),
        out("split/trials.csv"),
    ]
    if "tool_tips" in PROVIDED and "bbox" in PROVIDED:
        targets.append(out("annotations/bbox_vs_published.csv"))
    if "frames" in PROVIDED:
        targets.append(out("yolo/dataset.yaml"))
    for name, detector in TRAINED.items():
        weights = to_download(detector.settings["model"])
        targets += [out(f"weights/{weights}")] if weights else []
        targets += [out(f"train/{name}/best.pt")]
    targets += [out(f"predictions/{name}.csv") for name in PRODUCED] + [out(f"costs/{name}.json") for name in PRODUCED]
    targets += list(detectors().values())
    targets += [out(f"scores/{name}/summary.json") for name in detectors()]
    if LOSO:
        targets += [out(f"scores/{name}-loso/folds.csv") for name in PRODUCED]
    if detectors():
        targets.append(out("leaderboard/leaderboard.csv"))
    targets += [out("timelines/presence.csv"), out("phases/segments.csv")]
    if detectors():
        targets.append(out("presence/presence_ap.csv"))
    if "outcomes" in PROVIDED:
        targets += [out("outcomes/by_attempt.csv"), out("outcomes/apm_agreement.csv"), out("outcomes/prediction.csv")]
    return targets


FRONT_PAGE = out("report/front_page.rst")


def output_dir_of_front_page(wildcards, output):
    """The output folder, as the front page names it (the folder above report/front_page.rst)."""
    return str(Path(output[0]).parents[1])


def report_figures():
    """The report's figures that the front page links to (those with a name of their own)."""
    figures = [out("stats/box_sizes.png"), out("timelines/test_trials.png")]
    if detectors():
        figures += [out("leaderboard/leaderboard.png"), out("leaderboard/accuracy_cost.png")]
    if "outcomes" in PROVIDED:
        figures.append(out("outcomes/learning_curve.png"))
    return figures


def report_page():
    """The report's front page: the one written for this run once it exists, else the general one."""
    page = Path(FRONT_PAGE).resolve()
    return str(page) if page.is_file() else "workflow/report/workflow.rst"


def check_ready_for_report():
    """`--report` needs a finished run: name the first missing result, the rule that makes it and
    the command to run first (instead of Snakemake's "marked for report but does not exist")."""
    if "--report" not in sys.argv[1:] or not workflow.is_main_process:
        return
    missing = [path for path in [*all_targets(), FRONT_PAGE] if not Path(path).exists()]
    if missing:
        options = " ".join(a for a in sys.argv[1:] if not a.startswith("--report") and not a.endswith(".html"))
        fail(
            f"the report needs a finished run: {missing[0]} is missing{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
            f"finish the run first (snakemake {options}), then ask for the report again"
        )


def fold_targets(wildcards):
    """Leave-one-surgeon-out: every fold's export, training, predictions and validated detections
    (known once the split has run), for the same reason as `all_targets`."""
    if not LOSO or not PRODUCED:
        return []
    targets = []
    for fold in loso_folds():
        targets.append(out(f"folds/{fold}/yolo/dataset.yaml"))
        for name in PRODUCED:
            targets += [out(f"folds/{fold}/train/{name}/best.pt")] if name in TRAINED else []
            targets += [out(f"predictions/{name}-{fold}.csv"), out(f"detections/{name}-{fold}.csv")]
    return targets


def validation_inputs(wildcards):
    return {kind: raw_path(kind) for kind in validated_kinds()}


def model_argument(wildcards, input):
    """What ultralytics builds the model from: the declared file (the job's own path, also without
    a shared file system) or, for an architecture name, the name itself."""
    return input.model if input.model else TRAINED[wildcards.detector].settings["model"]


def detector_names(wildcards):
    return list(detectors())


def detector_detections(wildcards):
    return list(detectors().values())


def detector_scores(wildcards):
    return [out(f"scores/{name}/ap_per_class.csv") for name in detectors()]


def fold_summaries(wildcards):
    """Every leave-one-surgeon-out fold's summary (the folds are known once the split ran)."""
    return [out(f"scores/{wildcards.detector}-{fold}/summary.json") for fold in loso_folds()]


def leaderboard_sources(wildcards):
    """Detector -> the validated detections tables it is ranked on: a file detector's; a trained
    one's, or for leave-one-surgeon-out every fold's (each trial is tested in exactly one fold)."""
    found = detectors()
    if LOSO:
        folds = loso_folds()
        return {n: [out(f"detections/{n}-{f}.csv") for f in folds] if n in PRODUCED else [p] for n, p in found.items()}
    return {name: [path] for name, path in found.items()}


def leaderboard_detections(wildcards):
    return [path for paths in leaderboard_sources(wildcards).values() for path in paths]


def files_per_detector(wildcards):
    """Detector -> how many of the leaderboard's detections inputs are its (the script reads the
    inputs themselves: with a default storage, their local paths differ from the names here)."""
    return {name: len(paths) for name, paths in leaderboard_sources(wildcards).items()}


def folder_of_best(wildcards, output):
    """A training's work folder: where its best.pt is published."""
    return os.path.dirname(output.best)


def ultralytics_settings_of(wildcards, input):
    """The ultralytics settings folder of the training that made these weights."""
    return os.path.join(os.path.dirname(input.weights), "ultralytics")


def folder_of_output(wildcards, output):
    return os.path.dirname(output[0])


def run_label(wildcards):
    """How a training names itself on the console: the detector, and its fold if it has one."""
    fold = dict(wildcards.items()).get("fold")
    return f"{wildcards.detector}-{fold}" if fold else wildcards.detector


def producers():
    """Rule name -> the patterns (regular expressions) of the files it makes, for provenance to name
    the rule that remakes a file."""
    from snakemake.io import regex_from_filepattern

    return {r.name: [regex_from_filepattern(str(o)) for o in r.products()] for r in workflow.rules if r.products()}


def static_rule_params():
    """Each rule's named params (those known at parse time) for the provenance record."""
    named = {}
    for rule_ in workflow.rules:
        params = {k: v for k, v in rule_.params.items() if not callable(v)}
        if params:
            named[rule_.name] = params
    return named
