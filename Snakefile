# transfer-study: re-run two transfer-learning studies and rebuild their reports from real runs.
#
#   snakemake --cores 4 --resources gpu=1                            the full study (config/config.yaml)
#   snakemake --cores 2 --resources gpu=1 --configfile config/demo.yaml   offline demo, synthetic data


from snakemake.utils import min_version

min_version("9.0")


# A config named with --configfile replaces the full study instead of being merged into it, so the
# demo's synthetic sources never mix with the study's downloads.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/inputs/resources.smk"
include: "rules/inputs/code.smk"
include: "rules/inputs/sources.smk"
include: "rules/inputs/workflow.smk"
include: "rules/download.smk"
include: "rules/demo.smk"
include: "rules/preprocess.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/export.smk"
include: "rules/report.smk"
include: "rules/predict.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


# The last lines on the console: where the report is, or which jobs failed and where their logs are.
onsuccess:
    say(finished_message())


onerror:
    say(console.failed_line(log))


onstart:
    check_accelerator()
