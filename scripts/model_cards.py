import json
from pathlib import Path

from _workflow import start

log = start(snakemake)
from transfer_study.checksums import file_sha256
from transfer_study.report.model_card import card_markdown, model_card
from transfer_study.report.results import load_json_files

spec = json.loads(snakemake.params.spec)
metrics = load_json_files(snakemake.input.metrics)
summaries = {(item["experiment"], item["seed"]): item for item in load_json_files(snakemake.input.summaries)}
stats = {item["dataset"]: item for item in load_json_files(snakemake.input.stats)}
exports = {}
for path in snakemake.input.exports:
    for check in load_json_files([path])[0].values():
        exports.setdefault((check["experiment"], check["seed"]), {})[check["format"]] = check
cards = dict(zip(snakemake.output.cards, snakemake.output.facts, strict=True))
for item, model_path, (card_path, facts_path) in zip(
    metrics, snakemake.input.models, cards.items(), strict=True
):
    name, experiment = item["experiment"], spec["experiments"][item["experiment"]]
    card = model_card(
        name,
        experiment,
        item,
        summaries[(name, item["seed"])],
        stats[experiment["dataset"]],
        [other for other in metrics if other["experiment"] == name],
        spec["weights"].get(experiment.get("weights") or ""),
        model_sha256=file_sha256(model_path),
        exports=exports.get((name, item["seed"]), {}),
    )
    Path(facts_path).write_text(json.dumps(card, indent=2) + "\n")
    Path(card_path).write_text(card_markdown(card))
log.info("%d model cards written", len(cards))
