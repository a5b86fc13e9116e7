# Getting the published files into <output_dir>/raw/ (one of three sources), then validating them.


localrules:
    data_source,


rule data_source:
    """Records which data source this output folder's results are made from."""
    output:
        DATA_SOURCE_STAMP,
    log:
        str(LOGS / "data_source.log"),
    params:
        identity=DATA_SOURCE,
    run:
        import json

        Path(output[0]).write_text(json.dumps(params.identity, indent=2) + "\n")


RAW_OUTPUTS = [raw(kind) for kind in PROVIDED]
MANIFEST = str(RAW / "fetch_manifest.json")

if SOURCE == "synthetic":

    rule synthesize:
        output:
            RAW_OUTPUTS,
            phases=str(RAW / "phases.csv"),
            manifest=MANIFEST,
        log:
            str(LOGS / "synthesize.log"),
        benchmark:
            str(RESULTS / "benchmarks" / "synthesize.tsv")
        conda:
            "../envs/data.yaml"
        params:
            spec=config["data"]["synthetic"],
        script:
            "../scripts/synthesize.py"

elif SOURCE == "figshare":

    rule fetch_figshare:
        output:
            RAW_OUTPUTS,
            manifest=MANIFEST,
        log:
            str(LOGS / "fetch_figshare.log"),
        conda:
            "../envs/data.yaml"
        params:
            api_url=config["data"]["figshare"]["api_url"],
            records=config["data"]["figshare"]["records"],
            retries=config["data"]["figshare"]["retries"],
            timeout_s=config["data"]["figshare"]["timeout_s"],
        script:
            "../scripts/fetch.py"

else:

    rule mirror:
        input:
            [str(mirror_dir() / name) for name in PROVIDED.values()],
        output:
            RAW_OUTPUTS,
            manifest=MANIFEST,
        log:
            str(LOGS / "mirror.log"),
        conda:
            "../envs/data.yaml"
        params:
            mirror_dir=str(mirror_dir()),
            names=list(PROVIDED.values()),
        script:
            "../scripts/mirror.py"


rule validate:
    input:
        unpack(validation_inputs),
        stamp=DATA_SOURCE_STAMP,
    output:
        report=out("validation/report.csv"),
        summary=report(out("validation/summary.csv"), category="Validation", caption="../report/validation_summary.rst"),
        kept=[str(RESULTS / "validation" / "kept" / DATA_FILES[k]) for k in validated_kinds()],
        quarantine=directory(out("validation/quarantine")),
    log:
        str(LOGS / "validate.log"),
    benchmark:
        str(RESULTS / "benchmarks" / "validate.tsv")
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/validate.py"


rule validation_gate:
    input:
        report=out("validation/report.csv"),
        kept=[str(RESULTS / "validation" / "kept" / DATA_FILES[k]) for k in validated_kinds()],
    output:
        clean=[clean(k) for k in validated_kinds()],
    log:
        str(LOGS / "validation_gate.log"),
    conda:
        "../envs/data.yaml"
    params:
        on_error=config["validation"]["on_error"],
    script:
        "../scripts/validation_gate.py"
