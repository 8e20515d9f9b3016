# The input functions and constants of rules/evaluate.smk (Snakemake's linter keeps functions out of
# rule files); what several stages share is in rules/common.smk.


def experiments_table_spec(wildcards):
    """What the summary table shows of the config: every experiment as resolved (what happens to a
    run after its training, its exports, is no part of the table), and the seeds."""
    shown = {
        name: {
            key: value
            for key, value in experiment(name).items()
            if key not in study_config.AFTER_TRAINING_KEYS
        }
        for name in EXPERIMENTS
    }
    return study_config.canonical_json(
        {
            "seeds": SEEDS,
            "experiments": shown,
            "grids": GRID_SPECS,
        }
    )
