# Provenance of every final output (rule, params, inputs with md5, code and package versions,
# rooted in the fetch manifest).

from sospine.front_page import skipped as front_page_skipped


rule provenance:
    input:
        targets=PLAN.all_targets(),
        folds=get_fold_targets,
        manifest=MANIFEST,
    output:
        out("provenance.json"),
    log:
        out("logs/provenance.log"),
    localrule: True  # reads .snakemake/metadata where Snakemake runs
    conda:
        "../envs/data.yaml"
    params:
        targets=PLAN.all_targets(),
        config=config,
        rule_params=provenance.static_rule_params(workflow.rules),
        producers=provenance.rule_producers(workflow.rules),
        stamps_dir=out("inputs"),
        repo=str(CHECKOUT or ""),  # this checkout (also as a module): its git commit is recorded
        output_dir=get_output_folder,
    script:
        "../scripts/provenance.py"


# The report's front page, written for this run: each class's AP beside the paper's, the data, split,
# trials and what was skipped, Table 1, the board's headline, the figures this run made.
rule front_page:
    input:
        board=out("leaderboard/leaderboard.csv") if PLAN.detection_tables() else [],
        paired=out("leaderboard/paired.csv") if PLAN.detection_tables() else [],
        table1=out("stats/table1.csv"),
        trials=out("split/trials.csv"),
        provenance=out("provenance.json"),
    output:
        FRONT_PAGE,
    log:
        out("logs/front_page.log"),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        config=config,
        output_dir=get_output_dir_of_front_page,
        figures=PLAN.report_figures(),
        skipped=front_page_skipped(PLAN),
    script:
        "../scripts/front_page.py"
