import json

from _workflow import start

log = start(snakemake)
from transfer_study.report.plots import plot_curves
from transfer_study.report.results import reported_results
from transfer_study.report.words import load_strings

labels = dict(json.loads(snakemake.params.labels))  # config order
groups = {
    label: [path for key, path in snakemake.input.items() if key.split("@")[0] == name]
    for name, label in labels.items()
}
reported = reported_results(snakemake.input.reported, snakemake.wildcards.study)
references = {label: reported.get(name, {}).get("validation_accuracy") for name, label in labels.items()}
words = load_strings(snakemake.input.strings, snakemake.params.language)
plot_curves(groups, words, [snakemake.output.png, snakemake.output.pdf], references)
