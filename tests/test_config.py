import pytest

from sospine.config import ConfigError, check, coerce, deep_merge, load_yaml, merge_overrides

from .conftest import ROOT

SCHEMA = load_yaml(ROOT / "workflow" / "schemas" / "config.schema.yaml")
FILE_CONFIG = load_yaml(ROOT / "config" / "config.yaml")


def test_shipped_configs_are_valid():
    check(FILE_CONFIG, SCHEMA)
    from sospine.config import deep_merge

    check(deep_merge(FILE_CONFIG, load_yaml(ROOT / "config" / "demo.yaml")), SCHEMA)


def test_nested_command_line_strings_are_parsed_and_merged():
    config = dict(FILE_CONFIG, scoring="{iou_threshold: 0.6}", train="{epochs: '7'}")
    merged = merge_overrides(config, FILE_CONFIG, SCHEMA)
    assert merged["scoring"] == {**FILE_CONFIG["scoring"], "iou_threshold": 0.6}
    assert merged["train"]["epochs"] == 7 and merged["train"]["model"] == FILE_CONFIG["train"]["model"]
    check(merged, SCHEMA)


def test_scalar_strings_coerced_by_schema_type():
    value = coerce({"split": {"seed": "5", "test_trials": "[S1A2, Clip1]"}, "train": {"device": "0"}}, SCHEMA)
    assert value["split"] == {"seed": 5, "test_trials": ["S1A2", "Clip1"]}
    assert value["train"]["device"] == "0"  # string allowed: stays a string


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"scoring": {"iou_treshold": 0.5}}, "unknown config key 'iou_treshold' under 'scoring'"),
        ({"data": {"source": "ftp"}}, "config key 'data.source': 'ftp' is not one of"),
        ({"scoring": {"iou_threshold": "high"}}, "config key 'scoring.iou_threshold'"),
        ({"bogus": 1}, "unknown config key 'bogus' at top level"),
    ],
)
def test_bad_keys_are_named(override, expected):
    from sospine.config import deep_merge

    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        check(coerce(deep_merge(FILE_CONFIG, override), SCHEMA), SCHEMA)


def test_an_output_folder_holds_one_data_source(tmp_path):
    from sospine.config import data_source_conflict

    stamp = tmp_path / "results" / "data_source.json"
    synthetic = {"source": "synthetic", "mirror_dir": ""}
    assert data_source_conflict(stamp, synthetic) is None  # a new folder
    stamp.parent.mkdir()
    stamp.write_text('{"source": "synthetic", "mirror_dir": ""}')
    assert data_source_conflict(stamp, synthetic) is None
    message = data_source_conflict(stamp, {"source": "mirror", "mirror_dir": "/data/sospine"})
    assert "source='synthetic'" in message and "mirror_dir='/data/sospine'" in message
    assert "output_dir" in message and str(stamp) in message


def test_default_records_are_one_list():
    """The DOIs live in constants; the shipped config and the schema's defaults must say the same."""
    from sospine import constants
    from sospine.config import load_yaml

    from .conftest import ROOT

    shipped = load_yaml(ROOT / "config" / "config.yaml")["data"]["figshare"]["records"]
    schema = load_yaml(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    default = schema["properties"]["data"]["properties"]["figshare"]["properties"]["records"]["default"]
    assert shipped == default == constants.FIGSHARE_RECORDS
    assert all(doi.endswith(".v1") for doi in shipped.values())  # the versions the paper cites


def test_train_extra_from_the_command_line_gets_numbers():
    from snakemake.cli import parse_config

    from sospine.config import coerce, load_yaml

    from .conftest import ROOT

    schema = load_yaml(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    given = parse_config(["train={extra: {patience: 20, mosaic: 0.5, cos_lr: true, optimizer: SGD}}"])
    assert given["train"]["extra"]["patience"] == "20"  # what Snakemake hands over
    extra = coerce(given, schema)["train"]["extra"]
    assert extra == {"patience": 20, "mosaic": 0.5, "cos_lr": True, "optimizer": "SGD"}


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"project": "x"}, "train.extra.project': set by the workflow"),
        ({"data": "x.yaml"}, "train.extra.data': set by the workflow"),
        ({"epochs": 3}, "use train.epochs instead"),
    ],
)
def test_reserved_training_keys_are_refused(extra, message):
    from sospine.config import ConfigError, check, load_yaml

    from .conftest import ROOT

    schema = load_yaml(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    config = load_yaml(ROOT / "config" / "config.yaml")
    config["train"]["extra"] = extra
    with pytest.raises(ConfigError, match=message):
        check(config, schema)
    config["train"]["extra"] = {}
    config["train"]["name"] = ".."
    with pytest.raises(ConfigError, match="train.name"):
        check(config, schema)


def test_the_schema_documents_every_key_and_config_readme_shows_it():
    from sospine import constants
    from sospine.config import schema_table

    schema = load_yaml(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    undocumented = []

    def walk(node, prefix):
        for key, sub in (node.get("properties") or {}).items():
            if "description" not in sub or "default" not in sub:
                undocumented.append(prefix + key)
            walk(sub, f"{prefix}{key}.")

    walk(schema, "")
    assert undocumented == []
    assert schema_table(schema) in (ROOT / "config" / "README.md").read_text(), "regenerate config/README.md"
    assert tuple(schema["definitions"]["tool"]["enum"]) == tuple(constants.BOX_LABELS)


@pytest.mark.parametrize(
    ("detectors", "message"),
    [
        ({"mine": {"detections": "__FILE__", "epochs": 3}}, "'detectors.mine': a detections file is scored as it is"),
        ({"mine": {"detections": "no/such.csv"}}, "'detectors.mine.detections': no/such.csv does not exist"),
        ({"big": {"model": "yolo11l.pt", "epoch": 3}}, "unknown config key 'epoch' under 'detectors.big'"),
        ({"big": {"epochs": 0}}, "'detectors.big.epochs': 0 is less than the minimum of 1"),
        ({"big": {"model": "x.txt"}}, "'detectors.big.model': 'x.txt' does not match"),
        ({"bad name": {}}, "'bad name' does not match"),
    ],
)
def test_bad_detectors_are_named(tmp_path, detectors, message):
    mine = tmp_path / "mine.csv"
    mine.write_text("trial_frame,frame,x1,y1,x2,y2,score,label\n")
    detectors = {
        k: {**v, **({"detections": str(mine)} if v.get("detections") == "__FILE__" else {})}
        for k, v in detectors.items()
    }
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(coerce(deep_merge(FILE_CONFIG, {"detectors": detectors}), SCHEMA), SCHEMA)


def test_a_detector_inherits_train_and_overrides_its_own_keys(tmp_path):
    from sospine.detectors.kinds import resolve

    config = deep_merge(FILE_CONFIG, {"detectors": {"small": {"epochs": 3}, "ours": {"detections": "x.csv"}}})
    found = resolve(config, None)
    assert found["small"].settings == {**FILE_CONFIG["train"], "epochs": 3, "name": "small"}
    assert found["ours"].kind == "file" and list(found) == ["small", "ours"]
    assert list(resolve(FILE_CONFIG, "paper.csv")) == [FILE_CONFIG["train"]["name"], "yolov4_paper"]
