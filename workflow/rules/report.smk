# Provenance of every final output (rule, params, inputs with md5, code and package versions,
# rooted in the fetch manifest).


rule provenance:
    input:
        targets=all_targets(),
        manifest=MANIFEST,
    output:
        out("provenance.json"),
    log:
        str(LOGS / "provenance.log"),
    conda:
        "../envs/data.yaml"
    params:
        targets=all_targets(),
        config=config,
        rule_params=static_rule_params(),
        repo=workflow.basedir,
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),  # provenance.json sits in it
    script:
        "../scripts/provenance.py"
