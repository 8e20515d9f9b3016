import json
from pathlib import Path

from _workflow import start

log = start(snakemake)
from transfer_study.report.render import render
from transfer_study.report.words import load_strings

template = Path(snakemake.input.template)
latex = template.name.endswith(".tex.j2")
not_figures = ("context", "template", "partial", "strings", "code")
figures = {key: path for key, path in snakemake.input.items() if key not in not_figures}
if latex:  # LaTeX builds in its own folder, so it gets absolute paths
    figures = {key: str(Path(path).resolve()) for key, path in figures.items()}
context = json.loads(Path(snakemake.input.context).read_text())
strings = load_strings(snakemake.input.strings, context["language"])
# Whether this run builds the PDF (rules/common.smk); read from the config, so it triggers no rerun.
pdf = None if latex else snakemake.config.get("_pdf_plan")
text = render(context, strings, template.parent, template.name, figures, latex=latex, pdf=pdf)
Path(snakemake.output[0]).write_text(text)
