# SOSpine benchmark workflow: published files -> validation -> boxes, split, YOLO dataset ->
# detector training and inference -> scoring (VOC AP, COCO mAP) -> timelines, phases, outcomes.
# Run `snakemake --cores N`; see README.md for profiles and configuration.

# With --configfile (the demo profile, a site's config) common.smk merges config/config.yaml under it
# itself, so Snakemake does not announce an "extended" config on every run of the profile.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


# the front page written for this run (rule front_page) once there is one
report: PLAN.report_page()


include: "workflow/rules/data.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/scoring.smk"
include: "workflow/rules/analytics.smk"
include: "workflow/rules/recordings.smk"
include: "workflow/rules/provenance.smk"


onstart:
    take_output_lock()


onsuccess:
    give_back_output_lock()


onerror:
    give_back_output_lock()


check_ready_for_report()


rule all:
    default_target: True
    input:
        PLAN.all_targets(),
        get_fold_targets,
        out("provenance.json"),
        FRONT_PAGE,
    localrule: True
