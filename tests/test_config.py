"""Bad configs are refused before any job is planned, with the key path and what is allowed."""

import pytest
import yaml
from conftest import REPO, snakemake

from transfer_study import config as study_config
from transfer_study.models import registry

EDITS = {
    "unknown key": (
        "    optimizer: {name: adam, learning_rate: 0.001}\n",
        "    optimizer: {name: adam, learning_rate: 0.001}\n    lerning_rate: 0.01\n",
        [
            "experiments.beans-1-softmax: Additional properties are not allowed",
            "('lerning_rate' was unexpected)",
            "allowed keys: ",
            "batch_size",
        ],
    ),
    "wrong type": (
        "seeds: [0, 1]",
        "seeds: [0, one]",
        ["seeds.1: 'one' is not of type 'integer'"],
    ),
    "unknown dataset": (
        "    dataset: beans\n",
        "    dataset: bean\n",
        ["experiments.beans-1-softmax.dataset: unknown dataset 'bean'", "defined datasets: beans, cifar10"],
    ),
    "unknown model": (
        "    model: vgg16\n",
        "    model: vgg19\n",
        [
            "experiments.beans-1-softmax.model: unknown model 'vgg19'; registered models: "
            + ", ".join(registry.names())
        ],
    ),
    "unknown pretrained model": (
        "pretrain: {model: squeezenet, ",
        "pretrain: {model: squeezenet2, ",
        [
            "sources.squeezenet_imagenet.pretrain.model: unknown model 'squeezenet2'; registered models: "
            + ", ".join(registry.names())
        ],
    ),
    "unregistered dataset format": (
        "    format: cifar10_tar\n",
        "    format: cifar10_pickle\n",
        [
            "datasets.cifar10.format: unknown dataset format 'cifar10_pickle'; "
            "registered formats: beans_zip, cifar10_tar, csv, image_folder"
        ],
    ),
    "unknown layer": (
        "trainable: [fire8, fire9]",
        "trainable: [fire8, fire10]",
        ["experiments.cifar10-stage2.trainable: unknown squeezenet unit(s) fire10", "fire9"],
    ),
    "missing weights file": (
        "    weights: squeezenet_imagenet\n",
        "    weights: squeezenet_places365\n",
        ["experiments.cifar10-stage1.weights: unknown source 'squeezenet_places365'", "squeezenet_imagenet"],
    ),
    "zero epochs": (
        "    epochs: 2\n",
        "    epochs: 0\n",
        ["experiments.cifar10-stage1.epochs: 0 is less than the minimum of 1"],
    ),
    "negative epochs": (
        "    epochs: 2\n",
        "    epochs: -3\n",
        ["experiments.cifar10-stage1.epochs: -3 is less than the minimum of 1"],
    ),
    "float epochs": (
        "    epochs: 2\n",
        "    epochs: 2.0\n",
        ["experiments.cifar10-stage1.epochs: 2.0 is not a whole number written as one (write 2)"],
    ),
    "not-a-number fraction": (
        "    validation_fraction: 0.2\n",
        "    validation_fraction: .nan\n",
        ["datasets.cifar10.validation_fraction: nan is not a finite number"],
    ),
    "seed too large for the backends": (
        "seeds: [0, 1]",
        "seeds: [0, 9000000000]",
        ["seeds.1: 9000000000 is greater than the maximum of 4000000"],
    ),
    "empty results folder": (
        "results: results/demo\n",
        'results: ""\n',
        ["results: '' names no folder; give one, such as 'results'"],
    ),
    "resources at the root": (
        "resources: resources/demo\n",
        "resources: /\n",
        ["resources: '/' is the file system's root; give a folder of its own, such as 'resources'"],
    ),
    "splits sharing a source": (
        "splits: {train: beans_train, validation: beans_validation, test: beans_test}",
        "splits: {train: beans_train, validation: beans_validation, test: beans_train}",
        ["datasets.beans.splits: train, test all read source 'beans_train'; every split needs its own"],
    ),
    "a source path outside resources": (
        "    path: data/beans/test.zip\n",
        "    path: ../../elsewhere/test.zip\n",
        ["sources.beans_test.path: '../../elsewhere/test.zip' leaves the resources folder"],
    ),
    "an image too small for the model": (
        "    class_names: [angular_leaf_spot, bean_rust, healthy]\n    image_size: 32\n",
        "    class_names: [angular_leaf_spot, bean_rust, healthy]\n    image_size: 24\n",
        ["experiments.beans-1-softmax.image_size: vgg16 takes images of at least 32 x 32 px"],
    ),
    "batch larger than the training set": (
        "    epochs: 8\n    batch_size: 16\n",
        "    epochs: 8\n    batch_size: 100\n",
        [
            "experiments.beans-1-softmax.batch_size: 100 is more than the 72 training images",
            "choose at most 72",
        ],
    ),
}


@pytest.mark.parametrize("case", EDITS)
def test_bad_config_is_refused_before_any_job(workflow_dir, case):
    old, new, expected = EDITS[case]
    path = workflow_dir / "config/demo.yaml"
    text = path.read_text()
    assert old in text, f"the demo config changed; {old!r} is gone"
    path.write_text(text.replace(old, new, 1))
    result = snakemake(workflow_dir, "-n", "--configfile", "config/demo.yaml", check=False)
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "invalid config" in message and "config/demo.yaml" in message
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message[-3000:]}"
    assert "Job stats" not in message  # nothing was planned
    assert not (workflow_dir / "results").exists() and not (workflow_dir / "resources").exists()


def test_training_set_sizes_known_before_any_job():
    import yaml
    from conftest import REPO

    from transfer_study.config import train_images_before_run

    study = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert train_images_before_run(study, "beans") == 1034  # from expected_images
    assert train_images_before_run(study, "cifar10") == 40_000  # 80 % of 50,000
    del study["datasets"]["beans"]["expected_images"]
    assert train_images_before_run(study, "beans") is None  # unknown until the archives are read
    demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    assert train_images_before_run(demo, "beans") == 72
    assert train_images_before_run(demo, "cifar10") == 400  # 5 batches x 10 per class x 10, minus 20 %


def test_class_weight_is_auto_or_a_weight_per_named_class():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    config["experiments"]["beans-2"]["class_weight"] = "balanced"
    config["experiments"]["beans-3a"]["class_weight"] = {"healthy": -1}
    problems = study_config.schema_errors(config, schema)
    assert [problem.split(":")[0] for problem in problems] == [
        "experiments.beans-2.class_weight",
        "experiments.beans-3a.class_weight",
    ]
    config["experiments"]["beans-2"]["class_weight"] = "auto"
    config["experiments"]["beans-3a"]["class_weight"] = {"healthy": 2, "bean_rot": 3}
    assert study_config.schema_errors(config, schema) == []
    with pytest.raises(study_config.ConfigError) as error:
        study_config.check_config(config)
    assert str(error.value).splitlines()[1:] == [
        "  experiments.beans-3a.class_weight: 'bean_rot' is no class of dataset beans (angular_leaf_spot, "
        "bean_rust, healthy); name its classes, or write auto"
    ]


def test_a_prediction_set_names_a_source_an_experiment_and_a_seed_of_the_config():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["predict"] = {
        "good": {"images": "beans_test", "experiment": "beans-3c", "seed": 1},
        "bad": {"images": "photos", "experiment": "beans-9", "seed": 7},
        "weights": {"images": "squeezenet_imagenet", "experiment": "beans-3c"},
    }
    with pytest.raises(study_config.ConfigError) as error:
        study_config.check_config(config)
    problems = [line.strip() for line in str(error.value).splitlines()[1:]]
    assert problems[0].startswith("predict.bad.images: unknown source 'photos'; defined sources: ")
    assert problems[1:] == [
        "predict.bad.experiment: unknown experiment 'beans-9'",
        "predict.bad.seed: 7 is not one of the seeds (0, 1)",
        "predict.weights.images: source 'squeezenet_imagenet' is a pretrained model, not images",
    ]
