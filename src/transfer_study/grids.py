"""Experiment grids: a base experiment and axes of values, expanded at planning into ordinary experiments.

A grid in the config,

    grids:
      lr-trainable:
        base: beans-3a                      # an experiment's name, or a whole experiment dict
        axes:
          optimizer.learning_rate: [0.001, 0.0001]
          trainable: [[block5], all]
        exclude: [{optimizer.learning_rate: 0.001, trainable: all}]

becomes one entry of config["experiments"] per combination, named from the axis values
(`lr-trainable--learning_rate-0.0001--trainable-all`), before any rule is planned. The grid's own
metadata (its name, which key is an axis) is kept out of the experiments: a point's training spec is the
base with its own values set, so editing the base retrains the grid, a new value trains only its new
points, and removing one trains nothing. Imported at planning time: no Keras here.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import sys
from dataclasses import dataclass, field

from transfer_study.config import PRESENTATION_KEYS, strict_validator
from transfer_study.problems import Problem, at

DEFAULT_LIMIT = 200
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_BYTES = 255  # the longest name of one folder most file systems allow
SEPARATOR = "--"  # between the grid's name and each axis part of an experiment's name


@dataclass
class Grid:
    name: str
    base: str | None  # the experiment named as the base, None for a dict written in place
    axes: dict[str, list]
    # Experiment name -> {axis key: value}, in the order of the axes' values.
    points: dict[str, dict] = field(default_factory=dict)
    excluded: int = 0
    select: str = "validation_accuracy"  # the validation metric that chooses the best point
    # Experiment name -> the experiment dict the grid adds to config["experiments"].
    expanded: dict = field(default_factory=dict, repr=False)

    def spec(self) -> dict:
        """What the report and the summary table need of the grid, as plain JSON."""
        return {
            "name": self.name,
            "base": self.base,
            "select": self.select,
            "axes": [
                {"key": key, "name": short_name(key, self.axes), "values": [value_text(v) for v in values]}
                for key, values in self.axes.items()
            ],
            "points": [
                {"experiment": name, "values": {key: value_text(v) for key, v in values.items()}}
                for name, values in self.points.items()
            ],
        }


def short_name(key: str, axes: dict) -> str:
    """An axis by its last key (`learning_rate`), or in full where two axes share that last key."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(other.rsplit(".", 1)[-1] == last for other in axes) == 1 else key


def value_text(value) -> str:
    """An axis value as it reads in names and labels: 1e-05 as 1e-5, [block4, block5] as block4+block5."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float):
        text = repr(value)  # the shortest text that reads back as the same float: names stay unique
        return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m.group(1) == '-' else ''}{m.group(2)}", text)
    if isinstance(value, list):
        return "+".join(value_text(item) for item in value)
    if isinstance(value, dict):
        return "+".join(f"{key}-{value_text(item)}" for key, item in sorted(value.items()))
    return str(value)


def path_part(value) -> str:
    """value_text made safe as an experiment name (a folder): other characters become `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value_text(value).replace("+", "_"))


def point_name(grid: str, point: dict, axes: dict) -> str:
    parts = [f"{short_name(key, axes)}-{path_part(value)}" for key, value in point.items()]
    return SEPARATOR.join([grid, *parts])


def point_label(point: dict, axes: dict) -> str:
    return ", ".join(f"{short_name(key, axes)} {value_text(value)}" for key, value in point.items())


def set_key(experiment: dict, key: str, value) -> None:
    """Set a dotted key (`optimizer.learning_rate`), making the dicts on the way where they are missing."""
    *parents, last = key.split(".")
    target = experiment
    for part in parents:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[last] = copy.deepcopy(value)


def _same(a, b) -> bool:
    """Equality as YAML means it: 1 and 1.0 match, true and 1 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _axis_key_error(key: str, experiment_schema: dict) -> str | None:
    """Why `key` cannot be an axis, or None where it names a setting of an experiment."""
    properties = experiment_schema["properties"]
    parts = key.split(".")
    if parts[0] in PRESENTATION_KEYS:
        return (
            f"{parts[0]} only names or describes an experiment; a grid sets it for every point "
            "(axes vary what trains)"
        )
    allowed = sorted(k for k in properties if k not in PRESENTATION_KEYS)
    for depth, part in enumerate(parts):
        if part not in properties:
            where = ".".join(parts[:depth]) or "an experiment"
            return f"unknown key {part!r} of {where}; allowed keys: {', '.join(allowed)}"
        definition = properties[part]
        if depth < len(parts) - 1:
            properties = definition.get("properties")
            if not properties:
                return f"{'.'.join(parts[: depth + 1])} has no keys below it"
            allowed = sorted(properties)
    return None


def _overlap_errors(where: tuple, axes: dict) -> list[Problem]:
    """Two axes where one sets a mapping the other sets a key inside (`optimizer` and
    `optimizer.learning_rate`): whichever is applied last would silently undo the other."""
    keys = list(axes)
    errors = []
    for index, key in enumerate(keys):
        for other in keys[index + 1 :]:
            outer, inner = sorted((key, other), key=len)
            if inner == outer or inner.startswith(f"{outer}."):
                message = (
                    f"{outer!r} and {inner!r} both set {inner}; a point would take one and drop the "
                    f"other. Write {inner} into each value of {outer!r}, or keep one axis"
                )
                errors.append(at(*where, "axes", message=message))
    return errors


def _point_count(axes: dict, rules: list[dict], limit: int) -> int:
    """How many points the grid has, without building them, so that a grid of millions is refused at
    once: the product of the axes' lengths less the excluded points, by inclusion-exclusion over the
    rules (several rules together fix every key any of them fixes, where they agree). Past 16 rules
    the points are counted one by one instead, but only up to one past `limit`."""
    total = math.prod(len(values) for values in axes.values())
    if len(rules) > 16:
        count = 0
        for values in itertools.product(*axes.values()):
            count += not _excluded(dict(zip(axes, values, strict=True)), rules)
            if count > limit:
                break
        return count
    excluded = 0
    for size in range(1, len(rules) + 1):
        for together in itertools.combinations(rules, size):
            fixed = {}
            for rule in together:
                for key, value in rule.items():
                    if key in fixed and not _same(fixed[key], value):
                        break
                    fixed[key] = value
                else:
                    continue
                break  # two of the rules disagree on a key: no point matches all of them
            else:
                matching = math.prod(
                    sum(_same(value, fixed[key]) for value in values) if key in fixed else len(values)
                    for key, values in axes.items()
                )
                excluded += matching if size % 2 else -matching
    return total - excluded


def _combinations(axes: dict) -> list[dict]:
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def _excluded(point: dict, rules: list[dict]) -> bool:
    return any(all(_same(point[key], value) for key, value in rule.items()) for rule in rules)


def _exclude_errors(where: tuple, rules: list[dict], axes: dict) -> list[Problem]:
    errors = []
    for index, rule in enumerate(rules):
        for key, value in rule.items():
            if key not in axes:
                message = f"{key!r} is not an axis of this grid; axes: {', '.join(axes)}"
                errors.append(at(*where, "exclude", index, message=message))
            elif not any(_same(value, allowed) for allowed in axes[key]):
                shown = ", ".join(value_text(v) for v in axes[key])
                message = (
                    f"{value_text(value)} is not one of the axis's values ({shown}), so this rule would "
                    "leave nothing out"
                )
                errors.append(at(*where, "exclude", index, key, message=message))
    return errors


def _blamed(where: tuple, parts: tuple, point: dict, message: str) -> Problem:
    """A schema error of one point (at the experiment's key path `parts`), named by the axis whose
    value caused it, or else by the base."""
    path = ".".join(map(str, parts))
    for key, value in point.items():
        if path and (path == key or path.startswith(key + ".") or key.startswith(path + ".")):
            if isinstance(value, str) and _reads_as_number(value):
                message += f" (YAML reads {value} as text: write {float(value)!r})"
            return at(*where, "axes", key, message=f"value {value_text(value)}: {message}")
    return at(*where, "base", *parts, message=message)


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _point_errors(where: tuple, experiment: dict, point: dict, validator) -> list[Problem]:
    return [
        _blamed(where, tuple(error.absolute_path), point, error.message)
        for error in validator.iter_errors(experiment)
    ]


def _base(where: tuple, grid: dict, experiments: dict) -> tuple[dict | None, str | None, list[Problem]]:
    base = grid["base"]
    if isinstance(base, str):
        if base not in experiments:
            defined = ", ".join(sorted(experiments)) or "(none)"
            message = f"unknown experiment {base!r}; defined experiments: {defined}"
            return None, base, [at(*where, "base", message=message)]
        return copy.deepcopy(experiments[base]), base, []
    return copy.deepcopy(base), None, []


def expand_grids(config: dict, schema: dict) -> tuple[dict[str, Grid], list[Problem]]:
    """Add every grid's experiments to config["experiments"]; return the grids and every problem found.

    A grid with problems adds nothing. Grids whose shape the schema rejects are left to the schema's
    own errors (config.schema_errors), which name them.
    """
    import jsonschema

    grids_written = config.get("grids")
    if not isinstance(grids_written, dict) or not grids_written:
        return {}, []
    experiments = config.setdefault("experiments", {})
    if not isinstance(experiments, dict):
        return {}, []
    written = dict(experiments)  # the experiments written by hand, before any grid adds to them
    definitions = {"$defs": schema["$defs"]}
    grid_validator = strict_validator(jsonschema)({**schema["$defs"]["grid"], **definitions})
    validator = strict_validator(jsonschema)({**schema["$defs"]["experiment"], **definitions})
    limit = config.get("max_grid_experiments", DEFAULT_LIMIT)
    limit = limit if isinstance(limit, int) else DEFAULT_LIMIT
    grids, problems, owner = {}, [], {}
    for name, written_grid in grids_written.items():
        if not NAME_PATTERN.match(str(name)) or any(grid_validator.iter_errors(written_grid)):
            continue  # reported by the schema
        where = ("grids", name)
        grid, errors = _expand_one(
            name, written_grid, written, schema["$defs"]["experiment"], validator, limit
        )
        for experiment in grid.points if grid is not None else ():
            if experiment in written:
                message = (
                    f"its experiment {experiment!r} has the name of an experiment written in "
                    "experiments; rename the grid or that experiment"
                )
                errors.append(at(*where, message=message))
            elif experiment in owner:
                message = f"its experiment {experiment!r} is also one of grids.{owner[experiment]}"
                errors.append(at(*where, message=message))
            owner.setdefault(experiment, name)
        if errors:
            problems += list(dict.fromkeys(errors))  # one line for an error every point shares
        else:
            grids[name] = grid
    if not problems:
        for grid in grids.values():
            experiments.update(grid.expanded)
    return grids, problems


def _expand_one(name: str, written: dict, experiments: dict, experiment_schema: dict, validator, limit: int):
    where = ("grids", name)
    base, base_name, errors = _base(where, written, experiments)
    axes = written["axes"]
    errors += [
        at(*where, "axes", key, message=problem)
        for key, problem in ((key, _axis_key_error(key, experiment_schema)) for key in axes)
        if problem
    ]
    rules = written.get("exclude") or []
    errors += _exclude_errors(where, rules, axes)
    errors += _overlap_errors(where, axes)
    if errors:
        return None, errors
    if _point_count(axes, rules, limit) > limit:
        message = (
            f"expands to more experiments than max_grid_experiments ({limit}): "
            f"{' x '.join(str(len(values)) for values in axes.values())} = "
            f"{math.prod(len(values) for values in axes.values())} combinations"
            f"{' before exclude' if rules else ''}; leave values or combinations out, or raise "
            "max_grid_experiments"
        )
        return None, [at(*where, message=message)]
    combinations = [point for point in _combinations(axes) if not _excluded(point, rules)]
    if not combinations:
        return None, [at(*where, "exclude", message="leaves no combination of the axes to run")]
    excluded = math.prod(len(v) for v in axes.values()) - len(combinations)
    grid = Grid(name, base_name, axes, excluded=excluded, select=written.get("select", "validation_accuracy"))
    for point in combinations:
        experiment = copy.deepcopy(
            {key: value for key, value in base.items() if key not in PRESENTATION_KEYS}
        )
        for key, value in point.items():
            set_key(experiment, key, value)
        experiment_name = point_name(name, point, axes)
        if len(experiment_name.encode()) > NAME_BYTES:
            message = (
                f"the experiment name {experiment_name[:60]!r}... is {len(experiment_name.encode())} "
                f"bytes, more than a folder name may have ({NAME_BYTES}); shorten the grid's name or its "
                "values (a long list or mapping value makes a long name)"
            )
            errors.append(at(*where, "axes", message=message))
            continue
        if experiment_name in grid.points:
            message = (
                f"two combinations are both named {experiment_name!r}; make the values differ in "
                "letters, digits, '.', '-' or '_'"
            )
            errors.append(at(*where, "axes", message=message))
            continue
        if "study" in base:  # a base without one is an error the schema names
            experiment["study"] = base["study"]
        experiment.update(
            group=name,
            label=point_label(point, axes),
            description=f"Grid {name}: {base_name or 'its base'} with {point_label(point, axes)}.",
        )
        errors += _point_errors(where, experiment, point, validator)
        grid.points[experiment_name] = point
        grid.expanded[experiment_name] = experiment
    return grid, errors


def blame(problems: list, grids: dict[str, Grid]) -> list:
    """Config-check problems (config.check_config) about a grid's experiment, named by that grid's key:
    by the axis whose value the key comes from, or else by the grid's base; the others as they are."""
    owners = {experiment: grid for grid in grids.values() for experiment in grid.points}
    blamed = []
    for problem in problems:
        path = getattr(problem, "path", ())
        grid = owners.get(path[1]) if len(path) > 2 and path[0] == "experiments" else None
        if grid is None:
            blamed.append(problem)
            continue
        point = grid.points[path[1]]
        axis = next((axis for axis in point if axis.split(".")[0] == path[2]), None)
        if axis is not None:
            message = f"value {value_text(point[axis])}: {problem.message}"
            blamed.append(at("grids", grid.name, "axes", axis, message=message))
        else:
            blamed.append(at("grids", grid.name, "base", *path[2:], message=problem.message))
    return list(dict.fromkeys(blamed))


def plan_lines(grids: dict[str, Grid], seeds: list) -> list[str]:
    """One line per grid: how many experiments and training jobs it expands to."""
    lines = []
    for grid in grids.values():
        shape = " x ".join(f"{len(values)} {short_name(key, grid.axes)}" for key, values in grid.axes.items())
        left_out = f", {grid.excluded} left out" if grid.excluded else ""
        jobs = len(grid.points) * len(seeds)
        lines.append(
            f"Grid {grid.name}: {shape}{left_out} = {len(grid.points)} experiments, "
            f"{jobs} training jobs ({len(seeds)} seed{'s' if len(seeds) != 1 else ''})."
        )
    return lines


def axis_columns(table, experiments_grids: dict):
    """The summary table with a `grid` column and one column per axis (`grid.<axis key>`), the axis's
    value as text on the grid's rows and empty elsewhere."""
    grid_of = {}
    for grid_name, grid in experiments_grids.items():
        for point in grid["points"]:
            grid_of[point["experiment"]] = (grid_name, point["values"])
    table = table.copy()
    table.insert(2, "grid", [grid_of.get(name, ("", {}))[0] for name in table["experiment"]])
    keys = list(dict.fromkeys(axis["key"] for grid in experiments_grids.values() for axis in grid["axes"]))
    for key in keys:
        table[f"grid.{key}"] = [grid_of.get(name, ("", {}))[1].get(key, "") for name in table["experiment"]]
    return table


def main(argv: list[str]) -> int:
    """List what a config's grids expand to: `python -m transfer_study.grids CONFIG [SCHEMA]`."""
    from pathlib import Path

    import yaml

    if not argv:
        print("usage: python -m transfer_study.grids CONFIG [SCHEMA]", file=sys.stderr)
        return 2
    config = yaml.safe_load(Path(argv[0]).read_text())
    schema_path = Path(argv[1]) if len(argv) > 1 else Path(__file__).parents[2] / "config/schema.yaml"
    grids, problems = expand_grids(config, yaml.safe_load(schema_path.read_text()))
    if problems:
        print("invalid config:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    for line, grid in zip(plan_lines(grids, config.get("seeds", [])), grids.values(), strict=True):
        print(line)
        for experiment, point in grid.points.items():
            print(f"  {experiment}  ({point_label(point, grid.axes)})")
    if not grids:
        print("No grids in this config.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
