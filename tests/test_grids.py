"""Experiment grids expand into ordinary experiments, named from their values, checked like any other."""

import copy
import itertools

import pytest
import yaml
from conftest import REPO, snakemake

from transfer_study import grids
from transfer_study.config import PRESENTATION_KEYS, schema_errors, training_spec
from transfer_study.grids import expand_grids, main, value_text

SCHEMA = yaml.safe_load((REPO / "config/schema.yaml").read_text())


def demo_with(grid: dict, **settings) -> dict:
    """The demo config with `grid` as its only grid."""
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["grids"] = {"g": grid}
    config.update(settings)
    return config


def expanded(config: dict) -> dict:
    grids, problems = expand_grids(config, SCHEMA)
    assert problems == []
    return grids


def problems_of(config: dict) -> list[str]:
    before = copy.deepcopy(config["experiments"])
    grids, problems = expand_grids(config, SCHEMA)
    assert grids == {} and config["experiments"] == before  # a grid with problems adds nothing
    return problems


def test_every_combination_becomes_an_experiment_named_from_its_values():
    config = demo_with(
        {
            "base": "beans-3a",
            "axes": {"optimizer.learning_rate": [1e-3, 1e-5], "trainable": [["block4", "block5"], "all"]},
        }
    )
    grid = expanded(config)["g"]
    assert list(grid.points) == [
        "g--learning_rate-0.001--trainable-block4_block5",
        "g--learning_rate-0.001--trainable-all",
        "g--learning_rate-1e-5--trainable-block4_block5",
        "g--learning_rate-1e-5--trainable-all",
    ]
    point = config["experiments"]["g--learning_rate-1e-5--trainable-block4_block5"]
    base = config["experiments"]["beans-3a"]
    # The nested key is set, its neighbours stay as the base has them.
    assert point["optimizer"] == {**base["optimizer"], "learning_rate": 1e-5}
    assert point["trainable"] == ["block4", "block5"]
    varied = {*PRESENTATION_KEYS, "optimizer", "trainable"}
    assert {k: v for k, v in point.items() if k not in varied} == {
        k: v for k, v in base.items() if k not in varied
    }
    assert point["study"] == "beans" and point["group"] == "g"
    assert point["label"] == "learning_rate 1e-5, trainable block4+block5"
    # The same names on every run.
    assert list(expanded(demo_with(config["grids"]["g"]))["g"].points) == list(grid.points)


def test_values_read_as_names_and_labels():
    assert [value_text(v) for v in (1e-4, 0.001, 1e20, 3, True, None, ["fire8", "fire9"])] == [
        "0.0001", "0.001", "1e20", "3", "true", "null", "fire8+fire9"
    ]  # fmt: skip
    assert value_text(1.5e-7) != value_text(1.6e-7)


def test_exclusions_leave_their_combinations_out():
    config = demo_with(
        {
            "base": "cifar10-stage1",
            "axes": {"optimizer.learning_rate": [0.001, 0.0001], "epochs": [1, 2]},
            "exclude": [{"optimizer.learning_rate": 0.001, "epochs": 2}, {"epochs": 1.0}],
        }
    )
    grid = expanded(config)["g"]
    assert list(grid.points) == ["g--learning_rate-0.0001--epochs-2"]
    assert grid.excluded == 3


def test_grid_metadata_stays_out_of_the_training_spec():
    """Renaming the grid or relabelling changes no point's spec: only the base and the point's values do."""
    axes = {"optimizer.learning_rate": [0.001, 0.0001]}
    first = demo_with({"base": "cifar10-stage2", "axes": axes})
    expanded(first)
    second = demo_with({"base": "cifar10-stage2", "axes": axes})
    second["grids"] = {"renamed": second["grids"]["g"]}
    expanded(second)
    assert training_spec(first, "g--learning_rate-0.0001") == training_spec(
        second, "renamed--learning_rate-0.0001"
    )
    # The point equal to the base trains exactly what the base trains.
    assert training_spec(first, "g--learning_rate-0.001") == training_spec(first, "cifar10-stage2")


def test_a_base_written_in_place():
    config = demo_with(
        {
            "base": {
                **yaml.safe_load((REPO / "config/demo.yaml").read_text())["experiments"]["cifar10-stage1"]
            },
            "axes": {"epochs": [1]},
        }
    )
    grid = expanded(config)["g"]
    assert grid.base is None and config["experiments"]["g--epochs-1"]["epochs"] == 1


@pytest.mark.parametrize(
    "grid, expected",
    [
        (
            {"base": "cifar10-stage9", "axes": {"epochs": [1]}},
            "grids.g.base: unknown experiment 'cifar10-stage9'",
        ),
        (
            {"base": "cifar10-stage1", "axes": {"optimizer.lerning_rate": [0.1]}},
            "grids.g.axes.optimizer.lerning_rate: unknown key 'lerning_rate' of optimizer; allowed keys: "
            "learning_rate, name",
        ),
        ({"base": "cifar10-stage1", "axes": {"epochz": [1]}}, "grids.g.axes.epochz: unknown key 'epochz'"),
        ({"base": "cifar10-stage1", "axes": {"label": ["a", "b"]}}, "grids.g.axes.label: label only names"),
        (
            {"base": "cifar10-stage1", "axes": {"optimizer.learning_rate": [0.001, -1]}},
            "grids.g.axes.optimizer.learning_rate: value -1: -1 is less than or equal to the minimum of 0",
        ),
        (
            {"base": "cifar10-stage1", "axes": {"optimizer.learning_rate": yaml.safe_load("[1e-3]")}},
            "grids.g.axes.optimizer.learning_rate: value 1e-3: '1e-3' is not of type 'number' (YAML reads "
            "1e-3 as text: write 0.001)",
        ),
        (
            {"base": "cifar10-stage1", "axes": {"epochs": [1]}, "exclude": [{"epochs": 3}]},
            "grids.g.exclude.0.epochs: 3 is not one of the axis's values (1)",
        ),
        (
            {"base": "cifar10-stage1", "axes": {"epochs": [1]}, "exclude": [{"seed": 3}]},
            "grids.g.exclude.0: 'seed' is not an axis of this grid; axes: epochs",
        ),
        (
            {"base": "cifar10-stage1", "axes": {"epochs": [1]}, "exclude": [{"epochs": 1}]},
            "leaves no combination",
        ),
        (
            {
                "base": {"dataset": "cifar10", "model": "squeezenet", "trainable": "none"},
                "axes": {"epochs": [1]},
            },
            "grids.g.base: 'study' is a required property",
        ),
    ],
)
def test_a_bad_grid_names_its_key(grid, expected):
    problems = problems_of(demo_with(grid))
    assert any(expected in problem for problem in problems), problems


def test_a_grid_of_the_wrong_shape_is_left_to_the_schema_which_names_it():
    config = demo_with({"base": "cifar10-stage1", "axes": {"epochs": 1}})
    assert expand_grids(config, SCHEMA) == ({}, [])
    assert "grids.g.axes.epochs: 1 is not of type 'array'" in schema_errors(config, SCHEMA)


def test_a_grid_past_the_limit_is_an_error_that_says_the_count():
    grid = {"base": "cifar10-stage1", "axes": {"epochs": [1, 2, 3], "batch_size": [8, 16, 32, 64]}}
    problems = problems_of(demo_with(grid, max_grid_experiments=10))
    assert problems == [
        "grids.g: expands to more experiments than max_grid_experiments (10): 3 x 4 = 12 combinations; "
        "leave values or combinations out, or raise max_grid_experiments"
    ]
    assert len(expanded(demo_with(grid, max_grid_experiments=12))["g"].points) == 12


def test_a_grid_of_a_hundred_million_points_is_refused_before_any_is_built(monkeypatch):
    axes = {
        "epochs": list(range(1, 101)),
        "batch_size": list(range(1, 101)),
        "optimizer.learning_rate": [0.0001 * i for i in range(1, 101)],
        "head.dropout": [0.005 * i for i in range(100)],
    }
    grid = {"base": "cifar10-stage1", "axes": axes, "exclude": [{"epochs": 1}]}
    built = []
    monkeypatch.setattr(grids, "set_key", lambda *args: built.append(args))
    problems = problems_of(demo_with(grid))
    assert built == []  # counted, not built
    assert problems == [
        "grids.g: expands to more experiments than max_grid_experiments (200): "
        "100 x 100 x 100 x 100 = 100000000 combinations before exclude; leave values or "
        "combinations out, or raise max_grid_experiments"
    ]


@pytest.mark.parametrize(
    "rules",
    [
        [],
        [{"epochs": 1}],
        [{"epochs": 1}, {"batch_size": 8}],
        [{"epochs": 1, "batch_size": 8}, {"epochs": 1}, {"epochs": 2, "batch_size": 16}],
        [{"epochs": 1, "batch_size": 8}, {"epochs": 2, "batch_size": 8}, {"head.dropout": 0.5}],
    ],
)
def test_the_count_of_points_is_the_count_of_points_built(rules):
    axes = {"epochs": [1, 2, 3], "batch_size": [8, 16], "head.dropout": [0.2, 0.5]}
    listed = [
        values for values in itertools.product(*axes.values())
        if not grids._excluded(dict(zip(axes, values, strict=True)), rules)
    ]  # fmt: skip
    assert grids._point_count(axes, rules, limit=200) == len(listed)
    many = [{"epochs": 1, "batch_size": 8}] * 17  # past inclusion-exclusion's reach: counted one by one
    assert grids._point_count(axes, many, limit=200) == 10


def test_two_axes_that_set_the_same_setting_are_an_error_naming_both():
    grid = {
        "base": "cifar10-stage1",
        "axes": {"optimizer.learning_rate": [0.01, 0.0001], "optimizer": [{"name": "sgd"}, {"name": "adam"}]},
    }
    assert problems_of(demo_with(grid)) == [
        "grids.g.axes: 'optimizer' and 'optimizer.learning_rate' both set optimizer.learning_rate; a point "
        "would take one and drop the other. Write optimizer.learning_rate into each value of 'optimizer', "
        "or keep one axis"
    ]
    # Neighbours, and keys that only begin with the same letters, are separate settings.
    grid["axes"] = {"optimizer.learning_rate": [0.01], "optimizer.name": ["sgd", "adam"], "epochs": [1, 2]}
    assert len(expanded(demo_with(grid))["g"].points) == 4


def test_an_experiment_name_longer_than_a_folder_name_may_be_is_an_error():
    grid = {"base": "beans-3a", "axes": {"trainable": [[f"block{i}_conv{j}" for i in range(1, 6)
                                                       for j in range(1, 4)] * 2]}}  # fmt: skip
    (problem,) = problems_of(demo_with(grid))
    assert problem.startswith("grids.g.axes: the experiment name 'g--trainable-block1_conv1_block1_conv2")
    assert "bytes, more than a folder name may have (255); shorten the grid's name or its values" in problem


def test_a_name_taken_by_a_written_experiment_is_an_error():
    config = demo_with({"base": "cifar10-stage1", "axes": {"epochs": [1]}})
    config["experiments"]["g--epochs-1"] = copy.deepcopy(config["experiments"]["cifar10-stage1"])
    assert any(
        "'g--epochs-1' has the name of an experiment written in experiments" in p for p in problems_of(config)
    )


def test_values_that_read_the_same_as_a_path_are_an_error():
    config = demo_with(
        {"base": "cifar10-stage1", "axes": {"trainable": [["fire8", "fire9"], ["fire8_fire9"]]}}
    )
    assert any("both named 'g--trainable-fire8_fire9'" in p for p in problems_of(config))


def test_the_listing_shows_every_experiment(tmp_path, capsys):
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(demo_with({"base": "cifar10-stage1", "axes": {"epochs": [1, 2]}})))
    assert main([str(config)]) == 0
    out = capsys.readouterr().out
    assert "Grid g: 2 epochs = 2 experiments, 4 training jobs (2 seeds)." in out
    assert "g--epochs-1  (epochs 1)" in out and "g--epochs-2  (epochs 2)" in out


def test_a_bad_axis_value_stops_the_workflow_before_any_job(workflow_dir):
    """Cross-reference checks (config.check_config) name the grid's axis too, through snakemake itself."""
    path = workflow_dir / "config/demo.yaml"
    text = path.read_text()
    old = "trainable: [none, [fire8, fire9]]"
    assert old in text
    path.write_text(text.replace(old, "trainable: [none, [fire8, fire10]]"))
    result = snakemake(workflow_dir, "-n", "--configfile", "config/demo.yaml", check=False)
    message = result.stdout + result.stderr
    assert result.returncode != 0 and "invalid config" in message
    assert (
        "grids.cifar10-grid.axes.trainable: value fire8+fire10: unknown squeezenet unit(s) fire10" in message
    )
    assert "Job stats" not in message


def test_the_dry_run_says_what_each_grid_expands_to(workflow_dir):
    result = snakemake(workflow_dir, "-n", "--configfile", "config/demo.yaml")
    assert "Grid cifar10-grid: 2 learning_rate x 2 trainable = 4 experiments, 8 training jobs (2 seeds)." in (
        result.stdout + result.stderr
    )


def test_the_beans_finetuning_grid_config_plans_nine_experiments(workflow_dir):
    result = snakemake(workflow_dir, "-n", "--cores", "4", "--configfile", "config/beans-finetune-grid.yaml")
    output = result.stdout + result.stderr
    assert (
        "Grid beans-finetune: 3 learning_rate x 3 trainable = 9 experiments, 27 training jobs (3 seeds)."
        in output
    )
    assert "experiment=beans-finetune--learning_rate-1e-5--trainable-block4_block5, seed=2" in output


def test_a_hand_written_experiment_name_longer_than_a_folder_name_may_be_is_an_error():
    config = demo_with({"base": "cifar10-stage1", "axes": {"epochs": [1]}})
    config["experiments"]["x" * 300] = copy.deepcopy(config["experiments"]["cifar10-stage1"])
    assert schema_errors(config, SCHEMA) == [
        f"experiments: the name {'x' * 40!r}... has 300 characters, more than a folder name may have (255); "
        "shorten it"
    ]


def test_blame_reads_where_a_problem_is_from_its_path_not_its_text():
    """A problem of a grid's experiment is named by the grid's axis or base from its key path; the
    experiment's name holds dots and the message a colon, and nothing is read back from the text."""
    import pickle

    from transfer_study.problems import Problem, at

    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    found = expanded(config)
    point = next(
        name for name, values in found["cifar10-grid"].points.items() if values["trainable"] != "none"
    )
    assert "." in point
    axis_problem = at("experiments", point, "trainable", message="unknown unit fire10: see the list")
    base_problem = at("experiments", point, "export", "seeds", message="7 is not among the seeds")
    elsewhere = at("experiments", "beans-2", "trainable", message="unknown unit")
    blamed = grids.blame([axis_problem, base_problem, elsewhere, "a line of text as it is"], found)
    assert blamed == [
        "grids.cifar10-grid.axes.trainable: value fire8+fire9: unknown unit fire10: see the list",
        "grids.cifar10-grid.base.export.seeds: 7 is not among the seeds",
        "experiments.beans-2.trainable: unknown unit",
        "a line of text as it is",
    ]
    assert blamed[0].path == ("grids", "cifar10-grid", "axes", "trainable")
    # A Problem is its line of text, and keeps its parts through a copy or a pickle.
    again = pickle.loads(pickle.dumps(axis_problem))
    assert isinstance(again, Problem) and again == axis_problem and again.path == axis_problem.path
    assert str(at(message="the file is empty")) == "(top level): the file is empty"
