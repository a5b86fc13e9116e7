import pandas as pd
import pytest

from sospine.cli import main
from sospine.validation import split_rows, validate

HEADER = "trial_frame,x1,y1,x2,y2,label"


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def issues(report, severity="error"):
    return {(r.line, r.column, r.check) for r in report[report["severity"] == severity].itertuples()}


def test_real_files_pass_with_counted_warnings(real_dir, tmp_path):
    out = tmp_path / "report.csv"
    code = main(
        [
            "validate",
            "--bbox",
            str(real_dir / "sospine_bbox.csv"),
            "--outcomes",
            str(real_dir / "sospine_outcomes.csv"),
            "--detections",
            str(real_dir / "sospine_detections_3.6_0.05.csv"),
            "--report",
            str(out),
        ]
    )
    assert code == 0
    report = pd.read_csv(out)
    assert list(report.columns) == ["file", "line", "column", "check", "value", "severity"]
    # empty frames are the format's normal "no tool here": information, so the real problems stand out
    assert set(report.loc[report["check"] == "empty_frame", "severity"]) == {"info"}
    assert (report.loc[report["check"] != "empty_frame", "severity"] == "warning").all()
    counts = report.groupby("check").size()
    assert counts["empty_frame"] == 491
    assert counts["inside_frame_height"] >= 8
    bbox = report[report["file"] == "sospine_bbox.csv"]
    assert (bbox["check"] == "inside_frame_height").sum() == 8
    zero = bbox[bbox["check"].isin(["zero_width_box", "zero_height_box"])]
    assert zero["line"].nunique() == 172


def test_every_bad_row_at_its_line_and_column(tmp_path):
    bbox = write(
        tmp_path,
        "sospine_bbox.csv",
        "\r\n".join(
            [
                HEADER,
                "S1A2_frame_00000001.jpeg,10,10,50,50,grasper",  # 2 ok
                "S1A2_frame_00000002.jpeg,1O,10,50,50,grasper",  # 3 bad number
                "S1A2_frame_00000003.jpeg,10,10,50,50,scalpel",  # 4 unknown label
                "S1A2_frame_00000004.jpeg,60,10,50,50,needle",  # 5 swapped x
                "S1A2_frame_5.jpeg,10,10,50,50,needle",  # 6 malformed frame name
                "S1A2_frame_00000007.jpeg,10,10,50",  # 7 short row
                "S1A2_frame_00000001.jpeg,11,10,50,50,grasper",  # 8 second grasper box in frame 1
                "S1A2_frame_00000009.jpeg,,,,,needle",  # 9 label without box
                "S1A2_frame_00000010.jpeg,10.5,10,50,50,durotomy",  # 10 not an integer pixel
            ]
        ),
    )
    report, files = validate({"bbox": bbox})
    errors = issues(report)
    assert (3, "x1", "number") in errors
    assert (4, "label", "isin") in errors
    assert (5, "x1", "x1<=x2") in errors
    assert (6, "trial_frame", "str_matches") in errors
    assert (7, "", "field_count") in errors
    assert (8, "label", "one_box_per_frame_and_label") in errors
    # a label without its box: the empty columns are named, not the label
    assert {(9, c, "empty_frame_row_all_empty") for c in ("x1", "y1", "x2", "y2")} <= set(errors)
    assert (9, "label", "empty_frame_row_all_empty") not in errors
    assert (10, "x1", "integer_pixels") in errors
    assert not any(line == 2 for line, *_ in errors)
    kept, quarantined = split_rows(files["bbox"])
    assert len(kept) + len(quarantined) == 9  # rows in = rows kept + rows quarantined
    assert len(kept) == 1


def test_outcomes_checks(tmp_path):
    header = (
        "\ufeffTrial ID,Length,Postgraduate year,Prior experience with MISS,Number prior cases,"
        "Time for repair,Leak At 40mmHg,Total Frames at 1 FPS"
    )
    path = write(
        tmp_path,
        "sospine_outcomes.csv",
        "\r\n".join(
            [
                header,
                "S1A1,0:10:00,2,N,< 10,300,Y,600",
                "S1A1,0:10:00,2,N,0,300,Y,600",  # 3 duplicate trial
                "S1A3,0:61:00,2,N,0,300,Y,600",  # 4 bad length
                "S1A4,0:10:00,2,N,0,300,maybe,600",  # 5 bad leak
                "Trial9,0:10:00,2,N,0,-5,N,600",  # 6 bad id, negative time
                "Clip0,0:20:40,,,,,,1240",
            ]
        ),
    )
    errors = issues(validate({"outcomes": path})[0])
    assert (3, "Trial ID", "unique") in errors
    assert (4, "Length", "str_matches") in errors
    assert (5, "Leak At 40mmHg", "isin") in errors
    assert (6, "Trial ID", "str_matches") in errors
    assert (6, "Time for repair", "greater_than_or_equal_to") in errors


@pytest.mark.parametrize(
    "content, check",
    [
        (b"", "not_empty"),
        (b"\x00\x01\x02PK\x03\x04", "text_file"),
        (b"trial_frame,x1\r\nS1A2_frame_00000001.jpeg,1\r\n", "column_present"),
        ("trial_frame,x1,y1,x2,y2,label\nS1A2_frame_00000001.jpeg,1,1,2,2,gr\xe4sper\n".encode("latin-1"), "utf8"),
    ],
)
def test_file_level_problems_are_one_row_and_exit_1(tmp_path, content, check, capsys):
    path = write(tmp_path, "sospine_bbox.csv", content)
    out = tmp_path / "r.csv"
    assert main(["validate", "--bbox", str(path), "--report", str(out)]) == 1
    report = pd.read_csv(out, keep_default_na=False)
    assert check in set(report["check"])
    assert "Traceback" not in capsys.readouterr().err


def test_detections_checks(tmp_path, real_dir):
    path = write(
        tmp_path,
        "dets.csv",
        "\n".join(
            [
                "trial_frame,frame,x1,y1,x2,y2,score,label",
                "S4A1_frame_00000010.jpg,10,1,2,30,40,0.9,grasper",
                "S4A1_frame_00000011.jpg,11,1,2,30,40,1.5,grasper",  # 3 score out of range
                "S4A1_frame_00000012.jpg,12,1,2,30,40,,grasper",  # 4 NaN score
                "S4A1_frame_00000013.jpg,13,50,2,30,40,0.5,grasper",  # 5 inverted
                "S9A9_frame_00000013.jpg,13,1,2,30,40,0.5,grasper",  # 6 trial without ground truth
                "S4A1_frame_00000014.jpg,14,1,2,30,40,0.5,forceps",  # 7 unknown label
            ]
        ),
    )
    report, _ = validate({"bbox": real_dir / "sospine_bbox.csv", "detections": path})
    errors = {e for e in issues(report) if e[0] != ""}
    assert (3, "score", "less_than_or_equal_to") in errors
    assert (4, "score", "score") in errors or any(e[0] == 4 and e[1] == "score" for e in errors)
    assert (5, "x1", "x1<=x2") in errors
    assert (6, "trial_frame", "trial_in_ground_truth") in errors
    assert (7, "label", "isin") in errors


def test_half_filled_rows_name_their_empty_columns(tmp_path):
    bbox = write(
        tmp_path,
        "sospine_bbox.csv",
        "\n".join(
            [
                HEADER,
                "S1A2_frame_00000001.jpeg,10,10,,,grasper",  # 2: y... x2 and y2 missing
                "S1A2_frame_00000002.jpeg,,,,,",  # 3: an empty frame, information only
                "S1A2_frame_00000003.jpeg,10,10,50,50,",  # 4: a box without label
                "S1A2_frame_00000004.jpeg,10,,50,50,needle",  # 5: y1 missing
            ]
        ),
    )
    report, _ = validate({"bbox": bbox})
    found = {(int(r.line), r.column, r.check, r.severity) for r in report.itertuples()}
    assert found == {
        (2, "x2", "empty_frame_row_all_empty", "error"),
        (2, "y2", "empty_frame_row_all_empty", "error"),
        (3, "label", "empty_frame", "info"),
        (4, "label", "empty_frame_row_all_empty", "error"),
        (5, "y1", "empty_frame_row_all_empty", "error"),
    }


def test_what_passes_validation_is_what_downstream_reads(tmp_path):
    """Validation strips what it checks; the kept rows must be those stripped values."""
    bbox = write(
        tmp_path,
        "sospine_bbox.csv",
        "\n".join(
            [HEADER, "S1A2_frame_00000001.jpeg,10,10,50,50,durotomy ", " S1A2_frame_00000002.jpeg , 1,2,3,4, grasper"]
        ),
    )
    outcomes = write(
        tmp_path,
        "sospine_outcomes.csv",
        "Trial ID,Length,Postgraduate year,Prior experience with MISS,Number prior cases,Time for repair,"
        "Leak At 40mmHg,Total Frames at 1 FPS\nS1A2,0:10:00,3,N,0,600, N ,600",
    )
    report, files = validate({"bbox": bbox, "outcomes": outcomes})
    assert report[report["severity"] == "error"].empty
    kept, _ = split_rows(files["bbox"])
    assert kept["label"].tolist() == ["durotomy", "grasper"]
    assert kept["trial_frame"].tolist() == ["S1A2_frame_00000001.jpeg", "S1A2_frame_00000002.jpeg"]
    assert split_rows(files["outcomes"])[0]["Leak At 40mmHg"].tolist() == ["N"]


@pytest.mark.parametrize("value", ["inf", "-inf", "1e300", "nan "])
def test_non_finite_coordinates_are_errors(tmp_path, value):
    bbox = write(tmp_path, "sospine_bbox.csv", "\n".join([HEADER, f"S1A2_frame_00000001.jpeg,10,10,{value},50,needle"]))
    report, _ = validate({"bbox": bbox})
    errors = report[report["severity"] == "error"]
    assert not errors.empty and set(errors["line"].astype(int)) == {2}, report


def test_an_over_long_field_is_one_bad_row_not_the_end_of_the_file(tmp_path):
    rows = [f"S1A2_frame_{i:08d}.jpeg,10,10,50,50,grasper" for i in range(1, 212)]
    rows[4] = "S1A2_frame_00000005.jpeg,10,10,50,50," + "x" * 200_000  # line 6
    bbox = write(tmp_path, "sospine_bbox.csv", "\n".join([HEADER, *rows]))
    report, files = validate({"bbox": bbox})
    kept, quarantined = split_rows(files["bbox"])
    assert len(kept) + len(quarantined) == 211 and len(quarantined) == 1
    assert set(report.loc[report["severity"] == "error", "line"].astype(int)) == {6}


def test_unreadable_rest_of_file_stops_even_in_quarantine_mode():
    from sospine.validation import gate_message

    report = pd.DataFrame(
        [{"file": "b.csv", "line": "7", "column": "", "check": "csv_syntax", "value": "x", "severity": "error"}]
    )
    assert "cannot be quarantined" in gate_message(report, "report.csv", "quarantine")


def test_utf16_is_named_as_such(tmp_path):
    bbox = write(tmp_path, "sospine_bbox.csv", HEADER + "\n", encoding="utf-16")
    report, _ = validate({"bbox": bbox})
    assert "UTF-16" in report["value"].iat[0]


def test_check_names_stay_the_same_whichever_file_is_validated_first(tmp_path):
    """pandera renamed an inherited named check once a sibling model had run (Boxes' `x1<=x2` was
    reported as `x_ordered` after the tool tips were validated); the models no longer share checks."""
    rows = "trial_frame,x1,y1,x2,y2,label\r\nS1A2_frame_00000001.jpeg,9,1,5,5,{}\r\n"
    (tmp_path / "tips.csv").write_text(rows.format("grasper"))
    (tmp_path / "bbox.csv").write_text(rows.format("grasper"))
    report, _ = validate({"tool_tips": tmp_path / "tips.csv", "bbox": tmp_path / "bbox.csv"})
    by_file = report[report["severity"] == "error"].groupby("file")
    assert {file: sorted(set(group["check"])) for file, group in by_file} == {
        "bbox.csv": ["x1<=x2"],
        "tips.csv": ["x1<=x2"],
    }
    assert set(report.loc[report["check"] == "x1<=x2", "column"]) == {"x1", "x2"}


def test_an_unclosed_quote_quarantines_its_row_and_never_swallows_the_rest(tmp_path):
    """A quote left open on line 7 of a long file: that row is quarantined, the other rows are kept,
    rows in = kept + quarantined, and the error is shown at line 7, its value cut short."""
    rows = [f"S1A2_frame_{i:08d}.jpeg,10,10,50,50,grasper" for i in range(1, 21_863)]
    rows[5] = 'S1A2_frame_00000006.jpeg,10,10,50,50,"grasper'  # line 7
    bbox = write(tmp_path, "sospine_bbox.csv", "\r\n".join([HEADER, *rows]))
    report, files = validate({"bbox": bbox})
    errors = report[report["severity"] == "error"]
    assert errors["line"].astype(int).tolist() == [7] and errors["check"].tolist() == ["csv_quote"]
    assert len(errors["value"].iat[0]) <= 250
    kept, quarantined = split_rows(files["bbox"])
    assert (len(kept), len(quarantined), files["bbox"].rows_in) == (21_861, 1, 21_862)
    assert quarantined["line"].tolist() == [7] and quarantined["raw"].iat[0] == rows[5]
    from sospine.validation import gate_message

    assert gate_message(report, "report.csv", "quarantine") is None  # a row-level error: quarantined
    assert "validation found 1 errors" in gate_message(report, "report.csv", "fail")


def test_a_file_without_one_row_of_its_columns_is_all_quarantined(tmp_path):
    """Every row too short or with a quote left open: nothing kept, every row quarantined with its
    text (rows in = kept + quarantined), the header's columns kept for the kept rows."""
    import warnings

    bbox = write(tmp_path, "sospine_bbox.csv", "\n".join([HEADER, "S1A2_frame_00000001.jpeg,1,2", '"x,1,2,3,4,5']))
    report, files = validate({"bbox": bbox})
    assert report["check"].tolist() == ["field_count", "csv_quote"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept, quarantined = split_rows(files["bbox"])
    assert kept.empty and list(kept.columns) == HEADER.split(",")
    assert list(quarantined.columns) == ["line", *HEADER.split(","), "raw"]
    assert quarantined["line"].tolist() == [2, 3] and quarantined["raw"].iat[1] == '"x,1,2,3,4,5'
    assert files["bbox"].rows_in == len(kept) + len(quarantined) == 2


def test_long_values_are_cut_in_the_report(tmp_path):
    bbox = write(
        tmp_path, "sospine_bbox.csv", "\n".join([HEADER, "S1A2_frame_00000001.jpeg,10,10,50,50," + "y" * 10**6])
    )
    report, _ = validate({"bbox": bbox})
    value = report.loc[report["column"] == "label", "value"].iat[0]
    assert value.endswith("(1000000 characters)") and len(value) < 250


def _bad_files(tmp_path):
    """Files of every kind breaking every rule of their schemas, some rows more than one."""
    bbox = write(
        tmp_path,
        "bbox.csv",
        "\n".join(
            [
                HEADER,
                "S1A2_frame_00000001.jpeg,10,10,5,50,grasper",
                "S1A2_frame_00000001.jpeg,10,10,5,50,grasper",
                "S1A2_frame_2.jpeg,-1,1e9,3.5,50,forceps",
                "S1A2_frame_00000003.jpeg,,,,,",
                "S1A2_frame_00000004.jpeg,1,2,,4,",
                "S1A2_frame_00000005.jpeg,4,4,4,4,needle",
                "S1A2_frame_00000001.jpeg,11,10,50,50,grasper",
            ]
        ),
    )
    outcomes = write(
        tmp_path,
        "outcomes.csv",
        "Trial ID,Length,Postgraduate year,Prior experience with MISS,Number prior cases,Time for repair,"
        "Leak At 40mmHg,Total Frames at 1 FPS\nS1A2,0:10:00,3.5,N,0,600,N,600\nS1A2,10:00,30,maybe,lots,-1,Y,\n"
        "X,,,,,,,",
    )
    tips = write(
        tmp_path,
        "tips.csv",
        "\n".join(
            [
                HEADER,
                "S1A2_frame_00000001.jpeg,10,10,5,50,grasper",
                "S1A2_frame_00000001.jpeg,10,10,5,50,grasper",
                "S1A2_frame_00000001.jpeg,2000,1200,2100,1300,needle",
                "S1A2_frame_2.jpeg,1.5,-3,1e9,4,forceps",
                "S1A2_frame_00000003.jpeg,,,,,",
                "S1A2_frame_00000004.jpeg,,2,3,4,grasper",
                "S1A2_frame_00000005.jpeg,1,9,2,3,grasper",
            ]
        ),
    )
    detections = write(
        tmp_path,
        "detections.csv",
        "\n".join(
            [
                "trial_frame,frame,x1,y1,x2,y2,score,label",
                "S1A2_frame_00000001.jpg,1,-5,-5,2000,1200,0.5,grasper",
                "S1A2_frame_00000001.jpg,2,10,10,5,5,1.5,forceps",
                "S1A2_frame_2.jpg,2.5,1e9,1,2,3,-0.1,needle",
                "S1A2_frame_00000003.jpeg,3,,1,2,3,inf,needle",
                "S1A2_frame_00000003.jpeg,3,1,1,2,3,0.2,needle",
                "S1A2_frame_00000003.jpeg,3,1,1,2,3,0.2,needle",
                ",-1,,,,,,",
            ]
        ),
    )
    return [("bbox", bbox), ("tool_tips", tips), ("detections", detections), ("outcomes", outcomes)]


def test_pandera_is_the_engine(tmp_path, real_dir, monkeypatch):
    """Every file is validated by pandera's own lazy validation, once per schema (errors, warnings,
    information), and the report's rows of the schemas' checks are pandera's failure cases, no more
    and no fewer: on bad files of every kind and on the published ones."""
    import pandera.pandas as pa

    from sospine.validation import SPECS, check_file
    from sospine.validation.reading import check_names, failure_cases, pandera_frame

    calls = []
    validate_ = pa.DataFrameSchema.validate

    def counted(self, check_obj, *args, **kwargs):
        calls.append((self.name, kwargs.get("lazy")))
        return validate_(self, check_obj, *args, **kwargs)

    monkeypatch.setattr(pa.DataFrameSchema, "validate", counted)
    files = [
        *_bad_files(tmp_path),
        ("bbox", real_dir / "sospine_bbox.csv"),
        ("detections", real_dir / "sospine_detections_3.6_0.05.csv"),
        ("outcomes", real_dir / "sospine_outcomes.csv"),
    ]
    failing = set()
    for kind, path in files:
        spec = SPECS[kind]
        calls.clear()
        checked = check_file(kind, path)
        assert calls == [(schema.name, True) for schema in spec.schemas.values()], (kind, path)
        report, frame = checked.report(), pandera_frame(checked.typed, spec)
        assert all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in spec.columns if c not in spec.numeric)
        for severity, schema in spec.schemas.items():
            names = check_names(schema)
            cases = failure_cases(schema, frame)
            assert cases["index"].notna().all()  # every failure is a row's: the typed frame fits the schema
            lines = checked.raw["line"].to_numpy()[cases["index"].astype(int)]
            expected = {(int(line), names.get(c, c)) for c, line in zip(cases["check"], lines, strict=True)}
            ours = report[(report["severity"] == severity) & report["check"].isin([*names.values(), "not_nullable"])]
            assert {(int(r.line), r.check) for r in ours.itertuples()} == expected, (kind, path, schema.name)
            # the categorical text columns are how pandera reads each distinct value once, nothing more
            plain = failure_cases(schema, checked.typed)
            assert set(zip(plain["check"], plain["index"], strict=True)) == set(
                zip(cases["check"], cases["index"], strict=True)
            )
            failing |= {(schema.name, check) for _, check in expected}
    # every schema failed somewhere, and every check of the error schemas: the comparison is not empty
    assert {name for name, _ in failing} == {s.name for spec in SPECS.values() for s in spec.schemas.values()}
    for spec in SPECS.values():
        declared = set(check_names(spec.errors).values()) - {"unique"}
        declared |= {"unique"} if any(c.unique for c in spec.errors.columns.values()) else set()
        assert declared <= {check for name, check in failing if name == spec.errors.name}, spec.errors.name


def test_without_pandera_no_rule_is_checked(tmp_path, monkeypatch):
    """No second engine: with pandera's validation made to pass everything, only what is read before
    it (numbers that are none, rows of the wrong length) is reported."""
    import pandera.pandas as pa

    monkeypatch.setattr(pa.DataFrameSchema, "validate", lambda self, check_obj, *args, **kwargs: check_obj)
    for kind, path in _bad_files(tmp_path):
        report, _ = validate({kind: path})
        assert set(report["check"]) <= {"number", "field_count"}, (kind, set(report["check"]))


def test_pandera_runs_in_every_validating_process(tmp_path, real_dir):
    """`sospine validate`, `sospine score` and the workflow's validation jobs (the same functions)
    validate with pandera: its DataFrameSchema.validate is called in the process, on every file."""
    import subprocess
    import sys

    truth, dets = real_dir / "sospine_bbox.csv", real_dir / "sospine_detections_3.6_0.05.csv"
    code = (
        "import sys, collections, pandera.pandas as pa\n"
        "calls = collections.Counter(); validate = pa.DataFrameSchema.validate\n"
        "def counted(self, *a, **k):\n"
        "    calls[self.name] += 1\n"
        "    return validate(self, *a, **k)\n"
        "pa.DataFrameSchema.validate = counted\n"
        "from sospine.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(code, sorted(calls.items()))\n"
    )
    commands = {
        "validate": ["validate", "--bbox", str(truth), "--detections", str(dets), "--report", str(tmp_path / "r.csv")],
        "score": ["score", "--truth", str(truth), "--detections", str(dets), "--out", str(tmp_path / "s")],
    }
    found = {}
    for name, command in commands.items():
        result = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, check=True)
        found[name] = result.stdout.strip().splitlines()[-1]
    # the report: errors, warnings and information of both files; scoring: whether both can be scored
    expected = "[('BoxWarnings', 1), ('Boxes', 1), ('DetectionWarnings', 1), ('Detections', 1), ('EmptyFrames', 1)]"
    assert found == {"validate": f"0 {expected}", "score": "0 [('Boxes', 1), ('Detections', 1)]"}


@pytest.mark.parametrize(
    "variable",
    ["PANDERA_VALIDATION_ENABLED=False", "PANDERA_VALIDATION_DEPTH=SCHEMA_ONLY", "PANDERA_USE_NARWHALS_BACKEND=True"],
)
def test_pandera_settings_of_the_environment_change_nothing(tmp_path, variable):
    """pandera reads its settings from the environment; validation runs as its schemas are written
    whatever they say (switched off, the schema only, another backend) and leaves them as they were."""
    import os
    import subprocess
    import sys

    if variable.startswith("PANDERA_USE_NARWHALS"):
        pytest.importorskip("narwhals")
    code = (
        "import sys, json\n"
        "from pandera.config import get_config_global\n"
        "from sospine.validation import validate\n"
        "kinds = sys.argv[1::2]; paths = sys.argv[2::2]\n"
        "report, _ = validate(dict(zip(kinds, paths)))\n"
        "print(json.dumps(report.astype(str).values.tolist()), get_config_global().use_narwhals_backend)\n"
    )
    args = [str(x) for pair in _bad_files(tmp_path) for x in pair]
    outputs = []
    for extra in ({}, dict([variable.split("=")])):
        env = {**os.environ, **extra}
        result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
        assert result.returncode == 0 and "Re-registered" not in result.stderr, result.stderr
        outputs.append(result.stdout.strip().rsplit(" ", 1))
    assert outputs[1][0] == outputs[0][0] and len(outputs[0][0]) > 1000
    assert outputs[1][1] == str(variable == "PANDERA_USE_NARWHALS_BACKEND=True")


def test_validation_warns_of_nothing(tmp_path, real_dir):
    """pandera and pandas say nothing on the way (a warning per file would bury the report's line)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report, _ = validate(
            {"bbox": real_dir / "sospine_bbox.csv", "detections": real_dir / "sospine_detections_3.6_0.05.csv"}
        )
        for kind, path in _bad_files(tmp_path):
            validate({kind: path})
    assert len(report) > 2000


def test_the_schemas_are_pandera_schemas():
    """The rules are pandera's, usable as such: `Boxes.validate(frame, lazy=True)` on plain strings."""
    import pandera.pandas as pa

    from sospine.validation import SPECS
    from sospine.validation.schemas import Boxes

    assert all(isinstance(s, pa.DataFrameSchema) for spec in SPECS.values() for s in spec.schemas.values())
    assert all(hasattr(pa.Check, name) for name in ("finite_pixel", "integer_pixels", "inside_frame_width"))
    frame = pd.DataFrame(
        {
            "trial_frame": ["S1A2_frame_00000001.jpeg"],
            "x1": [9.0],
            "y1": [1.0],
            "x2": [5.0],
            "y2": [5.0],
            "label": ["grasper"],
        }
    )
    with pytest.raises(pa.errors.SchemaErrors, match="x1<=x2"):
        Boxes.validate(frame, lazy=True)
    assert Boxes.validate(frame.assign(x1=1.0)).shape == (1, 6)


def test_pandera_is_imported_by_the_validation_modules_alone():
    """Only `sospine.validation` imports pandera (the environments without it need none of it)."""
    import re
    from pathlib import Path

    import sospine

    package = Path(sospine.__file__).parent
    importing = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"^\s*(?:import|from)\s+pandera\b", path.read_text(encoding="utf-8"), re.MULTILINE)
    }
    assert importing and all(name.startswith("validation/") for name in importing), importing


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_unquoted_files_read_as_quoted_ones_are(tmp_path, line_end):
    """A file without quotes is split at commas without the csv module (a million rows in a second);
    the same rows with one quoted field, read the slow way, give the same report and table: blank and
    whitespace lines, spaces, empty fields, short and long rows, odd numbers and repeated names."""
    rows = [
        "S1A2_frame_00000001.jpeg, 10 ,10,50,50,grasper",
        "",
        "   ",
        "S1A2_frame_00000002.jpeg,,,,,",
        "S1A2_frame_00000003.jpeg,1,2,3",
        "S1A2_frame_00000004.jpeg,1,2,3,4,needle,extra",
        "S1A2_frame_00000005.jpeg,nan,1e3,inf,4, needle ",
        "S1A2_frame_00000006.jpeg, , ,1_0,4,needle",
        *[f"S1A2_frame_{i:08d}.jpeg,1,2,30,40,nerve hook" for i in range(7, 12)],
        "S1A2_frame_00000007.jpeg,1,2,30,40,nerve hook",
        "x,1,2,3,4,grasper",
    ]
    plain = write(tmp_path, "plain.csv", line_end.join([HEADER, *rows]) + line_end)
    quoted_rows = [*rows[:-1], '"x",1,2,3,4,grasper']
    quoted = write(tmp_path, "quoted.csv", line_end.join([HEADER, *quoted_rows]) + line_end)
    reports, tables = [], []
    for path in (plain, quoted):
        report, files = validate({"bbox": path})
        reports.append(report.drop(columns="file"))
        tables.append(files["bbox"].typed)
    pd.testing.assert_frame_equal(reports[0], reports[1])
    pd.testing.assert_frame_equal(tables[0], tables[1])
    checks = set(reports[0]["check"])
    assert {"field_count", "number", "no_duplicate_rows", "str_matches"} <= checks, checks
