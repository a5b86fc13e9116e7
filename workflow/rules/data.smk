# Getting the published files into <output_dir>/raw/ (one of three sources), then validating them.


# Never submitted to a cluster (`localrule: True`, which a module import keeps): downloads (compute
# nodes often have no internet) and rules that only move a few bytes, which would otherwise each wait
# in the scheduler's queue.


# Records which data source this output folder's results are made from.
rule data_source:
    output:
        DATA_SOURCE_STAMP,
    log:
        out("logs/data_source.log"),
    localrule: True
    params:
        identity=DATA_SOURCE,
    run:
        import json

        Path(output[0]).write_text(json.dumps(params.identity, indent=2) + "\n")


RAW_OUTPUTS = [raw_path(kind) for kind in PROVIDED]  # synthetic and mirror: one job for all files
MANIFEST = out("raw/fetch_manifest.json")

if SOURCE == "synthetic":

    rule synthesize:
        output:
            RAW_OUTPUTS,
            phases=out("raw/phases.csv"),
            detections=out(f"raw/{constants.PAPER_DETECTIONS_CSV}"),
            manifest=MANIFEST,
        log:
            out("logs/synthesize.log"),
        benchmark:
            out("benchmarks/synthesize.tsv")
        conda:
            "../envs/data.yaml"
        params:
            spec=config["data"]["synthetic"],
        script:
            "../scripts/synthesize.py"

elif SOURCE == "figshare":
    # One job per record, so that a target needing only the CSVs never downloads frames.zip, and a
    # new record adds a job without touching the others. Only the DOI is a param: the network
    # settings (api_url, timeout_s, retries) are read from the config by the script, so changing
    # them reruns nothing; verified bytes live in <output_dir>/downloads/, which no job declares.
    FIGSHARE = config["data"]["figshare"]

    for _record, _doi in FIGSHARE["records"].items():

        rule:
            name:
                f"fetch_{_record}"
            output:
                files=raw_path(_record) if _record in DATA_FILES else directory(out(f"raw/records/{_record}")),
                manifest=out(f"raw/records/{_record}.json"),
            log:
                out(f"logs/fetch/{_record}.log"),
            localrule: True
            conda:
                "../envs/data.yaml"
            params:
                record=_record,
                doi=_doi,
                wanted=DATA_FILES.get(_record),
                cache_dir=out(f"downloads/{_record}"),
            script:
                "../scripts/fetch.py"

    rule fetch_manifest:
        input:
            [out(f"raw/records/{record}.json") for record in FIGSHARE["records"]],
        output:
            manifest=MANIFEST,
        log:
            out("logs/fetch_manifest.log"),
        localrule: True
        run:
            from sospine.data.fetch import merge_manifests

            merge_manifests(list(input), output.manifest)

else:

    rule mirror:
        input:
            files=[external(PLAN.mirror_dir / name) for name in PROVIDED.values()],
            # new content under an old mtime (cp -p, rsync -t) re-plans the copy and what follows
            stamps=[stamp_of(PLAN.mirror_dir / name) for name in PROVIDED.values()],
        output:
            RAW_OUTPUTS,
            manifest=MANIFEST,
        log:
            out("logs/mirror.log"),
        conda:
            "../envs/data.yaml"
        params:
            mirror_dir=str(PLAN.mirror_dir),
            names=list(PROVIDED.values()),
            copy_below_mb=config["data"]["mirror_copy_below_mb"],
        script:
            "../scripts/mirror.py"


rule validate:
    input:
        unpack(get_validation_inputs),
        stamp=DATA_SOURCE_STAMP,
    output:
        report=out("validation/report.csv"),
        summary=report(out("validation/summary.csv"), category="Validation", caption="../report/validation_summary.rst"),
        kept=[out(f"validation/kept/{DATA_FILES[k]}") for k in PLAN.validated_kinds()],
        quarantine=directory(out("validation/quarantine")),
    log:
        out("logs/validate.log"),
    benchmark:
        out("benchmarks/validate.tsv")
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/validate.py"


rule validation_gate:
    input:
        report=rules.validate.output.report,
        kept=rules.validate.output.kept,
    output:
        clean=[validated_path(k) for k in PLAN.validated_kinds()],
    log:
        out("logs/validation_gate.log"),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        on_error=config["validation"]["on_error"],
    script:
        "../scripts/validation_gate.py"
