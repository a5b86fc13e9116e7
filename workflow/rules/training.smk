# Training an ultralytics detector on the YOLO export and predicting the test split.

TRAIN = config["train"]
TRAIN_DIR = out(f"train/{TRAIN['name']}")


rule train:
    input:
        dataset=rules.export_yolo.output.dataset,
        images=rules.export_yolo.output.images,
        labels=rules.export_yolo.output.labels,
        model=TRAIN["model"] if Path(TRAIN["model"]).exists() else [],  # a local .yaml/.pt: its edits rerun training
    output:
        best=f"{TRAIN_DIR}/best.pt",
        last=f"{TRAIN_DIR}/last.pt",
        results=f"{TRAIN_DIR}/results.csv",
        args=f"{TRAIN_DIR}/train_args.json",
        curves=report(f"{TRAIN_DIR}/training_curves.png", category="Training", caption="../report/training_curves.rst"),
        plots=report(
            directory(f"{TRAIN_DIR}/plots"),
            patterns=["{name}.png"],
            category="Training",
            caption="../report/ultralytics_plots.rst",
        ),
    log:
        out(f"logs/train/{TRAIN['name']}.log"),
    benchmark:
        out(f"benchmarks/train/{TRAIN['name']}.tsv")
    conda:
        "../envs/detector.yaml"
    threads: 8
    resources:
        gpu=TRAIN["gpus"],
        mem_mb=16000,
        runtime=24 * 60,
    params:
        work_dir=folder_of_best,
        model=model_argument,
        epochs=TRAIN["epochs"],
        imgsz=TRAIN["imgsz"],
        batch=TRAIN["batch"],
        device=TRAIN["device"],
        seed=TRAIN["seed"],
        workers=TRAIN["workers"],
        plots=TRAIN["plots"],
        extra=TRAIN["extra"],
        name=run_label,
    script:
        "../scripts/train.py"


rule predict:
    input:
        weights=rules.train.output.best,
        coco=rules.export_yolo.output.coco,
        images=rules.export_yolo.output.images,
    output:
        detections=out(f"detections/{TRAIN['name']}.csv"),
    log:
        out(f"logs/predict/{TRAIN['name']}.log"),
    conda:
        "../envs/detector.yaml"
    threads: 4
    resources:
        gpu=min(TRAIN["gpus"], 1),
        mem_mb=8000,
        runtime=120,
    params:
        imgsz=TRAIN["imgsz"],
        conf=TRAIN["predict_conf"],
        device=TRAIN["device"],
        settings_dir=ultralytics_settings_of,
    script:
        "../scripts/predict.py"


# Leave-one-surgeon-out: the same training and prediction once per fold (folds come from the split).


use rule train as train_fold with:
    input:
        dataset=out("folds/{fold}/yolo/dataset.yaml"),
        images=out("folds/{fold}/yolo/images"),
        labels=out("folds/{fold}/yolo/labels"),
        model=TRAIN["model"] if Path(TRAIN["model"]).exists() else [],
    output:
        best=out(f"folds/{{fold}}/train/{TRAIN['name']}/best.pt"),
        last=out(f"folds/{{fold}}/train/{TRAIN['name']}/last.pt"),
        results=out(f"folds/{{fold}}/train/{TRAIN['name']}/results.csv"),
        args=out(f"folds/{{fold}}/train/{TRAIN['name']}/train_args.json"),
        curves=out(f"folds/{{fold}}/train/{TRAIN['name']}/training_curves.png"),
        plots=directory(out(f"folds/{{fold}}/train/{TRAIN['name']}/plots")),
    log:
        out(f"logs/train/{TRAIN['name']}-{{fold}}.log"),
    benchmark:
        out(f"benchmarks/train/{TRAIN['name']}-{{fold}}.tsv")


use rule predict as predict_fold with:
    input:
        weights=out(f"folds/{{fold}}/train/{TRAIN['name']}/best.pt"),
        coco=out("folds/{fold}/yolo/coco"),
        images=out("folds/{fold}/yolo/images"),
    output:
        detections=out(f"detections/{TRAIN['name']}-{{fold}}.csv"),
    log:
        out(f"logs/predict/{TRAIN['name']}-{{fold}}.log"),


rule loso_summary:
    input:
        fold_summaries,
    output:
        report(out(f"scores/{TRAIN['name']}-loso/folds.csv"), category="Scores", caption="../report/loso.rst"),
    log:
        out(f"logs/score/{TRAIN['name']}-loso.log"),
    conda:
        "../envs/scoring.yaml"
    script:
        "../scripts/loso_summary.py"
