"""The grid section of the report: numbers from the runs, the best point chosen on validation, figures."""

from __future__ import annotations

import html.parser
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml

from transfer_study.config import schema_errors
from transfer_study.grids import expand_grids
from transfer_study.report.grid_plots import plot_grid
from transfer_study.report.grids import grid_sections
from transfer_study.report.render import environment
from transfer_study.report.words import load_strings

STRINGS_FILE = Path(__file__).resolve().parents[1] / "report/strings.yaml"

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "config/schema.yaml").read_text())


def grid_spec(axes: dict, exclude=()) -> dict:
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["grids"] = {"g": {"base": "cifar10-stage1", "axes": axes, "exclude": list(exclude)}}
    grids, problems = expand_grids(config, SCHEMA)
    assert problems == []
    return grids["g"].spec()


def metrics_for(spec: dict, seeds=(0, 1), skip=(), seed=0) -> list[dict]:
    """metrics.json contents as the evaluate rule writes them, random numbers per point and seed."""
    rng = np.random.default_rng(seed)
    return [
        {
            "experiment": point["experiment"],
            "seed": s,
            "validation": {"accuracy": float(rng.uniform(0.2, 0.9)), "loss": 1.0},
            "test": {"accuracy": float(rng.uniform(0.2, 0.9)), "loss": 1.0},
        }
        for point in spec["points"]
        if point["experiment"] not in skip
        for s in seeds
    ]


def test_each_point_shows_its_seeds_mean_and_spread_and_the_best_is_chosen_on_validation():
    spec = grid_spec({"optimizer.learning_rate": [0.001, 0.0001], "trainable": ["none", ["fire8", "fire9"]]})
    metrics = metrics_for(spec)
    # The point with the best test accuracy is made the worst on validation: it must not be chosen.
    best_test = max(metrics, key=lambda m: m["test"]["accuracy"])["experiment"]
    for item in metrics:
        if item["experiment"] == best_test:
            item["validation"]["accuracy"] = 0.01
    [section] = grid_sections({"g": spec}, metrics)
    assert [p["experiment"] for p in section["points"]] == [p["experiment"] for p in spec["points"]]
    for point in section["points"]:
        values = [m["validation"]["accuracy"] for m in metrics if m["experiment"] == point["experiment"]]
        assert point["validation_accuracy"]["mean"] == pytest.approx(statistics.fmean(values))
        assert point["validation_accuracy"]["std"] == pytest.approx(statistics.stdev(values))
        assert point["seeds"] == [0, 1]
    by_validation = max(section["points"], key=lambda p: p["validation_accuracy"]["mean"])
    assert section["best"]["experiment"] == by_validation["experiment"] != best_test
    assert [p["best"] for p in section["points"]].count(True) == 1
    assert section["best"]["where"].startswith("learning_rate ")


def test_a_point_without_a_finished_run_has_no_numbers():
    spec = grid_spec({"epochs": [1, 2]})
    [section] = grid_sections({"g": spec}, metrics_for(spec, skip={"g--epochs-2"}))
    missing = section["points"][1]
    assert missing["validation_accuracy"] == {"mean": None, "std": None, "n": 0} and missing["seeds"] == []
    assert section["best"]["experiment"] == "g--epochs-1"


class Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.means, self.best, self.row = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-experiment" in attrs:
            self.row = attrs["data-experiment"]
            if attrs.get("class") == "best":
                self.best = self.row
        if attrs.get("data-kind") == "mean":
            self.means[(self.row, attrs["data-metric"])] = attrs["data-value"]


@pytest.mark.parametrize("language", ["en", "pt"])
def test_the_html_and_latex_partials_show_the_sections_numbers(tmp_path, language):
    spec = grid_spec({"optimizer.learning_rate": [0.001, 0.0001], "epochs": [1, 2]})
    metrics = metrics_for(spec)
    sections = grid_sections({"g": spec}, metrics)
    strings = load_strings(REPO / "report/strings.yaml", language)
    figures = {"grid-g": "data:image/png;base64,AAAA"}
    page = environment(REPO / "report/templates").get_template("_grids.html.j2")
    text = page.render(context={"grids": sections}, t=strings, figures=figures)
    cells = Cells()
    cells.feed(text)
    for point in sections[0]["points"]:
        for column in ("validation_accuracy", "test_accuracy"):
            shown = float(cells.means[(point["experiment"], column)])
            assert shown == pytest.approx(point[column]["mean"], rel=1e-12)
    assert cells.best == sections[0]["best"]["experiment"]
    assert 'data-figure="grid-g"' in text and strings["grids"] in text
    latex = environment(REPO / "report/templates", latex=True).get_template("_grids.tex.j2")
    tex = latex.render(context={"grids": sections}, t=strings, figures={"grid-g": "/tmp/grid-g.pdf"})
    assert "\\includegraphics" in tex and "/tmp/grid-g.pdf" in tex
    best = sections[0]["best"]["validation_accuracy"]
    # Accuracies in percent with two decimals, as the write-ups show them.
    assert f"{100 * best['mean']:.2f} \\%" in tex and f"{100 * best['std']:.2f} \\%" in tex
    assert "learning\\_rate" in tex and "learning_rate" not in tex.replace("learning\\_rate", "")


def test_no_grid_no_section():
    strings = load_strings(REPO / "report/strings.yaml", "en")
    page = environment(REPO / "report/templates").get_template("_grids.html.j2")
    assert page.render(context={"grids": []}, t=strings, figures={}).strip() == ""


def image_width(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big")


@pytest.mark.parametrize(
    "axes",
    [
        {"optimizer.learning_rate": [0.001, 0.0001, 0.00001]},
        {"optimizer.learning_rate": [0.001, 0.0001], "trainable": ["none", "all"]},
        {"optimizer.learning_rate": [0.001, 0.0001], "trainable": ["none", "all"], "epochs": [1, 2, 3]},
    ],
    ids=["line", "heatmap", "small-multiples"],
)
def test_grid_figures_for_one_two_and_more_axes(tmp_path, axes):
    spec = grid_spec(axes)
    strings = load_strings(REPO / "report/strings.yaml", "en")
    png, pdf = tmp_path / "grid.png", tmp_path / "grid.pdf"
    # One point without a run: the figure leaves it blank instead of failing.
    plot_grid(spec, metrics_for(spec, skip={spec["points"][-1]["experiment"]}), strings, [png, pdf])
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert image_width(png) > 300


def test_small_multiples_put_one_panel_per_value_of_the_further_axes(tmp_path):
    strings = load_strings(REPO / "report/strings.yaml", "en")
    widths = []
    for axes in (
        {"optimizer.learning_rate": [0.001, 0.0001], "trainable": ["none", "all"]},
        {"optimizer.learning_rate": [0.001, 0.0001], "trainable": ["none", "all"], "epochs": [1, 2, 3]},
    ):
        spec = grid_spec(axes)
        png = tmp_path / f"grid-{len(axes)}.png"
        plot_grid(spec, metrics_for(spec), strings, [png])
        widths.append(image_width(png))
    assert widths[1] > 2 * widths[0]


def test_a_grid_that_selects_by_balanced_accuracy_chooses_and_shows_by_it(tmp_path):
    """`select: validation_balanced_accuracy`: the best point is the one with the highest balanced
    accuracy on validation, though another has the highest plain accuracy; the test counterpart is shown."""
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    axes = {"optimizer.learning_rate": [0.001, 0.0001, 0.00001]}
    config["grids"] = {
        "g": {"base": "cifar10-stage1", "axes": axes, "select": "validation_balanced_accuracy"}
    }
    grids, problems = expand_grids(config, SCHEMA)
    assert problems == []
    spec = grids["g"].spec()
    assert spec["select"] == "validation_balanced_accuracy"
    metrics = metrics_for(spec)
    first, second = spec["points"][0]["experiment"], spec["points"][1]["experiment"]
    for item in metrics:
        item["validation"]["accuracy"] = 0.9 if item["experiment"] == first else 0.5
        item["validation"]["balanced_accuracy"] = 0.8 if item["experiment"] == second else 0.4
        item["test"]["balanced_accuracy"] = 0.7
    [section] = grid_sections({"g": spec}, metrics)
    assert section["shown"] == ["validation_balanced_accuracy", "test_balanced_accuracy"]
    assert section["best"]["experiment"] == second
    assert section["best"]["test_balanced_accuracy"]["mean"] == pytest.approx(0.7)
    plot_grid(spec, metrics, load_strings(STRINGS_FILE, "en"), [tmp_path / "grid.png"])
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_a_grid_s_selection_metric_is_one_of_the_validation_metrics():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["grids"] = {"g": {"base": "cifar10-stage1", "axes": {"epochs": [1, 2]}, "select": "test_accuracy"}}
    [problem] = schema_errors(config, SCHEMA)
    assert problem.startswith("grids.g.select: 'test_accuracy' is not one of ['validation_accuracy'")
