import json

from _workflow import start

log = start(snakemake)
from transfer_study.data.arrays import load_arrays
from transfer_study.report.plots import MISTAKES_SHOWN, most_confident_mistakes, plot_mistakes, study_best
from transfer_study.report.results import load_json_files, reported_results
from transfer_study.report.words import load_strings
from transfer_study.training.evaluation import read_predictions

labels = dict(json.loads(snakemake.params.labels))  # config order
runs = json.loads(snakemake.params.runs)  # [experiment, seed, its predictions.csv, its dataset's file]
reported = reported_results(snakemake.input.reported, snakemake.wildcards.study)
words = load_strings(snakemake.input.strings, snakemake.params.language)
best, _ = study_best(load_json_files(snakemake.input.metrics), labels, reported)
outputs = [snakemake.output.png, snakemake.output.pdf]
if best is None:
    plot_mistakes([], [], words["fig_no_run"], words, outputs)
else:
    predictions, data = next((p, d) for e, s, p, d in runs if (e, s) == (best["experiment"], best["seed"]))
    mistakes = most_confident_mistakes(read_predictions(predictions), MISTAKES_SHOWN)
    images = load_arrays(data, prefixes=("x_test",))["x_test"]
    title = words["fig_best"].format(label=best["label"], seed=best["seed"])
    plot_mistakes(mistakes, images, title, words, outputs)
    log.info("%s seed %s: %d mistake(s) shown", best["experiment"], best["seed"], len(mistakes))
