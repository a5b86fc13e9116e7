"""Configuration checks that run before any job: coercion of command-line strings and one-line
error messages that name the key and what was expected."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """A configuration problem, with a message fit for one line of output."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last one,
    so `detectors: {mine: ..., mine: ...}` would silently lose a detector)."""

    def construct_mapping(self, node, deep=False):  # noqa: ANN001, ANN201 - PyYAML's signature
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                name = key_node.start_mark.name or ""
                where = "" if name.startswith("<") else name
                raise ConfigError(
                    f"duplicate key {key!r} at line {line}{' of ' + where if where else ''} "
                    f"(first given at line {seen[key]}); each key may appear once"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, name: str = "<string>") -> Any:
    """YAML text (a --config value, say) parsed like a config file: duplicate keys refused."""
    loader = _UniqueKeyLoader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def profile_files(argv: list[str], workflow_dir: str | Path) -> list[Path]:
    """The profile files this Snakemake command line reads (`--profile`, `$SNAKEMAKE_PROFILE`,
    `--workflow-profile` or the workflow's `profiles/default`), found as Snakemake finds them, so that
    they can be checked like config files (Snakemake's own reading keeps the last of a duplicate key)."""
    from snakemake.cli import get_argument_parser, get_profile_dir

    try:
        args, _ = get_argument_parser().parse_known_args(argv)
    except SystemExit:  # not a Snakemake command line (the API, a test): nothing to check
        return []
    profiles = [p for p in (args.profile or []) if p != "none"]
    found = [entry[1] for entry in map(get_profile_dir, profiles) if entry is not None]
    if args.workflow_profile != "none":
        name = Path(args.workflow_profile or "default")
        candidates = [name, Path("profiles") / name, Path(workflow_dir) / "profiles" / name]
        folder = next((c for c in candidates if c.exists()), None)
        entry = get_profile_dir(str(folder)) if folder is not None else None
        if entry is not None:
            found.append(entry[1])
    return found


def check_command_line_config(argv: list[str]) -> None:
    """Read each `--config KEY=VALUE` of a Snakemake command line strictly (Snakemake's own reading of
    `train='{epochs: 2, epochs: 3}'` keeps the last key without a word): ConfigError naming it.

    >>> check_command_line_config(["--cores", "2", "--config", "scoring={iou_threshold: 0.6}", "-n"])
    >>> check_command_line_config(["--config", "train={epochs: 2, epochs: 3}"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sospine.config.ConfigError: --config train=...: duplicate key 'epochs' at line 1 ...
    """
    values, taking = [], False
    for arg in argv:
        if arg in ("--config", "-C"):
            taking = True
        elif arg.startswith("--config="):
            values.append(arg.split("=", 1)[1])
            taking = True
        elif arg.startswith("-"):
            taking = False
        elif taking:
            values.append(arg)
    for entry in values:
        key, _, value = entry.partition("=")
        try:
            parse_yaml(value)
        except ConfigError as error:
            raise ConfigError(f"--config {key}=...: {error}") from None
        except yaml.YAMLError:
            continue  # not YAML: Snakemake takes it as a string, the schema judges it


def load_yaml(path: str | Path) -> Any:
    """A YAML file; a key given twice in one mapping is a ConfigError naming the key, line and file."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        return parse_yaml(text, str(path)) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """`override` on top of `base`, merging nested mappings instead of replacing them; an empty
    mapping replaces (`analytics: {phases: {}}` means no phases).

    >>> deep_merge({"a": {"x": 1, "y": 2}, "b": {"z": 3}}, {"a": {"y": 5}, "b": {}})
    {'a': {'x': 1, 'y': 5}, 'b': {}}
    """
    merged = dict(copy.deepcopy(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and value and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _schema_types(schema: Mapping) -> set[str]:
    declared = schema.get("type")
    if declared is None and "anyOf" in schema:
        return set().union(*(_schema_types(option) for option in schema["anyOf"]))
    return {declared} if isinstance(declared, str) else set(declared or ())


def coerce(value: Any, schema: Mapping, root: Mapping | None = None) -> Any:
    """Turn strings into the types `schema` asks for, recursively.

    `snakemake --config scoring='{iou_threshold: 0.6}'` hands the nested mapping over as a string;
    parsing it as YAML restores the mapping (and numbers, booleans and lists inside it).
    """
    root = root if root is not None else schema
    if "$ref" in schema:
        schema = _resolve_ref(schema["$ref"], root)
    types = _schema_types(schema)
    if isinstance(value, str) and types & {"object", "array", "number", "integer", "boolean"} and "string" not in types:
        try:
            parsed = parse_yaml(value)
        except yaml.YAMLError:
            return value  # left to the validator, which names the key
        if parsed is not None:
            value = parsed
    if isinstance(value, Mapping) and "object" in types:
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            key: coerce(item, properties.get(key, extra if isinstance(extra, Mapping) else {}), root)
            for key, item in value.items()
        }
    if isinstance(value, list) and "array" in types and isinstance(schema.get("items"), Mapping):
        return [coerce(item, schema["items"], root) for item in value]
    if isinstance(value, str) and not types and not schema.get("enum"):
        # a free-form value (train.extra's): Snakemake's --config hands nested scalars over as
        # strings, so `{patience: 20}` arrives as "20"; read it as YAML would
        try:
            return parse_yaml(value) if value.strip() else value
        except yaml.YAMLError:
            return value
    return value


def _resolve_ref(ref: str, root: Mapping) -> Mapping:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def merge_overrides(config: Mapping, file_config: Mapping, schema: Mapping) -> dict:
    """Coerce `config` by the schema and re-merge mappings that a command-line string replaced.

    Snakemake replaces a whole top-level mapping by a `--config key=...` value, so the keys of the
    config file that the override did not mention would be lost; merge them back in.
    """
    coerced = coerce(dict(config), schema)
    for key, value in coerced.items():
        if (
            isinstance(config.get(key), str)
            and isinstance(value, Mapping)
            and isinstance(file_config.get(key), Mapping)
        ):
            coerced[key] = deep_merge(file_config[key], value)
    return coerced


def describe_error(error: jsonschema.ValidationError) -> str:
    """`data.source: 'ftp' is not one of ['figshare', 'mirror', 'synthetic']`-style message."""
    path = ".".join(str(part) for part in error.absolute_path) or "<config>"
    if path.endswith("sha256"):
        from sospine.detectors.weights import checksum_problem

        return checksum_problem(error.instance, path) or f"config key '{path}': {error.message}"
    if error.validator == "additionalProperties":
        extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        where = "at top level" if path == "<config>" else f"under '{path}'"
        return f"unknown config key {', '.join(map(repr, extras))} {where}; expected one of: {allowed}"
    return f"config key '{path}': {error.message}"


# Training arguments the workflow sets itself; in train.extra they would clash with those
RESERVED_TRAIN_KEYS = ("data", "project", "name", "model", "resume", "exist_ok")
TRAIN_SETTINGS = ("epochs", "imgsz", "batch", "device", "seed", "workers", "plots")
# ultralytics arguments that make it load a file of its own choosing: a checkpoint (a pickle, which
# can run code) or a file of further arguments (which could name one); weights reach training only
# as the model, through its sha256 and sospine.detectors.checkpoints' gate
FILE_LOADING_KEYS = {
    "cfg": "a file of further training arguments would pass around the checks of these ones; set its keys here",
    "distill_model": "distillation loads a teacher checkpoint that no sha256 vouches for; not supported",
    "pretrained": "only true or false here; to start from weights give them as the model "
    "(model: PATH.pt with sha256: ...), where their checksum is checked",
}
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".torchscript")


def extra_problems(extra: object, where: str) -> list[str]:
    """What is wrong with a `train.extra` (or `detectors.NAME.extra`) mapping: keys the workflow sets,
    train settings given twice, and every way of naming a file for ultralytics to load.

    >>> extra_problems({"patience": 20, "pretrained": False}, "train.extra")
    []
    >>> [p.split(":")[0] for p in extra_problems({"cfg": "o.yaml", "pretrained": "x.pt", "w": "a.pth"}, "train.extra")]
    ["config key 'train.extra.cfg'", "config key 'train.extra.pretrained'", "config key 'train.extra.w'"]
    """
    if not isinstance(extra, Mapping):
        return []
    messages = []
    for key in sorted(extra, key=str):
        value = extra[key]
        if key in RESERVED_TRAIN_KEYS:
            messages.append(f"config key '{where}.{key}': set by the workflow itself, not allowed here")
        elif key in TRAIN_SETTINGS:
            messages.append(f"config key '{where}.{key}': use train.{key} instead")
        elif key in FILE_LOADING_KEYS and not (key == "pretrained" and isinstance(value, bool)):
            messages.append(f"config key '{where}.{key}': {FILE_LOADING_KEYS[key]}")
        elif isinstance(value, str) and value.strip().lower().endswith(CHECKPOINT_SUFFIXES):
            messages.append(
                f"config key '{where}.{key}': {value} names a checkpoint file, which ultralytics would load past "
                "its checksum; weights reach training only as the model (with sha256)"
            )
    return messages


def check(config: Mapping, schema: Mapping) -> None:
    """Raise ConfigError naming every offending key (sorted, one per line)."""
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    messages = [describe_error(error) for error in errors]
    messages += extra_problems((config.get("train") or {}).get("extra"), "train.extra")
    detectors = config.get("detectors")
    for name, own in detectors.items() if isinstance(detectors, Mapping) else []:
        if isinstance(own, Mapping):
            messages += extra_problems(own.get("extra"), f"detectors.{name}.extra")
    if not messages and isinstance(config.get("train"), Mapping):
        from sospine.detectors.kinds import name_problems, problems

        messages += name_problems(config)
        messages += problems(config, schema["properties"]["train"])
    if messages:
        raise ConfigError("; ".join(messages))


def data_source_conflict(stamp_path: str | Path, identity: Mapping[str, str]) -> str | None:
    """Why a run must not write into an output folder, or None.

    An output folder holds the results of one data source: `stamp_path` (written by the workflow's
    first job) records which. A run whose source differs would mix synthetic and real results, or
    delete one source's downloads to make room for another's.
    """
    stamp = Path(stamp_path)
    if not stamp.is_file():
        return None
    try:
        recorded = yaml.safe_load(stamp.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        recorded = {}
    if {k: recorded.get(k) for k in identity} == dict(identity):
        return None
    made_from = ", ".join(f"{k}={recorded.get(k)!r}" for k in identity if recorded.get(k))
    this_run = ", ".join(f"{k}={v!r}" for k, v in identity.items() if v)
    return (
        f"{stamp.parent} holds results made from another data source ({made_from or 'unknown'}; see {stamp}); "
        f"this run uses {this_run}. Choose another folder with --config output_dir=<folder> "
        "(e.g. results/real), or move that folder away first"
    )


def schema_table(schema: Mapping) -> str:
    """Every configuration key with its default and description, as a Markdown table (the body of
    config/README.md, so the documentation lives in one place: the schema)."""
    rows = ["| key | default | what it does |", "| --- | --- | --- |"]

    def walk(node: Mapping, prefix: str) -> None:
        for key, sub in (node.get("properties") or {}).items():
            path = f"{prefix}{key}"
            default = sub.get("default")
            shown = "" if isinstance(default, Mapping) and sub.get("properties") else f"`{json_text(default)}`"
            description = " ".join(str(sub.get("description", "")).split()).replace("|", "\\\\|")
            rows.append(f"| `{path}` | {shown} | {description} |")
            walk(sub, path + ".")

    walk(schema, "")
    return "\n".join(rows) + "\n"


def write_config_readme(
    readme: str | Path = "config/README.md", schema: str | Path = "workflow/schemas/config.schema.yaml"
):
    """Regenerate the key table of config/README.md from the schema (`make config-docs`); the prose
    above the table is kept."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    head = text[: text.index("| key | default |")] if "| key | default |" in text else text + "\n"
    readme.write_text(head + schema_table(load_yaml(schema)), encoding="utf-8")


def json_text(value: Any) -> str:
    """A default as it is written in YAML, on one line.

    >>> json_text({"a": [1, "x"]}), json_text(None)
    ('{a: [1, x]}', '')
    """
    if value is None:
        return ""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


def load_workflow_config(
    schema_path: str | Path,
    defaults_path: str | Path,
    *,
    module_config: Mapping | None,
    argv: list[str] | None,
    checkout: Path,
    configfiles: list[str | Path],
    command_line: Mapping,
) -> dict:
    """The workflow's checked configuration: `defaults_path` (config/config.yaml) under the command
    line's config files and --config values, or, used as a module, under the deploying workflow's
    `module_config` (the command line then belongs to that workflow). `argv` (the main process's
    command line; None in a job) has its profiles and --config values read strictly: a key given
    twice is refused, where Snakemake's own reading would keep the last one without a word. The
    --config values are merged as given, so an empty mapping replaces a default. Raises ConfigError."""
    schema = load_yaml(schema_path)
    merged = load_yaml(defaults_path)
    if module_config is not None:
        merged, command_line = deep_merge(merged, dict(module_config)), {}
    else:
        if argv is not None:
            for profile in profile_files(argv, checkout):
                load_yaml(profile)
            check_command_line_config(argv)
        for path in configfiles:
            merged = deep_merge(merged, load_yaml(path))
    checked = deep_merge(merged, merge_overrides(dict(command_line), merged, schema))
    check(checked, schema)
    return checked
