# Tool-presence timelines, phases and outcome analyses, from ground truth and from every detector.

ANALYTICS = config["analytics"]


rule presence:
    input:
        bbox=rules.boxes.output.bbox,
        split=rules.split.output.trials,
        detections=list(PLAN.detection_tables().values()),
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
        detectors=list(PLAN.detection_tables()),
        kinds=DETECTOR_KINDS,
        iou=config["scoring"]["iou_threshold"],
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


rule tool_patterns:
    """Each frame's tool-combination state (empty, or one of the 31 sets of the five tools), each trial's share
    of time in every state and the entropy of the states, and each tool's share of its frames in each tenth of
    the trial: from presence before smoothing, for the annotations and every detector."""
    input:
        bbox=rules.boxes.output.bbox,
        split=rules.split.output.trials,
        detections=list(PLAN.detection_tables().values()),
        thresholds=rules.presence.output.thresholds,
    output:
        patterns=report(out("outcomes/tool_patterns.csv"), category="Outcomes", caption="../report/tool_patterns.rst"),
        entropy=report(
            out("outcomes/pattern_entropy.csv"), category="Outcomes", caption="../report/pattern_entropy.rst"
        ),
        profile=report(out("outcomes/tool_profile.csv"), category="Outcomes", caption="../report/tool_profile.rst"),
        states=report(
            directory(out("outcomes/tool_states")),
            patterns=["{name}.png"],
            category="Outcomes",
            caption="../report/tool_states.rst",
        ),
        profile_figure=report(
            out("outcomes/tool_profile.png"), category="Outcomes", caption="../report/tool_profile_figure.rst"
        ),
    log:
        out("logs/tool_patterns.log"),
    conda:
        "../envs/data.yaml"
    params:
        detectors=list(PLAN.detection_tables()),
    script:
        "../scripts/tool_patterns.py"


rule outcomes:
    input:
        outcomes=validated_path("outcomes"),
        presence=rules.presence.output.presence,
        segments=rules.phases.output.segments,
        patterns=rules.tool_patterns.output.patterns,
        entropy=rules.tool_patterns.output.entropy,
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


rule presence_ap:
    """Every detector as a tool-presence detector: per tool, AP over the test frames (the frame's highest
    score of the tool against whether it is annotated there), with paired tests as on the leaderboard."""
    input:
        bbox=rules.boxes.output.bbox,
        split=rules.split.output.trials,
        detections=get_leaderboard_detections,
    output:
        table=report(out("presence/presence_ap.csv"), category="Presence", caption="../report/presence_ap.rst"),
        paired=report(out("presence/paired.csv"), category="Presence", caption="../report/presence_paired.rst"),
        figure=report(out("presence/presence_ap.png"), category="Presence", caption="../report/presence_ap_figure.rst"),
    log:
        out("logs/presence_ap.log"),
    conda:
        "../envs/data.yaml"
    params:
        files_per_detector=get_files_per_detector,
        kinds=DETECTOR_KINDS,
        reference=config["leaderboard"]["reference"],
        baseline=PLAN.baseline,
        loso=PLAN.loso,
        out_of_fold=PLAN.out_of_fold,
        bootstrap=config["scoring"]["bootstrap"],
        seed=config["split"]["seed"],
    script:
        "../scripts/presence_ap.py"


rule outcome_models:
    """Whether a detector's performance metrics agree with the annotator's (Lin's CCC, Bland-Altman), and
    whether the metrics predict the outcome for an unseen surgeon (leave-one-surgeon-out models)."""
    input:
        outcomes=validated_path("outcomes") if "outcomes" in PROVIDED else [],
        presence=rules.presence.output.presence,
        segments=rules.phases.output.segments,
        patterns=rules.tool_patterns.output.patterns,
        entropy=rules.tool_patterns.output.entropy,
    output:
        agreement=report(out("outcomes/apm_agreement.csv"), category="Outcomes", caption="../report/apm_agreement.rst"),
        agreement_figures=report(
            directory(out("outcomes/agreement")),
            patterns=["{name}.png"],
            category="Outcomes",
            caption="../report/apm_agreement_figure.rst",
        ),
        prediction=report(out("outcomes/prediction.csv"), category="Outcomes", caption="../report/prediction.rst"),
        prediction_figure=report(
            out("outcomes/prediction.png"), category="Outcomes", caption="../report/prediction_figure.rst"
        ),
    log:
        out("logs/outcome_models.log"),
    conda:
        "../envs/data.yaml"
    params:
        phases=list(ANALYTICS["phases"]),
        permutations=ANALYTICS["outcome_permutations"],
        seed=config["split"]["seed"],
    script:
        "../scripts/outcome_models.py"
