# The input functions and constants of rules/predict.smk (Snakemake's linter keeps functions out of
# rule files); what several stages share is in rules/common.smk.


def prediction_spec(name):
    spec = config["predict"][name]
    return spec["experiment"], spec.get("seed", config["seeds"][0])


def prediction_inputs(wildcards):
    """The run's model and class names, and the images' source: its file, or a folder's record (which
    changes when an image is added, removed or edited)."""
    experiment_name, seed = prediction_spec(wildcards.name)
    return {
        "model": f"{run_dir(experiment_name, seed)}/model.keras",
        "metrics": f"{run_dir(experiment_name, seed)}/metrics.json",
        "images": source_path(config["predict"][wildcards.name]["images"]),
    }


def prediction_images(wildcards):
    """Where the images are read: a `directory:` source in place, else the source's file."""
    source = config["predict"][wildcards.name]["images"]
    if source in DIRECTORY_RECORDS:
        return config["sources"][source]["directory"]
    return source_path(source)
