# From validated annotations to a detector dataset: boxes, split by trial, statistics, YOLO/COCO.


rule boxes:
    input:
        tips=clean("tool_tips") if "tool_tips" in PROVIDED else [],
        published=clean("bbox") if "bbox" in PROVIDED else [],
    output:
        bbox="results/annotations/bbox.csv",
        derived="results/annotations/bbox_derived.csv" if "tool_tips" in PROVIDED else [],
        comparison="results/annotations/bbox_vs_published.csv" if {"tool_tips", "bbox"} <= set(PROVIDED) else [],
    log:
        str(LOGS / "boxes.log"),
    benchmark:
        str(RESULTS / "benchmarks" / "boxes.tsv")
    conda:
        "../envs/data.yaml"
    params:
        use=boxes_source(),
    script:
        "../scripts/boxes.py"


checkpoint split:
    input:
        bbox="results/annotations/bbox.csv",
    output:
        trials="results/split/trials.csv",
        frames="results/split/frames.csv",
        folds=directory("results/split/folds"),
    log:
        str(LOGS / "split.log"),
    conda:
        "../envs/data.yaml"
    params:
        split=config["split"],
    script:
        "../scripts/split.py"


rule fold_frames:
    input:
        bbox="results/annotations/bbox.csv",
        folds="results/split/folds",
    output:
        "results/split/fold_frames/{fold}.csv",
    log:
        str(LOGS / "fold_frames" / "{fold}.log"),
    conda:
        "../envs/data.yaml"
    params:
        split=config["split"],
    script:
        "../scripts/fold_frames.py"


rule stats:
    input:
        bbox="results/annotations/bbox.csv",
        frames="results/split/frames.csv",
        tips=clean("tool_tips") if "tool_tips" in PROVIDED else [],
        outcomes=clean("outcomes") if "outcomes" in PROVIDED else [],
    output:
        table1=report("results/stats/table1.csv", category="Dataset", caption="../report/table1.rst"),
        frames_per_split="results/stats/frames_per_split.csv",
        frames_per_trial=report(
            "results/stats/frames_per_trial.csv", category="Dataset", caption="../report/frames_per_trial.rst"
        ),
        boxes_per_trial="results/stats/boxes_per_trial.csv",
        tips_per_label="results/stats/tips_per_label.csv",
        box_sizes=report("results/stats/box_sizes.png", category="Dataset", caption="../report/box_sizes.rst"),
    log:
        str(LOGS / "stats.log"),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/stats.py"


rule export_yolo:
    input:
        frames=raw("frames") if "frames" in PROVIDED else [],
        bbox="results/annotations/bbox.csv",
        split="results/split/frames.csv",
    output:
        dataset="results/yolo/dataset.yaml",
        images=directory("results/yolo/images"),
        labels=directory("results/yolo/labels"),
        coco=directory("results/yolo/coco"),
        summary="results/yolo/export_summary.json",
    log:
        str(LOGS / "export_yolo.log"),
    benchmark:
        str(RESULTS / "benchmarks" / "export_yolo.tsv")
    conda:
        "../envs/data.yaml"
    threads: 4
    params:
        max_side=config["export"]["max_side"],
        jpeg_quality=config["export"]["jpeg_quality"],
    script:
        "../scripts/export_yolo.py"


use rule export_yolo as export_yolo_fold with:
    input:
        frames=raw("frames") if "frames" in PROVIDED else [],
        bbox="results/annotations/bbox.csv",
        split="results/split/fold_frames/{fold}.csv",
    output:
        dataset="results/folds/{fold}/yolo/dataset.yaml",
        images=directory("results/folds/{fold}/yolo/images"),
        labels=directory("results/folds/{fold}/yolo/labels"),
        coco=directory("results/folds/{fold}/yolo/coco"),
        summary="results/folds/{fold}/yolo/export_summary.json",
    log:
        str(LOGS / "export_yolo" / "{fold}.log"),
    benchmark:
        str(RESULTS / "benchmarks" / "export_yolo" / "{fold}.tsv")
