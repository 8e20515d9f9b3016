import json
from pathlib import Path

from _workflow import start

log = start(snakemake)
from transfer_study.report.model_card import card_markdown, model_card
from transfer_study.report.results import load_json_files

spec = json.loads(snakemake.params.spec)
metrics = load_json_files(snakemake.input.metrics)
summaries = {(item["experiment"], item["seed"]): item for item in load_json_files(snakemake.input.summaries)}
stats = {item["dataset"]: item for item in load_json_files(snakemake.input.stats)}
cards = dict(zip(snakemake.output.cards, snakemake.output.facts, strict=True))
for item, (card_path, facts_path) in zip(metrics, cards.items(), strict=True):
    name, experiment = item["experiment"], spec["experiments"][item["experiment"]]
    card = model_card(
        name,
        experiment,
        item,
        summaries[(name, item["seed"])],
        stats[experiment["dataset"]],
        [other for other in metrics if other["experiment"] == name],
        spec["weights"].get(experiment.get("weights") or ""),
    )
    Path(facts_path).write_text(json.dumps(card, indent=2) + "\n")
    Path(card_path).write_text(card_markdown(card))
log.info("%d model cards written", len(cards))
