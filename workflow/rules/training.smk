# Training an ultralytics detector on the YOLO export and predicting the test split.

TRAINING = True
TRAIN = config["train"]
TRAIN_DIR = f"results/train/{TRAIN['name']}"


rule train:
    input:
        dataset="results/yolo/dataset.yaml",
        images="results/yolo/images",
        labels="results/yolo/labels",
        model=TRAIN["model"] if Path(TRAIN["model"]).exists() else [],  # a local .yaml/.pt: its edits rerun training
    output:
        best=f"{TRAIN_DIR}/best.pt",
        last=f"{TRAIN_DIR}/last.pt",
        results=f"{TRAIN_DIR}/results.csv",
        args=f"{TRAIN_DIR}/train_args.json",
        curves=report(f"{TRAIN_DIR}/training_curves.png", category="Training", caption="../report/training_curves.rst"),
    log:
        f"results/logs/train/{TRAIN['name']}.log",
    benchmark:
        f"results/benchmarks/train/{TRAIN['name']}.tsv"
    conda:
        "../envs/detector.yaml"
    threads: 8
    resources:
        gpu=TRAIN["gpus"],
        mem_mb=16000,
        runtime=24 * 60,
    params:
        work_dir=lambda wildcards, output: os.path.dirname(output.best),
        model=model_argument,
        epochs=TRAIN["epochs"],
        imgsz=TRAIN["imgsz"],
        batch=TRAIN["batch"],
        device=TRAIN["device"],
        seed=TRAIN["seed"],
        workers=TRAIN["workers"],
        extra=TRAIN["extra"],
    script:
        "../scripts/train.py"


rule predict:
    input:
        weights=f"{TRAIN_DIR}/best.pt",
        coco="results/yolo/coco",
        images="results/yolo/images",
    output:
        detections=f"results/detections/{TRAIN['name']}.csv",
    log:
        f"results/logs/predict/{TRAIN['name']}.log",
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
        settings_dir=lambda wildcards, input: os.path.join(os.path.dirname(input.weights), "ultralytics"),
    script:
        "../scripts/predict.py"


# Leave-one-surgeon-out: the same training and prediction once per fold (folds come from the split).


use rule train as train_fold with:
    input:
        dataset="results/folds/{fold}/yolo/dataset.yaml",
        images="results/folds/{fold}/yolo/images",
        labels="results/folds/{fold}/yolo/labels",
        model=TRAIN["model"] if Path(TRAIN["model"]).exists() else [],
    output:
        best=f"results/folds/{{fold}}/train/{TRAIN['name']}/best.pt",
        last=f"results/folds/{{fold}}/train/{TRAIN['name']}/last.pt",
        results=f"results/folds/{{fold}}/train/{TRAIN['name']}/results.csv",
        args=f"results/folds/{{fold}}/train/{TRAIN['name']}/train_args.json",
        curves=f"results/folds/{{fold}}/train/{TRAIN['name']}/training_curves.png",
    log:
        f"results/logs/train/{TRAIN['name']}-{{fold}}.log",
    benchmark:
        f"results/benchmarks/train/{TRAIN['name']}-{{fold}}.tsv"


use rule predict as predict_fold with:
    input:
        weights=f"results/folds/{{fold}}/train/{TRAIN['name']}/best.pt",
        coco="results/folds/{fold}/yolo/coco",
        images="results/folds/{fold}/yolo/images",
    output:
        detections=f"results/detections/{TRAIN['name']}-{{fold}}.csv",
    log:
        f"results/logs/predict/{TRAIN['name']}-{{fold}}.log",


rule loso_summary:
    input:
        lambda wildcards: [f"results/scores/{TRAIN['name']}-{fold}/summary.json" for fold in loso_folds()],
    output:
        report(f"results/scores/{TRAIN['name']}-loso/folds.csv", category="Scores", caption="../report/loso.rst"),
    log:
        f"results/logs/score/{TRAIN['name']}-loso.log",
    conda:
        "../envs/scoring.yaml"
    script:
        "../scripts/loso_summary.py"
