# Scoring every detector's detections on the test trials: VOC AP (the paper's), COCO mAP, PR curves.


rule score:
    input:
        truth=rules.boxes.output.bbox,
        detections=detections_of,
        split=test_split_of,
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
    params:
        iou=config["scoring"]["iou_threshold"],
        bootstrap=config["scoring"]["bootstrap"],
        seed=config["split"]["seed"],
    script:
        "../scripts/score.py"
