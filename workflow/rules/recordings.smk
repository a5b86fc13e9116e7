# New surgery recordings (`videos:`): frames sampled as the dataset's were made, the chosen detector's
# detections, and the analyses of the trials (presence, phases, performance metrics, an outcome
# estimate) on each recording. Nothing here trains: the detector's weights are inputs as they are.

VIDEO_PATTERN = Plan.pattern(PLAN.videos)


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
        weights=list(PLAN.predictor_weights().values()),
    output:
        detections=out("videos/{video}/detections.csv"),
        detector=out("videos/{video}/detector.json"),
    log:
        out("logs/videos/{video}/detections.log"),
    wildcard_constraints:
        video=VIDEO_PATTERN,
    conda:
        "../envs/detector.yaml"
    threads: 4
    resources:
        gpu=1 if PLAN.predictors else 0,
        mem_mb=8000,
        runtime=120,
    params:
        detector=config["analysis"]["detector"],
        names=list(PLAN.predictor_weights()),
        settings={
            name: {k: d.settings.get(k) for k in ("imgsz", "predict_conf", "device", "model")}
            for name, d in PLAN.predictors.items()
        },
        settings_dir=lambda wildcards: out(f"videos/{wildcards.video}/ultralytics"),
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
