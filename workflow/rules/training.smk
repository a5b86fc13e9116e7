# Training every configured ultralytics detector on the YOLO export and predicting the test split:
# one rule for all detectors (the {detector} wildcard), its settings looked up by name.


# Pretrained weights named in a model setting, downloaded once on the machine that runs Snakemake
# (compute nodes often have no internet) and verified; training declares them as input.
rule fetch_weights:
    output:
        weights=out("weights/{weights}"),
        record=out("weights/{weights}.json"),
    log:
        out("logs/weights/{weights}.log"),
    wildcard_constraints:
        weights=r"[A-Za-z0-9_.-]+\.pt",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        sha256=get_weights_sha256,  # the configured checksum, else the published one of the name
    script:
        "../scripts/fetch_weights.py"


rule train:
    input:
        dataset=rules.export_yolo.output.dataset,
        images=rules.export_yolo.output.images,
        labels=rules.export_yolo.output.labels,
        model=get_model_file,  # a local or downloaded .pt/.yaml: a new file retrains
        model_stamp=get_model_stamp,  # ... and so does new content under an old mtime
    output:
        best=out("train/{detector}/best.pt"),
        last=out("train/{detector}/last.pt"),
        results=out("train/{detector}/results.csv"),
        args=out("train/{detector}/train_args.json"),
        curves=report(
            out("train/{detector}/training_curves.png"),
            category="Training",
            subcategory="{detector}",
            caption="../report/training_curves.rst",
        ),
        plots=report(
            directory(out("train/{detector}/plots")),
            patterns=["{name}.png"],
            category="Training",
            subcategory="{detector}",
            caption="../report/ultralytics_plots.rst",
        ),
    log:
        out("logs/train/{detector}.log"),
    benchmark:
        out("benchmarks/train/{detector}.tsv")
    wildcard_constraints:
        detector=TRAINED_PATTERN,
    conda:
        "../envs/detector.yaml"
    threads: 8  # CPUs on a cluster (the Slurm plugin books threads as --cpus-per-task); dataloader workers follow
    resources:
        gpu=lambda wildcards: get_setting("gpus")(wildcards),
        mem_mb=32000,
        runtime=24 * 60,
    params:
        work_dir=get_work_dir_of_best,
        model=get_model_argument,
        epochs=get_setting("epochs"),
        imgsz=get_setting("imgsz"),
        batch=get_setting("batch"),
        device=get_setting("device"),
        gpus=get_setting("gpus"),
        seed=get_setting("seed"),
        workers=get_setting("workers"),
        plots=get_setting("plots"),
        extra=get_setting("extra"),
        sha256=get_setting("sha256"),
        name=get_run_label,
    script:
        "../scripts/train.py"


rule predict:
    input:
        weights=rules.train.output.best,
        train_args=rules.train.output.args,
        results=rules.train.output.results,
        coco=rules.export_yolo.output.coco,
        images=rules.export_yolo.output.images,
    output:
        detections=out("predictions/{detector}.csv"),
        cost=out("costs/{detector}.json"),
    log:
        out("logs/predict/{detector}.log"),
    wildcard_constraints:
        detector=TRAINED_PATTERN,
    conda:
        "../envs/detector.yaml"
    threads: 4
    resources:
        gpu=lambda wildcards: min(get_setting("gpus")(wildcards), 1),
        mem_mb=8000,
        runtime=120,
    params:
        imgsz=get_setting("imgsz"),
        conf=get_setting("predict_conf"),
        device=get_setting("device"),
        model=get_setting("model"),  # its name decides the ultralytics class (YOLO or RT-DETR)
        settings_dir=get_ultralytics_settings,
    script:
        "../scripts/predict.py"


# Weights trained elsewhere ({weights: PATH, sha256: ...}): predicted like a trained detector's, never trained.
rule predict_weights:
    input:
        weights=get_given_weights,
        stamp=get_given_weights_stamp,  # new content under an old mtime predicts again
        coco=rules.export_yolo.output.coco,
        images=rules.export_yolo.output.images,
    output:
        detections=out("predictions/{detector}.csv"),
        cost=out("costs/{detector}.json"),
    log:
        out("logs/predict/{detector}.log"),
    wildcard_constraints:
        detector=WEIGHTS_PATTERN,
    conda:
        "../envs/detector.yaml"
    threads: 4
    resources:
        gpu=lambda wildcards: min(get_setting("gpus", "weighted")(wildcards) or 0, 1),
        mem_mb=8000,
        runtime=120,
    params:
        imgsz=get_setting("imgsz", "weighted"),
        conf=get_setting("predict_conf", "weighted"),
        device=get_setting("device", "weighted"),
        model=get_setting("model", "weighted"),  # its name decides the ultralytics class (YOLO or RT-DETR)
        settings_dir=lambda wildcards: out(f"predict/{wildcards.detector}/ultralytics"),
    script:
        "../scripts/predict_weights.py"


use rule predict_weights as predict_weights_fold with:
    input:
        weights=get_given_weights,
        stamp=get_given_weights_stamp,
        coco=out("folds/{fold}/yolo/coco"),
        images=out("folds/{fold}/yolo/images"),
    output:
        detections=out("predictions/{detector}-{fold}.csv"),
        cost=out("costs/{detector}-{fold}.json"),
    log:
        out("logs/predict/{detector}-{fold}.log"),


# Leave-one-surgeon-out: the same training and prediction once per fold (folds come from the split).


use rule train as train_fold with:
    input:
        dataset=out("folds/{fold}/yolo/dataset.yaml"),
        images=out("folds/{fold}/yolo/images"),
        labels=out("folds/{fold}/yolo/labels"),
        model=get_model_file,
        model_stamp=get_model_stamp,
    output:
        best=out("folds/{fold}/train/{detector}/best.pt"),
        last=out("folds/{fold}/train/{detector}/last.pt"),
        results=out("folds/{fold}/train/{detector}/results.csv"),
        args=out("folds/{fold}/train/{detector}/train_args.json"),
        curves=out("folds/{fold}/train/{detector}/training_curves.png"),
        plots=directory(out("folds/{fold}/train/{detector}/plots")),
    log:
        out("logs/train/{detector}-{fold}.log"),
    benchmark:
        out("benchmarks/train/{detector}-{fold}.tsv")


use rule predict as predict_fold with:
    input:
        weights=out("folds/{fold}/train/{detector}/best.pt"),
        train_args=out("folds/{fold}/train/{detector}/train_args.json"),
        results=out("folds/{fold}/train/{detector}/results.csv"),
        coco=out("folds/{fold}/yolo/coco"),
        images=out("folds/{fold}/yolo/images"),
    output:
        detections=out("predictions/{detector}-{fold}.csv"),
        cost=out("costs/{detector}-{fold}.json"),
    log:
        out("logs/predict/{detector}-{fold}.log"),


rule loso_summary:
    input:
        get_fold_summaries,
    output:
        report(
            out("scores/{detector}-loso/folds.csv"),
            category="Scores",
            subcategory="{detector}",
            caption="../report/loso.rst",
        ),
    log:
        out("logs/score/{detector}-loso.log"),
    wildcard_constraints:
        detector=PRODUCED_PATTERN,
    localrule: True
    conda:
        "../envs/scoring.yaml"
    script:
        "../scripts/loso_summary.py"


# Command detectors: any framework's detector, a shell command run on the split's files (the
# placeholders of sospine.detectors.commands), its detections mapped to frame pixels here.


rule command_detector:
    input:
        dataset=rules.export_yolo.output.dataset,
        images=rules.export_yolo.output.images,
        labels=rules.export_yolo.output.labels,
        coco=rules.export_yolo.output.coco,
        script=get_command_script,  # the file the command runs: a changed script reruns it
    output:
        detections=out("predictions/{detector}.csv"),
        cost=out("costs/{detector}.json"),
    log:
        out("logs/command/{detector}.log"),
    benchmark:
        out("benchmarks/command/{detector}.tsv")
    wildcard_constraints:
        detector=COMMAND_PATTERN,
    conda:
        "../envs/detector.yaml"
    threads: get_setting("threads", "commands")
    resources:
        gpu=get_setting("gpus", "commands"),
        mem_mb=get_setting("mem_mb", "commands"),
        runtime=get_setting("timeout_min", "commands"),  # the scheduler's limit and the command's timeout
    params:
        command=get_setting("command", "commands"),
        device=get_setting("device", "commands"),
        gpus=get_setting("gpus", "commands"),
        work_dir=get_command_work_dir,
    script:
        "../scripts/command_detector.py"


use rule command_detector as command_detector_fold with:
    input:
        dataset=out("folds/{fold}/yolo/dataset.yaml"),
        images=out("folds/{fold}/yolo/images"),
        labels=out("folds/{fold}/yolo/labels"),
        coco=out("folds/{fold}/yolo/coco"),
        script=get_command_script,
    output:
        detections=out("predictions/{detector}-{fold}.csv"),
        cost=out("costs/{detector}-{fold}.json"),
    log:
        out("logs/command/{detector}-{fold}.log"),
    benchmark:
        out("benchmarks/command/{detector}-{fold}.tsv")
