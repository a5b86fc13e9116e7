import sys
import warnings
from pathlib import Path

# The workflow's own files are found relative to this file, never to the working folder or the main
# Snakefile (deployed as a module, those belong to someone else). The Snakefile reads the library from
# this checkout's src/ (config checks match the code beside them); jobs' scripts import the installed
# package (`pip install -e .`); a workflow deployed from a remote source needs the package installed.
_RULES_DIR = workflow.current_basedir
CHECKOUT = Path(_RULES_DIR.get_path_or_uri(secret_free=True)).parents[1] if _RULES_DIR.is_local else None
if CHECKOUT is not None and (CHECKOUT / "src" / "sospine" / "constants.py").is_file():
    sys.path.insert(0, str(CHECKOUT / "src"))

from snakemake.utils import min_version, validate

from sospine import constants
from sospine.config import ConfigError, data_source_conflict, load_workflow_config
from sospine.detectors.commands import checked_file
from sospine.provenance import artifacts as provenance, locks, records
from sospine.provenance.inputs import ChecksumCache, stamp_inputs
from sospine.plan import DATA_FILES, Plan, PlanError
from sospine.workflow_io import *  # the params functions that name a job's folders (get_*)

min_version("9.0")
# --report evaluates size-based resources without awaiting the sizes (Snakemake's warning, no effect)
warnings.filterwarnings("ignore", "coroutine 'InputFiles._predicated_size_files", RuntimeWarning)


wildcard_constraints:
    fold=r"S\d+",
    detector=r"[A-Za-z0-9_.-]+",


def fail(message):
    """Stop before any job with one line that names the key or path (no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


# The configuration: config/config.yaml under the command line's files and --config (or, used as a
# module, under the deploying workflow's settings), every file read strictly, then checked.
SCHEMA_PATH = workflow.source_path("../schemas/config.schema.yaml")
MAIN = workflow.is_main_process  # only the main process writes at parse time
try:
    _checked = load_workflow_config(
        SCHEMA_PATH,
        workflow.source_path("../../config/config.yaml"),
        module_config=dict(config) if workflow.modifier.namespace is not None else None,
        argv=sys.argv[1:] if MAIN else None,
        checkout=CHECKOUT or Path.cwd(),
        configfiles=workflow.overwrite_configfiles or [],
        command_line=dict(workflow.config_settings.config or {}),
    )
except ConfigError as error:
    fail(f"invalid configuration: {error}")
config.clear()
config.update(_checked)
validate(config, str(SCHEMA_PATH))  # fills the schema's defaults

RESULTS = Path(config["output_dir"])
# checksums of the files read from outside the output folder, reread only when their stat changes
CHECKSUMS = ChecksumCache(RESULTS / "inputs" / "checksums.json", log=lambda line: print(line, file=sys.stderr))
try:
    PLAN = Plan(config, checksum=CHECKSUMS.checksum)
    PLAN.boxes_source()
except PlanError as error:
    fail(str(error))
out, raw_path, validated_path = PLAN.out, PLAN.raw_path, PLAN.validated_path
SOURCE, PROVIDED, DATA_SOURCE, FRONT_PAGE = PLAN.source, PLAN.provided, PLAN.data_source, PLAN.front_page
DATA_SOURCE_STAMP = RESULTS / "data_source.json"
if _conflict := data_source_conflict(DATA_SOURCE_STAMP, DATA_SOURCE):
    fail(_conflict)
for _note in PLAN.start_notes() if MAIN else []:
    print(_note, file=sys.stderr)


# One run writes an output folder at a time, also from another checkout (Snakemake's lock is per working
# folder): taken when jobs are about to run (not for a dry run), given back at the end. Snakemake's records
# live in the checkout: those of the checkout that wrote the folder last are taken over before planning.
def take_output_lock():
    if problem := records.take_output_folder(RESULTS, Path.cwd()):
        fail(problem)


def give_back_output_lock():
    locks.release(RESULTS / records.OUTPUT_LOCK)


if MAIN and (_handed_over := records.take_over_records(RESULTS, Path.cwd())):
    print(_handed_over, file=sys.stderr)

# Content stamps of the external files (sospine.provenance.inputs), read by the rules that read the
# files: new content under an old mtime re-plans them. Jobs reading this file again only name the stamps.
STAMPS = stamp_inputs(PLAN.external_files(), RESULTS / "inputs", CHECKSUMS, write=MAIN)
if MAIN:
    CHECKSUMS.save()

TRAINED_PATTERN, COMMAND_PATTERN = Plan.pattern(PLAN.trained), Plan.pattern(PLAN.commands)
WEIGHTS_PATTERN, PRODUCED_PATTERN = Plan.pattern(PLAN.weighted), Plan.pattern(PLAN.produced)
DETECTOR_KINDS = {name: d.kind for name, d in PLAN.detectors.items()}


def external(path):
    """A file read from this machine, never looked up in a default storage (AWS Batch's S3 prefix)."""
    return local(str(path))


def stamp_of(path):
    return local(STAMPS[str(path)])


def loso_folds():
    """The folds the split wrote (known once the split checkpoint has run)."""
    return sorted(p.stem for p in Path(checkpoints.split.get().output.folds).glob("*.csv"))


def get_validation_inputs(wildcards):
    return {kind: raw_path(kind) for kind in PLAN.validated_kinds()}


def get_raw_detections(wildcards):
    path = PLAN.raw_detections(wildcards.detector)
    return external(path) if PLAN.is_external_file(wildcards.detector) else path


def get_detections_stamp(wildcards):
    name = wildcards.detector
    return stamp_of(PLAN.raw_detections(name)) if PLAN.is_external_file(name) else []


def get_video(wildcards):
    path = PLAN.videos[wildcards.video]
    return path if PLAN.is_made_here(path) else external(path)


def get_video_stamp(wildcards):
    path = PLAN.videos[wildcards.video]
    return [] if PLAN.is_made_here(path) else stamp_of(path)


def get_detector_kind(wildcards):
    return PLAN.kind(wildcards.detector)


def get_test_split(wildcards):
    return PLAN.test_split(wildcards.detector)


def get_setting(key, of="trained"):
    """A detector's setting (a trained one's own, else train's; `of`: commands, weighted), for params."""
    return lambda wildcards: getattr(PLAN, of)[wildcards.detector].settings.get(key)


def get_given_weights(wildcards):
    return external(PLAN.weighted[wildcards.detector].path)


def get_given_weights_stamp(wildcards):
    return stamp_of(PLAN.weighted[wildcards.detector].path)


def get_weights_sha256(wildcards):
    return PLAN.weights_sha256.get(wildcards.weights)


def get_model_file(wildcards):
    """A local model file (external), the downloaded weights of a .pt name, or nothing."""
    path = PLAN.model_file(wildcards.detector)
    local_file = Path(PLAN.trained[wildcards.detector].settings["model"]).exists()
    return external(path) if local_file else path or []


def get_model_stamp(wildcards):
    model = PLAN.trained[wildcards.detector].settings["model"]
    return stamp_of(model) if Path(model).is_file() else []


def get_model_argument(wildcards, input):
    """What ultralytics builds the model from: the declared file (the job's own path) or a name."""
    return input.model if input.model else PLAN.trained[wildcards.detector].settings["model"]


def get_command_script(wildcards):
    """The file a command detector's command runs, as input: a changed script reruns it."""
    path = checked_file(PLAN.commands[wildcards.detector].settings["command"])
    return external(path) if path else []


def get_command_work_dir(wildcards):
    return PLAN.command_work_dir(wildcards.detector, dict(wildcards.items()).get("fold"))


def get_fold_summaries(wildcards):
    return [out(f"scores/{wildcards.detector}-{fold}/summary.json") for fold in loso_folds()]


def get_fold_targets(wildcards):
    return PLAN.fold_targets(loso_folds()) if PLAN.loso and PLAN.produced else []


def get_leaderboard_detections(wildcards):
    sources = PLAN.leaderboard_sources(loso_folds() if PLAN.loso else [])
    return [path for paths in sources.values() for path in paths]


def get_files_per_detector(wildcards):
    """Detector -> how many of the leaderboard's detections inputs are its, in order."""
    sources = PLAN.leaderboard_sources(loso_folds() if PLAN.loso else [])
    return {name: len(paths) for name, paths in sources.items()}


def check_ready_for_report():
    """`--report` needs a finished run: name the first missing result and the command to run first."""
    if "--report" in sys.argv[1:] and MAIN and (problem := PLAN.report_not_ready(sys.argv[1:])):
        fail(problem)
