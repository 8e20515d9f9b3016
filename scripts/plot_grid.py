import json

from _workflow import start

log = start(snakemake)
from transfer_study.report.grid_plots import plot_grid
from transfer_study.report.results import load_json_files
from transfer_study.report.words import load_strings

grid = json.loads(snakemake.params.grid)
words = load_strings(snakemake.input.strings, snakemake.params.language)
plot_grid(grid, load_json_files(snakemake.input.metrics), words, [snakemake.output.png, snakemake.output.pdf])
