# Provenance of every final output (rule, params, inputs with md5, code and package versions,
# rooted in the fetch manifest).


localrules:
    provenance,  # reads .snakemake/metadata where Snakemake runs
    front_page,


rule provenance:
    input:
        targets=all_targets(),
        folds=fold_targets,
        manifest=MANIFEST,
    output:
        out("provenance.json"),
    log:
        out("logs/provenance.log"),
    conda:
        "../envs/data.yaml"
    params:
        targets=all_targets(),
        config=config,
        rule_params=static_rule_params(),
        producers=producers(),
        stamps_dir=out("inputs"),
        repo=str(CHECKOUT or ""),  # this checkout (also as a module): its git commit is recorded
        output_dir=folder_of_output,
    script:
        "../scripts/provenance.py"


rule front_page:
    """The report's front page, written for this run (data, folder, steps, the board's headline)."""
    input:
        board=out("leaderboard/leaderboard.csv") if detectors() else [],
        paired=out("leaderboard/paired.csv") if detectors() else [],
        provenance=out("provenance.json"),
    output:
        FRONT_PAGE,
    log:
        out("logs/front_page.log"),
    conda:
        "../envs/data.yaml"
    params:
        config=config,
        output_dir=output_dir_of_front_page,
        figures=report_figures(),
    script:
        "../scripts/front_page.py"
