"""Promises the repository makes about itself: configs validate, pins agree, docs match the schema."""

import re
import tomllib

import jsonschema
import pytest
import yaml
from conftest import REPO

from transfer_study.config import check_config
from transfer_study.grids import expand_grids

CONFIGS = sorted((REPO / "config").glob("*.yaml"))
SCHEMA = yaml.safe_load((REPO / "config/schema.yaml").read_text())


def pinned(requirements) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)", requirement.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


NOT_WORKFLOW_CONFIGS = ("schema.yaml", "reported.yaml", "claims.yaml")


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name not in NOT_WORKFLOW_CONFIGS])
def test_every_workflow_config_validates(path):
    config = yaml.safe_load(path.read_text())
    _, problems = expand_grids(config, SCHEMA)  # as rules/common.smk: grids add their experiments first
    assert problems == []
    jsonschema.validate(config, SCHEMA)
    check_config(config)


def test_conda_environments_pin_the_same_versions_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    # An environment may pin an optional extra (train.yaml carries what `export:` needs), never a
    # version pyproject does not name.
    extras = [spec for group in project["project"]["optional-dependencies"].values() for spec in group]
    expected = pinned(project["project"]["dependencies"] + extras)
    for path in sorted((REPO / "envs").glob("*.yaml")):
        environment = yaml.safe_load(path.read_text())
        pip = next((item["pip"] for item in environment["dependencies"] if isinstance(item, dict)), [])
        for name, version in pinned(pip).items():
            assert expected.get(name) == version, f"{path.name}: {name}=={version} vs pyproject"


def test_readme_documents_exactly_the_schema_experiment_keys():
    keys = set(SCHEMA["$defs"]["experiment"]["properties"])
    readme = (REPO / "README.md").read_text()
    table = readme.split("An experiment is one dict")[1].split("\n\n")[1]
    documented = set(
        re.findall(r"`([a-z_]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:]))
    )
    assert documented == keys


def test_every_rule_has_a_log_and_a_conda_environment():
    for path in sorted((REPO / "rules").glob("*.smk")):
        for rule in re.split(r"^rule ", path.read_text(), flags=re.M)[1:]:
            name = rule.split(":")[0]
            assert "\n    log:" in rule, f"{path.name}: rule {name} has no log"
            assert "\n    conda:" in rule, f"{path.name}: rule {name} has no conda environment"
