import json

from _workflow import start

log = start(snakemake)
from transfer_study.report.plots import plot_study_figures
from transfer_study.report.results import load_json_files, reported_results
from transfer_study.report.words import load_strings

labels = dict(json.loads(snakemake.params.labels))  # config order
reported = reported_results(snakemake.input.reported, snakemake.wildcards.study)
words = load_strings(snakemake.input.strings, snakemake.params.language)
plot_study_figures(load_json_files(snakemake.input.metrics), labels, reported, words, snakemake.output)
