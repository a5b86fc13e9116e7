import pandas as pd

from sospine.dataset.boxes import compare_boxes, derive_boxes


def tips(rows):
    frame = pd.DataFrame(rows, columns=["trial_frame", "x1", "y1", "x2", "y2", "label"])
    for c in ("x1", "y1", "x2", "y2"):
        frame[c] = frame[c].astype("Float64")
    return frame


def test_paper_rule():
    t = tips(
        [
            ("S1A2_frame_00000001.jpeg", None, None, None, None, None),
            ("S1A2_frame_00000002.jpeg", 100, 200, 100, 200, "needle tip"),
            ("S1A2_frame_00000002.jpeg", 150, 180, 150, 180, "needle base"),
            ("S1A2_frame_00000002.jpeg", 500, 500, 500, 500, "grasper"),
            ("S1A2_frame_00000002.jpeg", 700, 600, 700, 600, "needle driver base"),
            ("S1A2_frame_00000002.jpeg", 650, 650, 650, 650, "needle driver tip"),
            ("S1A2_frame_00000002.jpeg", 10, 20, 10, 20, "durotomy"),
            ("S1A2_frame_00000002.jpeg", 10, 60, 10, 60, "durotomy"),
        ]
    )
    boxes = derive_boxes(t)
    assert boxes["trial_frame"].tolist() == ["S1A2_frame_00000001.jpeg"] + ["S1A2_frame_00000002.jpeg"] * 4
    got = {r.label: (r.x1, r.y1, r.x2, r.y2) for r in boxes.dropna(subset=["label"]).itertuples()}
    assert got == {
        "needle": (100, 180, 150, 200),
        "grasper": (450, 450, 550, 550),  # a single point: +-50 px
        "needle driver": (650, 600, 700, 650),
        "durotomy": (10, 20, 10, 60),  # zero width is kept, as in the published file
    }
    assert boxes["label"].dropna().tolist() == sorted(got)


def test_compare_counts_and_iou():
    a = tips(
        [
            ("S1A2_frame_00000001.jpeg", 0, 0, 10, 10, "grasper"),
            ("S1A2_frame_00000001.jpeg", 0, 0, 10, 10, "needle"),
            ("S1A2_frame_00000002.jpeg", 0, 0, 10, 10, "needle"),
        ]
    )
    b = tips(
        [
            ("S1A2_frame_00000001.jpeg", 0, 0, 10, 10, "grasper"),
            ("S1A2_frame_00000001.jpeg", 0, 0, 10, 20, "needle"),
            ("S1A2_frame_00000003.jpeg", 0, 0, 10, 10, "durotomy"),
        ]
    )
    table = compare_boxes(a, b).set_index("label")
    assert table.loc["grasper", "identical"] == 1
    assert table.loc["needle", "differing"] == 1 and table.loc["needle", "extra"] == 1
    assert table.loc["needle", "differing_iou_mean"] == 0.5
    assert table.loc["durotomy", "missing"] == 1
