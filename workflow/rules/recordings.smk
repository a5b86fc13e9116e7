# New surgery recordings (`videos:`): frames sampled as the dataset's were made, the chosen detector's
# detections, and the analyses of the trials (presence, phases, performance metrics, an outcome
# estimate) on each recording. Nothing here trains: the detector's weights, or a command detector's
# finished run on the main split (whose model its prediction command reads), are inputs as they are.

from sospine.detectors.kinds import prediction_booking

VIDEO_PATTERN = Plan.pattern(PLAN.videos)
# what predicting a recording books: the named detector's needs, else the most of any that could be chosen
RECORDING_BOOKING = prediction_booking(
    [PLAN.predictors[PLAN.analysis_detector()]] if PLAN.analysis_detector() else PLAN.predictors.values()
)

# the files the prediction commands run, as input: a changed script predicts the recordings again
PREDICTION_SCRIPTS = [checked_file(d.settings["predict"]) for d in PLAN.predictors.values() if d.kind == "command"]


if SOURCE == "synthetic":

    # A trial of the synthetic data as a recording (each 1-fps frame held one second at 30 fps,
    # H.264), for the demo and the tests to analyse as a new surgery's.
    rule synthetic_recording:
        input:
            frames=raw_path("frames"),
        output:
            out("recordings/{trial}.mp4"),
        log:
            out("logs/recordings/{trial}.log"),
        wildcard_constraints:
            trial=r"(?:S\d+A\d+|Clip\d+)",
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/synthetic_recording.py"


rule recording_frames:
    input:
        video=get_video,
        stamp=get_video_stamp,  # new content under an old mtime samples it again
    output:
        frames=directory(out("videos/{video}/frames")),
        sampling=out("videos/{video}/sampling.json"),
    log:
        out("logs/videos/{video}/frames.log"),
    benchmark:
        out("benchmarks/videos/{video}/frames.tsv")
    wildcard_constraints:
        video=VIDEO_PATTERN,
    conda:
        "../envs/data.yaml"
    threads: 2
    params:
        fps=1,
    script:
        "../scripts/recording_frames.py"


rule recording_detections:
    input:
        frames=rules.recording_frames.output.frames,
        board=out("leaderboard/leaderboard.csv"),  # for `auto`: the best detector that can predict new images
        weights=list(PLAN.predictor_weights().values()),  # a command detector's: its finished run's cost.json
        scripts=[external(path) for path in dict.fromkeys(PREDICTION_SCRIPTS) if path],
    output:
        detections=out("videos/{video}/detections.csv"),
        detector=out("videos/{video}/detector.json"),
    log:
        out("logs/videos/{video}/detections.log"),
    wildcard_constraints:
        video=VIDEO_PATTERN,
    conda:
        "../envs/detector.yaml"
    threads: RECORDING_BOOKING["threads"]
    resources:
        gpu=RECORDING_BOOKING["gpu"],
        mem_mb=RECORDING_BOOKING["mem_mb"],
        runtime=RECORDING_BOOKING["runtime"],  # a prediction command is stopped after it
    params:
        detector=config["analysis"]["detector"],
        names=list(PLAN.predictor_weights()),
        kinds={name: d.kind for name, d in PLAN.predictors.items()},
        settings={
            name: {k: d.settings.get(k) for k in ("imgsz", "predict_conf", "device", "model")}
            for name, d in PLAN.predictors.items()
        },
        # command detectors: the prediction command, run with the model the main split's run left in work_dir
        commands={
            name: {
                "predict": d.settings["predict"],
                "device": d.settings.get("device"),
                "gpus": min(d.settings.get("gpus", 1), 1),
                "work_dir": PLAN.command_work_dir(name),
            }
            for name, d in PLAN.predictors.items()
            if d.kind == "command"
        },
        settings_dir=lambda wildcards: out(f"videos/{wildcards.video}/ultralytics"),
        predict_dir=lambda wildcards: out(f"videos/{wildcards.video}/predict"),
    script:
        "../scripts/recording_detections.py"


rule recording_analysis:
    input:
        detections=rules.recording_detections.output.detections,
        detector=rules.recording_detections.output.detector,
        sampling=rules.recording_frames.output.sampling,
        thresholds=rules.presence.output.thresholds,
        presence=rules.presence.output.presence,
        segments=rules.phases.output.segments,
        outcomes=validated_path("outcomes") if "outcomes" in PROVIDED else [],
        prediction=out("outcomes/prediction.csv") if "outcomes" in PROVIDED else [],
    output:
        presence=report(
            out("videos/{video}/presence.csv"),
            category="Recordings",
            subcategory="{video}",
            caption="../report/recording_presence.rst",
        ),
        segments=out("videos/{video}/segments.csv"),
        apms=report(
            out("videos/{video}/apms.csv"),
            category="Recordings",
            subcategory="{video}",
            caption="../report/recording_apms.rst",
        ),
        outcome=report(
            out("videos/{video}/outcome.json"),
            category="Recordings",
            subcategory="{video}",
            caption="../report/recording_outcome.rst",
        ),
        timeline=report(
            out("videos/{video}/timeline.png"),
            category="Recordings",
            subcategory="{video}",
            caption="../report/recording_timeline.rst",
        ),
    log:
        out("logs/videos/{video}/analysis.log"),
    wildcard_constraints:
        video=VIDEO_PATTERN,
    conda:
        "../envs/data.yaml"
    params:
        phases=ANALYTICS["phases"],
        min_gap=ANALYTICS["min_gap_frames"],
        min_run=ANALYTICS["min_run_frames"],
    script:
        "../scripts/recording_analysis.py"
