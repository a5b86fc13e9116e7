# From validated annotations to a detector dataset: boxes, split by trial, statistics, YOLO/COCO.


rule boxes:
    input:
        tips=validated_path("tool_tips") if "tool_tips" in PROVIDED else [],
        published=validated_path("bbox") if "bbox" in PROVIDED else [],
    output:
        bbox=out("annotations/bbox.csv"),
        derived=out("annotations/bbox_derived.csv") if "tool_tips" in PROVIDED else [],
        comparison=out("annotations/bbox_vs_published.csv") if {"tool_tips", "bbox"} <= set(PROVIDED) else [],
    log:
        out("logs/boxes.log"),
    benchmark:
        out("benchmarks/boxes.tsv")
    conda:
        "../envs/data.yaml"
    params:
        use=PLAN.boxes_source(),
    script:
        "../scripts/boxes.py"


checkpoint split:
    input:
        bbox=rules.boxes.output.bbox,
    output:
        trials=out("split/trials.csv"),
        frames=out("split/frames.csv"),
        folds=directory(out("split/folds")),
    log:
        out("logs/split.log"),
    conda:
        "../envs/data.yaml"
    params:
        split=config["split"],
    script:
        "../scripts/split.py"


rule fold_frames:
    input:
        bbox=rules.boxes.output.bbox,
        folds=out("split/folds"),
    output:
        out("split/fold_frames/{fold}.csv"),
    log:
        out("logs/fold_frames/{fold}.log"),
    conda:
        "../envs/data.yaml"
    params:
        split=config["split"],
    script:
        "../scripts/fold_frames.py"


rule stats:
    input:
        bbox=rules.boxes.output.bbox,
        frames=rules.split.output.frames,
        trials=rules.split.output.trials,
        tips=validated_path("tool_tips") if "tool_tips" in PROVIDED else [],
        outcomes=validated_path("outcomes") if "outcomes" in PROVIDED else [],
    output:
        table1=report(out("stats/table1.csv"), category="Dataset", caption="../report/table1.rst"),
        frames_per_split=out("stats/frames_per_split.csv"),
        frames_per_trial=report(
            out("stats/frames_per_trial.csv"), category="Dataset", caption="../report/frames_per_trial.rst"
        ),
        boxes_per_trial=out("stats/boxes_per_trial.csv"),
        tips_per_label=out("stats/tips_per_label.csv"),
        box_sizes=report(out("stats/box_sizes.png"), category="Dataset", caption="../report/box_sizes.rst"),
    log:
        out("logs/stats.log"),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/stats.py"


rule export_yolo:
    input:
        frames=raw_path("frames") if "frames" in PROVIDED else [],
        bbox=rules.boxes.output.bbox,
        split=rules.split.output.frames,
    output:
        dataset=out("yolo/dataset.yaml"),
        images=directory(out("yolo/images")),
        labels=directory(out("yolo/labels")),
        coco=directory(out("yolo/coco")),
        summary=out("yolo/export_summary.json"),
    log:
        out("logs/export_yolo.log"),
    benchmark:
        out("benchmarks/export_yolo.tsv")
    conda:
        "../envs/data.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        max_side=config["export"]["max_side"],
        jpeg_quality=config["export"]["jpeg_quality"],
    script:
        "../scripts/export_yolo.py"


use rule export_yolo as export_yolo_fold with:
    input:
        frames=raw_path("frames") if "frames" in PROVIDED else [],
        bbox=rules.boxes.output.bbox,
        split=out("split/fold_frames/{fold}.csv"),
    output:
        dataset=out("folds/{fold}/yolo/dataset.yaml"),
        images=directory(out("folds/{fold}/yolo/images")),
        labels=directory(out("folds/{fold}/yolo/labels")),
        coco=directory(out("folds/{fold}/yolo/coco")),
        summary=out("folds/{fold}/yolo/export_summary.json"),
    log:
        out("logs/export_yolo/{fold}.log"),
    benchmark:
        out("benchmarks/export_yolo/{fold}.tsv")
