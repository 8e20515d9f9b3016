"""The report: context from run files, rendering to HTML and LaTeX, figures, and the PDF build.

Rendering tests start from metrics written the way the evaluate rule writes them, and read every number
back out of the rendered HTML and LaTeX, so a template that drops, rounds wrongly or mislabels a number
fails here.
"""

from __future__ import annotations

import base64
import html.parser
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import markupsafe
import numpy as np
import pytest
import yaml

from transfer_study.report import method, plots
from transfer_study.report.claims import load_claims
from transfer_study.report.context import build_context
from transfer_study.report.render import latex_escape, metric, metric_difference, render
from transfer_study.report.results import BALANCE_METRICS, COLUMN_GROUPS, COLUMNS, run_row
from transfer_study.report.words import load_strings
from transfer_study.training.history import write_history

REPO = Path(__file__).resolve().parents[1]
STRINGS = REPO / "report/strings.yaml"
TEMPLATES = REPO / "report/templates"
CLASSES = ["angular_leaf_spot", "bean_rust", "healthy"]


def study_config() -> dict:
    with open(REPO / "config/config.yaml") as handle:
        config = yaml.safe_load(handle)
    config.setdefault("report", {"language": "en"})
    for name, experiment in config["experiments"].items():
        experiment.setdefault("image_size", config["datasets"][experiment["dataset"]]["image_size"])
        experiment["name"] = name
    return config


def reported() -> dict:
    with open(REPO / "config/reported.yaml") as handle:
        return yaml.safe_load(handle)


def fake_metrics(name: str, seed: int, rng: np.random.Generator, classes: list[str]) -> dict:
    """A metrics.json as the evaluate rule writes it, with random but plausible numbers."""
    split = {
        "train": {"accuracy": rng.uniform(0.3, 1), "loss": rng.uniform(0, 3)},
        "validation": {"accuracy": rng.uniform(0.3, 1), "loss": rng.uniform(0, 3)},
    }
    matrix = rng.integers(0, 20, size=(len(classes), len(classes))).tolist()
    for values in split.values():  # what evaluation adds on validation
        values.update(balanced_accuracy=rng.uniform(0.3, 1), macro_f1=rng.uniform(0.3, 1))
    return {
        "experiment": name,
        "seed": seed,
        "epochs_run": 5,
        "kept_epoch": 4,
        "stopped_early": False,
        "diverged": False,
        "train_seconds": float(rng.uniform(30, 900)),
        "trainable_params": 1000 * sum(map(ord, name)),  # one count per experiment, as a model has
        "total_params": 14_714_688,
        "backend": "tensorflow",
        "device": "CPU (x86_64)",
        "versions": {"keras": "3.15.1"},
        "frozen_cache": {"used": name.startswith("cifar10-stage1")},
        **split,
        "test": {
            "accuracy": rng.uniform(0.3, 1),
            "loss": rng.uniform(0, 3),
            "balanced_accuracy": rng.uniform(0.3, 1),
            "macro_f1": rng.uniform(0.3, 1),
            "confusion_matrix": matrix,
        },
        "class_names": classes,
    }


def stats_for(name: str, classes: list[str], size: int) -> dict:
    return {
        "dataset": name,
        "class_names": classes,
        "image_shape": [size, size, 3],
        "splits": {
            split: {"total": 7 * len(classes), "per_class": dict.fromkeys(classes, 7)}
            for split in ("train", "validation", "test")
        },
        "skipped": [{"archive": "train.zip", "member": "train/x/notes.jpg", "reason": "not an image"}],
        "duplicates_across_splits": {"train-validation": 0, "train-test": 2, "validation-test": 0},
    }


def make_context(
    language="en", demo=False, seeds=(0, 1), drop=(), diverge=(), config=None, claims=None, order=None,
    imbalanced=(),
) -> tuple[dict, dict]:  # fmt: skip
    """A report context from fake runs of every experiment of `config`; `order` names those with a
    section of their own (the written ones, as the workflow passes them), by default all."""
    config = config or study_config()
    config["demo"], config["seeds"] = demo, list(seeds)
    config["report"] = {"language": language}
    rng = np.random.default_rng(7)
    metrics = []
    for name, experiment in config["experiments"].items():
        classes = config["datasets"][experiment["dataset"]]["class_names"]
        for seed in seeds:
            if name in drop:
                continue
            item = fake_metrics(name, seed, rng, classes)
            if (name, seed) in diverge:
                item["diverged"] = True
                item["train"]["loss"] = math.nan
            metrics.append(item)
    stats = [
        stats_for(name, dataset["class_names"], dataset["image_size"])
        for name, dataset in config["datasets"].items()
    ]
    for item in stats:
        if item["dataset"] in imbalanced:  # the first class three times the others, in train
            item["splits"]["train"]["per_class"][item["class_names"][0]] = 21
    benchmarks = {"train/beans-2/seed0.tsv": 12.5, "evaluate/beans-2/seed0.tsv": 1.25}
    strings = load_strings(STRINGS, language)
    sections = {name: config["experiments"][name] for name in (order or config["experiments"])}
    context = build_context(
        config,
        sections,
        metrics,
        stats,
        reported(),
        benchmarks,
        strings,
        REPO,
        claims=claims or load_claims(REPO / "config/claims.yaml"),
    )
    return json.loads(json.dumps(context)), strings  # exactly what the context rule writes and reads back


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Real figures drawn by the plotting module, as PNG (HTML) and PDF (LaTeX)."""
    folder = tmp_path_factory.mktemp("figures")
    words = load_strings(STRINGS, "en")
    history = folder / "history.csv"
    rows = [
        {
            "epoch": e,
            "loss": 1 / e,
            "accuracy": e / 5,
            "val_loss": 1.2 / e,
            "val_accuracy": e / 6,
            "seconds": 1,
        }
        for e in range(1, 5)
    ]
    write_history(history, rows)
    png, pdf = {}, {}
    context, _ = make_context()
    for study, data in context["studies"].items():
        for group in data["groups"]:
            key = f"curves-{study}-{group['group']}"
            outputs = [folder / f"{key}.png", folder / f"{key}.pdf"]
            plots.plot_curves({label: [history, history] for label in group["members"]}, words, outputs)
            png[key], pdf[key] = map(str, outputs)
        metrics = [
            {**fake_metrics(e["name"], r["seed"], np.random.default_rng(1), ["a", "b"]),
             "validation": {"accuracy": r["validation_accuracy"], "loss": 1.0}}
            for e in data["experiments"] for r in e["runs"]
        ]  # fmt: skip
        outputs = SimpleNamespace(
            **{f"{kind}_{ext}": folder / f"{kind}-{study}.{ext}" for kind in ("confusion", "reproduced")
               for ext in ("png", "pdf")}
        )  # fmt: skip
        labels = {e["name"]: e["label"] for e in data["experiments"]}
        plots.plot_study_figures(metrics, labels, reported()[study]["results"], words, outputs)
        for kind in ("confusion", "reproduced"):
            png[f"{kind}-{study}"] = str(getattr(outputs, f"{kind}_png"))
            pdf[f"{kind}-{study}"] = str(getattr(outputs, f"{kind}_pdf"))
    return {"png": png, "pdf": pdf}


class Cells(html.parser.HTMLParser):
    """Every element carrying data-value, with its attributes and the text it shows; every image source."""

    def __init__(self):
        super().__init__()
        self.cells, self.images, self.open = [], [], []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs)
        if "data-value" in attrs:
            self.open.append({**attrs, "text": ""})

    def handle_data(self, data):
        for cell in self.open:
            cell["text"] += data

    def handle_endtag(self, tag):
        if tag in ("td", "span") and self.open:
            self.cells.append(self.open.pop())


def parse_html(text: str) -> Cells:
    parser = Cells()
    parser.feed(text)
    return parser


def shown_number(text: str, column: str) -> float | None:
    """The number a cell shows, in the context's unit (accuracies as fractions)."""
    first = text.strip().split("±")[0].strip()
    if first in ("–", "--"):
        return None
    if column.endswith(("accuracy", "f1")):
        unit = first.split()[1]
        assert unit in ("%", r"\%", "pp"), text  # percent, or percentage points for a difference
        return float(first.split()[0]) / 100
    return float(first)


def shown_precision(column: str) -> float:
    """Half of the last shown digit, in the context's unit: 74.77 % and 0.1234 are rounded there."""
    return {"train_minutes": 0.005}.get(column, 0.00005) + 1e-9


def test_every_number_in_the_html_is_the_contexts(figures):
    context, strings = make_context()
    page = parse_html(render(context, strings, TEMPLATES, "report.html.j2", figures["png"]))
    expected = {}
    for data in context["studies"].values():
        for entry in data["experiments"]:
            for column in COLUMNS:
                expected[(entry["name"], column, "mean")] = entry["summary"][column]["mean"]
                expected[(entry["name"], column, "std")] = entry["summary"][column]["std"]
                expected[(entry["name"], column, "reported")] = entry["reported"].get(column)
                expected[(entry["name"], column, "difference")] = entry["difference"].get(column)
    seen = {}
    rows = [cell for cell in page.cells if "data-metric" in cell]
    # Each results cell knows its experiment through its row; walk rows in document order.
    names = [e["name"] for data in context["studies"].values() for e in data["experiments"]]
    per_row = len(COLUMNS) * 4 - len(COLUMNS) * 0  # mean, std (several seeds), reported, difference
    assert len(rows) == len(names) * per_row
    for index, cell in enumerate(rows):
        name = names[index // per_row]
        key = (name, cell["data-metric"], cell["data-kind"])
        value = None if cell["data-value"] == "None" else float(cell["data-value"])
        seen[key] = value
        want = expected[key]
        if want is None:
            assert value is None and shown_number(cell["text"], cell["data-metric"]) is None, key
        else:
            assert value == pytest.approx(want, rel=1e-12), key
            column = cell["data-metric"]
            assert shown_number(cell["text"], column) == pytest.approx(want, abs=shown_precision(column)), key
    assert seen.keys() == expected.keys()


def test_the_reported_numbers_are_the_write_ups():
    context, _ = make_context()
    beans = {e["name"]: e for e in context["studies"]["beans"]["experiments"]}
    assert beans["beans-3a"]["reported"]["test_accuracy"] == pytest.approx(0.9531)
    assert beans["beans-1-relu"]["reported"]["train_loss"] == pytest.approx(5.7159)
    cifar = {e["name"]: e for e in context["studies"]["cifar10"]["experiments"]}
    assert [cifar[f"cifar10-stage{i}"]["reported"]["validation_accuracy"] for i in (1, 2, 3)] == [
        pytest.approx(0.3832), pytest.approx(0.5015), pytest.approx(0.7429)]  # fmt: skip
    best = context["studies"]["cifar10"]["best"]
    entry = cifar[best["experiment"]]
    assert best["reported_test_accuracy"] == entry["reported"].get("test_accuracy")
    # The difference is ours minus theirs.
    diff = entry["difference"]["validation_accuracy"]
    assert diff == pytest.approx(
        entry["summary"]["validation_accuracy"]["mean"] - entry["reported"]["validation_accuracy"]
    )


def test_images_are_embedded_and_every_figure_appears(figures):
    context, strings = make_context()
    page = parse_html(render(context, strings, TEMPLATES, "report.html.j2", figures["png"]))
    sources = {image["data-figure"]: image["src"] for image in page.images}
    assert set(sources) == set(figures["png"])
    for key, source in sources.items():
        assert source.startswith("data:image/png;base64,"), key
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n", key


def test_images_shared_by_two_splits_are_reported(figures):
    context, strings = make_context()
    page = render(context, strings, TEMPLATES, "report.html.j2", figures["png"])
    assert "pixel for pixel, in two splits: train-validation 0, train-test 2, validation-test 0." in page
    tex = render(context, strings, TEMPLATES, "report.tex.j2", figures["pdf"], latex=True)
    assert "train-test 2" in tex


def test_demo_banner_only_for_demo_runs(figures):
    for demo in (True, False):
        context, strings = make_context(demo=demo)
        page = parse_html(render(context, strings, TEMPLATES, "report.html.j2", figures["png"]))
        assert ("demo-warning" in page.ids) is demo


def test_portuguese_report_uses_portuguese_words(figures):
    context, strings = make_context(language="pt")
    text = render(context, strings, TEMPLATES, "report.html.j2", figures["png"])
    assert '<html lang="pt">' in text
    english = load_strings(STRINGS, "en")
    for key in ("results", "hyperparameters", "provenance", "method", "experiments", "observations"):
        assert f">{strings[key]}<" in text, key
        assert f">{english[key]}<" not in text, key
    shipped = load_claims(REPO / "config/claims.yaml")
    for claim in context["studies"]["beans"]["claims"]:
        assert claim["text"] == next(c["pt"] for c in shipped["beans"] if c["id"] == claim["id"])
        assert claim["text"] in text


def test_every_language_has_every_string():
    with open(STRINGS) as handle:
        every = yaml.safe_load(handle)
    assert set(every) >= {"en", "pt"}
    for language, strings in every.items():
        assert set(strings) == set(every["en"]), language
        assert all(isinstance(value, str) and value for value in strings.values()), language
    with pytest.raises(ValueError, match="report.language 'fr'"):
        load_strings(STRINGS, "fr")


def test_failed_and_diverged_runs_are_named_not_fatal(figures):
    context, strings = make_context(drop=("beans-3b",), diverge=(("beans-1-relu", 0),))
    beans = {e["name"]: e for e in context["studies"]["beans"]["experiments"]}
    assert beans["beans-3b"]["failed"] and beans["beans-3b"]["summary"]["test_accuracy"]["n"] == 0
    relu = beans["beans-1-relu"]
    assert relu["diverged_runs"] == 1
    assert relu["summary"]["train_loss"]["n"] == 1  # the NaN loss is left out of the mean, not averaged in
    notes = context["studies"]["beans"]["observations"]
    assert any(n.startswith("3-b: no run finished") for n in notes)
    assert any(n.startswith("1 (ReLU): 1 run(s) diverged") for n in notes)
    text = render(context, strings, TEMPLATES, "report.html.j2", figures["png"])
    assert re.search(r'<tr data-experiment="beans-3b" class="failed"><td>3-b \(no finished run\)', text)


def test_nan_metrics_become_gaps():
    row = run_row({"seed": 0, "train": {"accuracy": math.nan, "loss": math.inf}, "train_seconds": 60})
    assert row["train_accuracy"] is None and row["train_loss"] is None and row["train_minutes"] == 1


def latex_rows(text: str, labels: list[str]) -> dict[str, list[str]]:
    """The cells of each results-table row of the .tex, by experiment label, the table's parts joined
    in the order of COLUMNS."""
    rows = {label: [] for label in labels}
    for part in COLUMN_GROUPS:
        for line in text.splitlines():
            for label in labels:
                if line.startswith(label + " &") and line.count("&") == 3 * len(part):
                    rows[label] += [cell.strip().rstrip("\\").strip() for cell in line.split("&")[1:]]
    return {label: cells for label, cells in rows.items() if cells}


def latex_number(cell: str, column: str) -> float | None:
    return shown_number(cell.split(r"\,$\pm$")[0], column)


def test_every_number_in_the_latex_is_the_contexts(figures):
    context, strings = make_context()
    text = render(context, strings, TEMPLATES, "report.tex.j2", figures["pdf"], latex=True)
    for data in context["studies"].values():
        labels = [e["label"] for e in data["experiments"]]
        rows = latex_rows(text, [label.replace("_", r"\_") for label in labels])
        assert len(rows) == len(labels)
        order = [column for part in COLUMN_GROUPS for column in part]
        for entry in data["experiments"]:
            cells = rows[entry["label"]]
            assert len(cells) == 3 * len(COLUMNS)
            for index, column in enumerate(order):
                mean, reported, difference = cells[3 * index : 3 * index + 3]
                for cell, want in (
                    (mean, entry["summary"][column]["mean"]),
                    (reported, entry["reported"].get(column)),
                    (difference, entry["difference"].get(column)),
                ):
                    got = latex_number(cell, column)
                    if want is None:
                        assert got is None
                    else:
                        assert got == pytest.approx(want, abs=shown_precision(column))
    for path in figures["pdf"].values():
        assert f"{{{path}}}" in text


@pytest.mark.skipif(
    shutil.which("latexmk") is None, reason="latexmk (TeX) not installed; .ci/run installs it"
)
@pytest.mark.parametrize("language", ["en", "pt"])
def test_latex_compiles_to_a_pdf(figures, tmp_path, language):
    context, strings = make_context(language=language, demo=True, drop=("beans-2",))
    tex = tmp_path / "report.tex"
    tex.write_text(render(context, strings, TEMPLATES, "report.tex.j2", figures["pdf"], latex=True))
    result = subprocess.run(
        [
            "latexmk",
            "-pdf",
            "-interaction=nonstopmode",
            "-halt-on-error",
            f"-outdir={tmp_path / 'build'}",
            str(tex),
        ],
        capture_output=True,
        encoding="utf-8",
        errors="replace",  # TeX quotes overfull lines in its own 8-bit encoding, not UTF-8
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    pdf = tmp_path / "build/report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    log = (tmp_path / "build/report.log").read_text(errors="replace")
    assert "LaTeX Warning: File" not in log  # every figure was found
    # Every table and line fits its page: nothing sticks out past the margin by more than a hair.
    too_wide = [float(points) for points in re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide\)", log)]
    assert all(points < 3 for points in too_wide), too_wide


def test_claims_and_their_verdicts_appear_in_both_formats(figures):
    context, strings = make_context(seeds=(0, 1, 2))
    page = render(context, strings, TEMPLATES, "report.html.j2", figures["png"])
    tex = render(context, strings, TEMPLATES, "report.tex.j2", figures["pdf"], latex=True)
    shipped = load_claims(REPO / "config/claims.yaml")
    for study, claims in shipped.items():
        judged = {claim["id"]: claim for claim in context["studies"][study]["claims"]}
        assert list(judged) == [claim["id"] for claim in claims]  # every claim, in the file's order
        for claim in judged.values():
            assert claim["verdict"] in ("holds", "contradicted", "unresolved")  # three seeds each
            assert f'<tr data-claim="{claim["id"]}" data-verdict="{claim["verdict"]}">' in page
            assert claim["verdict_text"] == strings[f"verdict_{claim['verdict']}"]
            row = " & ".join(latex_escape(claim[key]) for key in ("text", "section", "verdict_text"))
            assert row + " &" in tex
    assert strings["appendix_text"].split(",")[0] in page


def test_the_glance_counts_the_judged_numbers_and_claims(figures):
    context, strings = make_context(seeds=(0, 1, 2), drop=("beans-3b",))
    page = render(context, strings, TEMPLATES, "report.html.j2", figures["png"])
    for study, data in context["studies"].items():
        section = page.split(f'<section id="study-{study}">')[1].split("</section>")[0]
        judged = re.findall(r'<tr data-experiment="[^"]+" data-judged="[^"]+" data-verdict="(\w+)">', section)
        reported = sum(len(e["reported"]) - ("train_minutes" in e["reported"]) for e in data["experiments"])
        assert len(judged) == reported == data["tally"]["numbers_total"]
        for verdict, count in data["tally"]["numbers"].items():
            assert judged.count(verdict) == count
            assert f'data-glance="numbers-{verdict}">{count}<' in section
        verdicts = [claim["verdict"] for claim in data["claims"]]
        for verdict, count in data["tally"]["claims"].items():
            assert verdicts.count(verdict) == count
            assert f'data-glance="claims-{verdict}">{count}<' in section
    # The claims that name the experiment without runs are not checked, and say why.
    beans = context["studies"]["beans"]
    unchecked = [claim for claim in beans["claims"] if claim["verdict"] == "not_checked"]
    assert {claim["id"] for claim in unchecked} == {
        "beans-finetuning-over-1-and-2",
        "beans-finetuning-close",
        "beans-finetuning-time-grows",
    }
    assert all(claim["verdict_text"] == "not checked: no finished run of beans-3b" for claim in unchecked)


def squeezenet_on_beans() -> dict:
    """A study written only in the config: SqueezeNet on beans, no augmentation, three experiments."""
    config = study_config()
    base = {
        "study": "beans", "dataset": "beans", "model": "squeezenet", "weights": "squeezenet_imagenet",
        "optimizer": {"name": "adam", "learning_rate": 0.001}, "loss": "categorical_crossentropy",
        "epochs": 3, "batch_size": 8, "early_stopping": None, "augmentation": None,
        "head": {"activation": "softmax", "dropout": 0.5}, "image_size": 224,
    }  # fmt: skip
    config["experiments"] = {
        f"leaves-{trainable}": {**base, "name": f"leaves-{trainable}", "trainable": trainable, "group": "1"}
        for trainable in ("none", "all")
    }
    config["experiments"]["leaves-scratch"] = {
        **base,
        "name": "leaves-scratch",
        "weights": None,
        "trainable": "all",
    }
    config["datasets"] = {"beans": config["datasets"]["beans"]}
    return config


@pytest.mark.parametrize("language", ["en", "pt"])
def test_a_config_only_study_is_described_as_it_ran(figures, language):
    context, strings = make_context(language=language, seeds=(0, 1, 2), config=squeezenet_on_beans())
    (part,) = context["studies"].values()
    assert part["title"] == strings["part_title"].format(
        number=1, models="SqueezeNet v1.1", datasets=strings["dataset_on_beans_zip"]
    )
    assert "VGG16" not in part["title"] + part["method"]
    assert strings["method_no_augmentation"] in part["method"]
    assert strings["method_augmentation"].split("{")[0] not in part["method"]
    assert strings["method_input_squeezenet"] in part["method"]
    assert strings["change_weights"] in part["method"] and strings["change_trainable"] in part["method"]
    assert strings["change_activation"] not in part["method"]  # every experiment has the same output
    # The write-ups' claims name experiments this config lacks: not checked, and each one says so.
    shipped = load_claims(REPO / "config/claims.yaml")
    assert [claim["id"] for claim in part["claims"]] == [claim["id"] for claim in shipped["beans"]]
    for claim in part["claims"]:
        assert claim["verdict"] == "not_checked" and claim["missing"]
        assert claim["verdict_text"] == strings["claim_missing"].format(names=", ".join(claim["missing"]))
    assert part["tally"]["claims"]["not_checked"] == len(shipped["beans"])
    # The other write-up has no part in this run: its claims are listed, not dropped.
    assert [claim["id"] for claim in context["claims_elsewhere"]] == [c["id"] for c in shipped["cifar10"]]
    assert part["observations"] == []  # every run finished
    page = render(context, strings, TEMPLATES, "report.html.j2", {})
    own_words = page
    for claim in part["claims"]:  # the write-up's claims may name its model; nothing else may
        own_words = own_words.replace(str(markupsafe.escape(claim["text"])), "")
    assert "VGG16" not in own_words
    for claim in context["claims_elsewhere"]:
        assert f'<li data-claim="{claim["id"]}">{markupsafe.escape(claim["text"])}</li>' in page


def test_claims_of_a_study_whose_experiments_were_renamed_are_not_checked():
    config = study_config()
    config["experiments"]["beans-extract"] = config["experiments"].pop("beans-2")
    context, strings = make_context(seeds=(0, 1, 2), config=config)
    claims = {claim["id"]: claim for claim in context["studies"]["beans"]["claims"]}
    renamed = claims["beans-extraction-below-scratch"]
    assert renamed["verdict"] == "not_checked" and renamed["missing"] == ["beans-2"]
    assert renamed["verdict_text"] == strings["claim_missing"].format(names="beans-2")
    assert claims["beans-softmax-over-relu-test"]["verdict"] != "not_checked"
    # Renamed in the claims file as well: every claim is checked again.
    text = (REPO / "config/claims.yaml").read_text().replace("beans-2,", "beans-extract,")
    renamed_claims = yaml.safe_load(text.replace("beans-2]", "beans-extract]"))
    renamed_claims = {study: block["claims"] for study, block in renamed_claims.items()}
    context, _ = make_context(seeds=(0, 1, 2), config=config, claims=renamed_claims)
    assert all(claim["verdict"] != "not_checked" for claim in context["studies"]["beans"]["claims"])


def test_accuracies_in_percent_losses_as_decimals():
    assert metric(0.7477, "test_accuracy") == "74.77 %"
    assert metric(0.12345, "test_loss") == "0.1235"
    assert metric(12.345, "train_minutes") == "12.35"
    assert metric(None, "test_accuracy") == metric(math.nan, "test_loss") == "–"
    assert metric_difference(-0.0123, "validation_accuracy", "pp") == "-1.23 pp"
    assert metric_difference(-1e-9, "validation_accuracy", "pp") == "+0.00 pp"  # no negative zero
    assert metric_difference(0.25, "train_loss", "pp") == "+0.2500"


def test_method_sentences_follow_the_settings_that_differ():
    strings = load_strings(STRINGS, "en")
    base = {"model": "vgg16", "weights": None, "trainable": "all", "head": {"activation": "softmax"}}
    entries = [
        {"label": "plain", "frozen_cache": False, "settings": base},
        {"label": "flipped", "frozen_cache": False,
         "settings": {**base, "model": "squeezenet", "augmentation": {"horizontal_flip": True}}},
    ]  # fmt: skip
    text = method.method_text(entries, [], {}, strings)
    assert strings["method_models"].format(models="VGG16 and SqueezeNet v1.1") in text
    assert strings["method_input_vgg16"] in text and strings["method_input_squeezenet"] in text
    assert strings["method_changes"].format(changes="the model and the augmentation") in text
    kinds, which = strings["aug_horizontal_flip"], strings["aug_some"].format(labels="flipped")
    assert strings["method_augmentation"].format(kinds=kinds, which=which) in text
    assert strings["method_cache"] not in text
    assert method.model_title("vgg16") == "VGG16" and method.model_title("resnet50") == "resnet50"


@pytest.mark.parametrize("language", ["en", "pt"])
def test_a_format_without_words_of_its_own_is_named_by_its_data_set(language):
    strings = load_strings(STRINGS, language)
    formats = {"leaves": "image_folder"}
    stats = {
        "dataset": "leaves",
        "class_names": ["healthy", "rust"],
        "splits": {"train": {"total": 40}, "validation": {"total": 10}, "test": {"total": 10}},
        "image_shape": [64, 64, 3],
    }
    sentence = method.data_sentence(stats, formats, strings)
    assert "leaves" in sentence and "healthy, rust" in sentence and "64x64" in sentence
    assert "{" not in sentence
    settings = [{"model": "resnet50v2", "dataset": "leaves"}]
    title = method.part_title(1, settings, formats, strings)
    assert "ResNet50V2" in title and "leaves" in title


def test_learning_curves_carry_the_write_ups_validation_accuracy_as_a_reference(tmp_path, monkeypatch):
    history = tmp_path / "history.csv"
    write_history(history, [{"epoch": e, "loss": 1 / e, "accuracy": e / 5, "val_loss": 1 / e,
                             "val_accuracy": e / 6, "seconds": 1} for e in range(1, 4)])  # fmt: skip
    drawn = []
    monkeypatch.setattr(plots, "save", lambda figure, outputs: drawn.append(figure))
    words = load_strings(STRINGS, "en")
    groups = {"Stage 1": [history], "Stage 2": [], "Stage 3": [history]}  # stage 2 failed: no history
    plots.plot_curves(groups, words, [], {"Stage 1": 0.3832, "Stage 2": 0.5015, "Stage 3": None})
    accuracy = drawn[0].axes[1]
    flat = [line for line in accuracy.get_lines() if len(set(line.get_ydata())) == 1]
    assert sorted(line.get_ydata()[0] for line in flat) == [0.3832, 0.5015]
    labels = accuracy.get_legend_handles_labels()[1]
    assert "Stage 1 (write-up's final validation, 38.32 %)" in labels
    # A reference keeps its experiment's colour, as the curves do, even where an earlier run failed.
    stage3 = next(line for line in accuracy.get_lines() if line.get_label().startswith("Stage 3 ("))
    stage2_reference = next(line for line in flat if line.get_ydata()[0] == 0.5015)
    assert stage3.get_color() != stage2_reference.get_color()


@pytest.mark.parametrize(("language", "separator", "of"), [("en", ",", "of"), ("pt", ".", "de")])
def test_each_experiment_shows_the_parameters_it_trains(figures, language, separator, of):
    context, strings = make_context(language=language)
    text = render(context, strings, TEMPLATES, "report.html.j2", figures["png"])
    for data in context["studies"].values():
        for entry in data["experiments"]:
            count = f"{1000 * sum(map(ord, entry['name'])):,}".replace(",", separator)
            cell = f"<td>{count} {of} 14{separator}714{separator}688</td>"
            assert text.count(cell) >= 1, (entry["name"], cell)


@pytest.mark.parametrize("language", ["en", "pt"])
def test_the_method_says_how_splits_the_data_lacked_were_drawn(language):
    strings = load_strings(STRINGS, language)
    stats = {
        "dataset": "leaves",
        "class_names": ["healthy", "rust"],
        "splits": {"train": {"total": 32}, "validation": {"total": 8}, "test": {"total": 10}},
        "image_shape": [64, 64, 3],
    }
    plain = method.data_sentence(stats, {"leaves": "image_folder"}, strings)
    carved = {**stats, "validation_split": {"from": "train", "validation_fraction": 0.2, "split_seed": 7}}
    sentence = method.data_sentence(carved, {"leaves": "image_folder"}, strings)
    assert sentence == f"{plain} {strings['data_carved'].format(percent='20', seed=7)}"
    pooled = {**stats, "pool_split": {"validation_fraction": 0.15, "test_fraction": 0.25, "split_seed": 3}}
    sentence = method.data_sentence(pooled, {"leaves": "image_folder"}, strings)
    assert sentence.endswith(strings["data_pooled"].format(validation="15", test="25", seed=3))
    assert "{" not in sentence


@pytest.mark.parametrize("language", ["en", "pt"])
def test_an_imbalanced_dataset_gets_balanced_scores_beside_its_results(figures, language):
    """Beans' training split is made 3:1: its part shows each experiment's balanced accuracy and macro
    F1 (mean and spread over seeds) and says why; CIFAR-10's, balanced, does not."""
    context, strings = make_context(language=language, imbalanced={"beans"})
    beans, cifar = context["studies"]["beans"], context["studies"]["cifar10"]
    assert cifar["imbalance"] is None
    assert beans["imbalance"] == {
        "dataset": "beans", "split": "train", "ratio": 3.0,
        "largest": "angular_leaf_spot", "smallest": "bean_rust",
    }  # fmt: skip
    page = render(context, strings, TEMPLATES, "report.html.j2", figures["png"])
    assert page.count('<table class="balanced"') == 1
    assert strings["imbalance_text"].format(
        split="train", dataset="beans", largest="angular_leaf_spot", smallest="bean_rust", ratio="3.0"
    ) in html.unescape(page)
    cells = [cell for cell in parse_html(page).cells if cell.get("data-metric") in BALANCE_METRICS]
    assert len(cells) == len(beans["experiments"]) * len(BALANCE_METRICS)
    for index, cell in enumerate(cells):
        entry = beans["experiments"][index // len(BALANCE_METRICS)]
        want = entry["summary"][cell["data-metric"]]
        assert float(cell["data-value"]) == pytest.approx(want["mean"])
        assert shown_number(cell["text"], cell["data-metric"]) == pytest.approx(want["mean"], abs=5e-5)
    latex = render(context, strings, TEMPLATES, "report.tex.j2", figures["pdf"], latex=True)
    assert latex.count(strings["imbalance"]) == 1
    assert f"{100 * beans['experiments'][0]['summary']['test_macro_f1']['mean']:.2f}" in latex


def test_a_model_card_copies_the_run_s_numbers_and_says_where_they_stop_meaning_much():
    from transfer_study.report.model_card import card_markdown, model_card

    rng = np.random.default_rng(2)
    classes = ["a", "b"]
    seeds = [fake_metrics("mine", seed, rng, classes) for seed in (0, 1)]
    for item in seeds:
        item["test"]["images"] = 40
    stats = stats_for("mine", classes, 64)
    stats["splits"]["train"]["per_class"] = {"a": 30, "b": 10}
    summary = {"epochs_run": 5, "epochs_max": 9, "kept_epoch": 4, "stopped_early": True,
               "train_seconds": 61.5, "train_images": 40, "class_weight": None, "precision": "float32",
               "backend": "tensorflow", "device": "CPU", "versions": {"keras": "3.15.1"}}  # fmt: skip
    experiment = {"study": "s", "dataset": "mine", "model": "resnet50v2", "weights": "imagenet",
                  "trainable": ["stage5"], "image_size": 64, "label": "Mine"}  # fmt: skip
    weights = {"url": "https://example.org/w.h5", "checksums": {"sha256": "0" * 64}}
    card = model_card("mine", experiment, seeds[1], summary, stats, seeds, weights)
    assert card["metrics"]["test"]["accuracy"] == seeds[1]["test"]["accuracy"]
    assert card["metrics"]["validation"]["macro_f1"] == seeds[1]["validation"]["macro_f1"]
    mean = (seeds[0]["test"]["accuracy"] + seeds[1]["test"]["accuracy"]) / 2
    assert card["seed_spread"]["test_accuracy"]["mean"] == pytest.approx(mean)
    assert card["model"]["weights_source"] == weights and card["training"]["kept_epoch"] == 4
    notes = " ".join(card["limitations"])
    assert "tested on 40 images" in notes and "2.5 points of test accuracy" in notes
    assert "imbalanced" in notes and "2 run(s)" in notes
    text = card_markdown(card)
    assert text.startswith("# Model card: Mine (seed 1)")
    assert f"{100 * seeds[1]['test']['accuracy']:.2f} %" in text
    assert "kept epoch: 4 (stopped early)" in text and "`stage5`" in text
