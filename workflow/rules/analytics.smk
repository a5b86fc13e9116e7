# Tool-presence timelines, phases and outcome analyses, from ground truth and from every detector.

ANALYTICS = config["analytics"]


rule presence:
    input:
        bbox=rules.boxes.output.bbox,
        split=rules.split.output.trials,
        detections=detector_detections,
        scores=detector_scores,
    output:
        presence=report(out("timelines/presence.csv"), category="Timelines", caption="../report/presence.rst"),
        metrics=report(
            out("timelines/presence_metrics.csv"), category="Timelines", caption="../report/presence_metrics.rst"
        ),
        thresholds=out("timelines/thresholds.csv"),
        figures=directory(out("timelines/figures")),
        grid=report(out("timelines/test_trials.png"), category="Timelines", caption="../report/timeline_grid.rst"),
    log:
        out("logs/presence.log"),
    conda:
        "../envs/data.yaml"
    params:
        detectors=detector_names,
        threshold=ANALYTICS["presence_threshold"],
        min_gap=ANALYTICS["min_gap_frames"],
        min_run=ANALYTICS["min_run_frames"],
    script:
        "../scripts/presence.py"


rule phases:
    input:
        presence=rules.presence.output.presence,
        truth=out("raw/phases.csv") if SOURCE == "synthetic" else [],
    output:
        segments=out("phases/segments.csv"),
        table=report(out("phases/phase_table.csv"), category="Phases", caption="../report/phase_table.rst"),
        agreement=report(out("phases/agreement.csv"), category="Phases", caption="../report/phase_agreement.rst"),
        vs_script=out("phases/vs_scripted_phases.csv") if SOURCE == "synthetic" else [],
    log:
        out("logs/phases.log"),
    conda:
        "../envs/data.yaml"
    params:
        phases=ANALYTICS["phases"],
    script:
        "../scripts/phases.py"


rule outcomes:
    input:
        outcomes=validated_path("outcomes"),
        presence=rules.presence.output.presence,
        segments=rules.phases.output.segments,
    output:
        by_attempt=report(out("outcomes/by_attempt.csv"), category="Outcomes", caption="../report/by_attempt.rst"),
        per_trial=out("outcomes/per_trial_metrics.csv"),
        by_outcome=report(out("outcomes/by_outcome.csv"), category="Outcomes", caption="../report/by_outcome.rst"),
        figure=report(out("outcomes/learning_curve.png"), category="Outcomes", caption="../report/learning_curve.rst"),
    log:
        out("logs/outcomes.log"),
    conda:
        "../envs/data.yaml"
    params:
        phases=list(ANALYTICS["phases"]),
    script:
        "../scripts/outcomes.py"
