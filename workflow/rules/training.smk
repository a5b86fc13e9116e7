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
    params:
        work_dir=lambda wildcards, output: os.path.dirname(output.best),
        model=TRAIN["model"],
        epochs=TRAIN["epochs"],
        imgsz=TRAIN["imgsz"],
        batch=TRAIN["batch"],
        device=TRAIN["device"],
        seed=TRAIN["seed"],
        workers=TRAIN["workers"],
        extra=TRAIN["extra"],
    threads: 8
    resources:
        gpu=TRAIN["gpus"],
        mem_mb=16000,
        runtime=24 * 60,
    log:
        f"results/logs/train/{TRAIN['name']}.log",
    benchmark:
        f"results/benchmarks/train/{TRAIN['name']}.tsv"
    conda:
        "../envs/detector.yaml"
    script:
        "../scripts/train.py"


rule predict:
    input:
        weights=f"{TRAIN_DIR}/best.pt",
        coco="results/yolo/coco",
        images="results/yolo/images",
    output:
        detections=f"results/detections/{TRAIN['name']}.csv",
    params:
        imgsz=TRAIN["imgsz"],
        conf=TRAIN["predict_conf"],
        device=TRAIN["device"],
        settings_dir=lambda wildcards, input: os.path.join(os.path.dirname(input.weights), "ultralytics"),
    threads: 4
    resources:
        gpu=min(TRAIN["gpus"], 1),
        mem_mb=8000,
        runtime=120,
    log:
        f"results/logs/predict/{TRAIN['name']}.log",
    conda:
        "../envs/detector.yaml"
    script:
        "../scripts/predict.py"
