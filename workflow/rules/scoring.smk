# Scoring every detector's detections on the test trials: VOC AP (the paper's), COCO mAP, PR curves.

from sospine.scoring.resources import interval_resamples, scoring_mem_mb

# Scoring's memory grows with the detections read, and far faster with bootstrap intervals: the jobs
# book by their input's size (measured figures in sospine.scoring.resources), and more on a retry.
SCORING_RESAMPLES = interval_resamples(config["split"], config["scoring"]["bootstrap"])


rule validate_detections:
    """Every detections file, once, whatever made it (a trained detector's predictions, a file someone
    made elsewhere, the paper's baseline): checked like the input files against the ground truth, and
    written as the table that scoring, the leaderboard and the analytics read. A file with an error
    stops here, naming its lines; nothing is computed from it."""
    input:
        detections=get_raw_detections,
        stamp=get_detections_stamp,  # new content under an old mtime re-plans the validation
        truth=rules.boxes.output.bbox,
        split=get_test_split,
    output:
        table=out("detections/{detector}.csv"),
        report=out("validation/detections/{detector}.csv"),
    log:
        out("logs/validate_detections/{detector}.log"),
    conda:
        "../envs/data.yaml"
    params:
        kind=get_detector_kind,
    script:
        "../scripts/validate_detections.py"


# A detections detector given as one file per leave-one-surgeon-out fold: each fold's file, validated
# on its own (its errors name its lines), on that fold's test trials, joined into the detector's table.
rule out_of_fold_detections:
    input:
        folds=lambda wildcards: list(PLAN.fold_files(wildcards.detector, loso_folds()).values()),
        split=rules.split.output.trials,
    output:
        out("inputs/out_of_fold/{detector}.csv"),
    log:
        out("logs/out_of_fold_detections/{detector}.log"),
    conda:
        "../envs/data.yaml"
    params:
        folds=lambda wildcards: list(PLAN.fold_files(wildcards.detector, loso_folds())),
    script:
        "../scripts/out_of_fold_detections.py"


rule score:
    input:
        truth=rules.boxes.output.bbox,
        detections=rules.validate_detections.output.table,
        split=get_test_split,
    output:
        table=report(
            out("scores/{detector}/ap_per_class.csv"),
            category="Scores",
            subcategory="{detector}",
            caption="../report/ap_per_class.rst",
        ),
        per_trial=out("scores/{detector}/per_trial_ap.csv"),
        curves=out("scores/{detector}/pr_curves.csv"),
        figure=report(
            out("scores/{detector}/pr_curves.png"),
            category="Scores",
            subcategory="{detector}",
            caption="../report/pr_curves.rst",
        ),
        summary=out("scores/{detector}/summary.json"),
    log:
        out("logs/score/{detector}.log"),
    benchmark:
        out("benchmarks/score/{detector}.tsv")
    conda:
        "../envs/scoring.yaml"
    resources:
        mem_mb=lambda wildcards, input, attempt: scoring_mem_mb(input.size_mb, attempt, SCORING_RESAMPLES),
        runtime=60,
    params:
        kind=get_detector_kind,
        iou=config["scoring"]["iou_threshold"],
        bootstrap=config["scoring"]["bootstrap"],
        seed=config["split"]["seed"],
    script:
        "../scripts/score.py"


rule leaderboard:
    """Every detector on the test trials they share, with paired bootstrap differences from the reference."""
    input:
        truth=rules.boxes.output.bbox,
        split=rules.split.output.trials,
        detections=get_leaderboard_detections,
        costs=PLAN.cost_files(),
    output:
        board=report(out("leaderboard/leaderboard.csv"), category="Leaderboard", caption="../report/leaderboard.rst"),
        paired=report(out("leaderboard/paired.csv"), category="Leaderboard", caption="../report/paired.rst"),
        figure=report(
            out("leaderboard/leaderboard.png"), category="Leaderboard", caption="../report/leaderboard_figure.rst"
        ),
        cost_figure=report(
            out("leaderboard/accuracy_cost.png"), category="Leaderboard", caption="../report/accuracy_cost.rst"
        ),
    log:
        out("logs/leaderboard.log"),
    benchmark:
        out("benchmarks/leaderboard.tsv")
    conda:
        "../envs/scoring.yaml"
    resources:
        mem_mb=lambda wildcards, input, attempt: scoring_mem_mb(input.size_mb, attempt, SCORING_RESAMPLES),
        runtime=60,
    params:
        files_per_detector=get_files_per_detector,  # how input.detections divides into detectors, in order
        cost_of=list(PLAN.produced),  # whose input.costs these are, in order
        kinds=DETECTOR_KINDS,
        models=PLAN.descriptions(),
        validation=config["split"]["validation"],
        loso=PLAN.loso,
        out_of_fold=PLAN.out_of_fold,
        reference=config["leaderboard"]["reference"],
        baseline=PLAN.baseline,
        iou=config["scoring"]["iou_threshold"],
        bootstrap=config["scoring"]["bootstrap"],
        seed=config["split"]["seed"],
    script:
        "../scripts/leaderboard.py"
