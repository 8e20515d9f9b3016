"""Your own images end to end: image_folder datasets from a directory (pre-split) and from a zip (one pool
split by the config), and a csv dataset (a folder of unsorted images and a table of their labels), each
trained by one tiny experiment through the real Snakefile; then a changed image reruns only what was
made from its folder, and an edit of a format's module only its datasets."""

import csv
import hashlib
import json

import pytest
import yaml
from conftest import dry_run_jobs, snakemake
from test_formats import class_files, image_bytes, presplit_files, write_folder, write_zip

pytestmark = pytest.mark.workflow

CONFIG = "config/mine.yaml"


def tiny_experiment(study: str, dataset: str) -> dict:
    return {
        "study": study,
        "dataset": dataset,
        "model": "squeezenet",
        "weights": None,
        "trainable": "all",
        "epochs": 1,
        "batch_size": 8,
    }


def write_config(workdir) -> None:
    """A directory with train/, validation/ and test/, and a zip of one pool of class folders fetched
    from a file:// url, as a user would give them."""
    write_folder(workdir / "photos", presplit_files(counts={"train": 8, "validation": 3, "test": 3}))
    # The same kind of images without class folders, labelled by a table with a split column; 2.5 dogs
    # to a cat, so the report scores it by the balanced metrics too.
    unsorted = class_files("", {"cat": 10, "dog": 25})
    renamed = {
        name: f"img/{index:03d}{name[name.rindex('.') :]}" for index, name in enumerate(sorted(unsorted))
    }
    rows = ["file,kind,split"] + [
        f"{renamed[name]},{name.split('/')[0]},{'test' if index % 5 == 0 else 'train'}"
        for index, name in enumerate(sorted(unsorted))
    ]
    files = {renamed[name]: data for name, data in unsorted.items()}
    write_folder(workdir / "tabled", files | {"labels.csv": ("\n".join(rows) + "\n").encode()})
    pool = write_zip(workdir.parent / "pool.zip", class_files("pool/", {"cat": 15, "dog": 15}))
    # New photos to classify with a trained run: no class folders, one file that is no image.
    incoming = {f"{index}.png": image_bytes((200, 30 + index, 30)) for index in range(3)}
    write_folder(workdir / "incoming", incoming | {"notes.png": b"not an image"})
    config = {
        "results": "results/mine",
        "resources": "resources/mine",
        "seeds": [0],
        "sources": {
            "photos": {"directory": "photos"},
            "tabled": {"directory": "tabled"},
            "incoming": {"directory": "incoming"},
            "pool": {
                "path": "data/pool.zip",
                "url": pool.resolve().as_uri(),
                "checksums": {"sha256": hashlib.sha256(pool.read_bytes()).hexdigest()},
            },
        },
        "datasets": {
            "folders": {"format": "image_folder", "splits": {"presplit": "photos"}, "image_size": 32},
            "tabled": {
                "format": "csv",
                "splits": {"images": "tabled"},
                "table": "labels.csv",
                "path_column": "file",
                "label_column": "kind",
                "split_column": "split",
                "image_size": 32,
            },
            "zipped": {
                "format": "image_folder",
                "splits": {"pool": "pool"},
                "class_names": ["cat", "dog"],
                "image_size": 32,
                "validation_fraction": 0.2,
                "test_fraction": 0.2,
                "split_seed": 3,
            },
        },
        "experiments": {
            "tabled-scratch": tiny_experiment("tabled", "tabled") | {"class_weight": "auto"},
            "folders-scratch": tiny_experiment("folders", "folders"),
            "zipped-scratch": tiny_experiment("zipped", "zipped"),
        },
        "report": {"pdf": False},
        "predict": {"new": {"images": "incoming", "experiment": "folders-scratch", "top_k": 1}},
    }
    (workdir / CONFIG).write_text(yaml.safe_dump(config))


def planned_rules(workdir) -> list[tuple[str, str]]:
    return dry_run_jobs(workdir, CONFIG)


def test_image_folder_datasets_run_end_to_end_and_a_changed_image_reruns_its_chain_only(workflow_dir):
    write_config(workflow_dir)
    snakemake(workflow_dir, "--cores", "2", "--configfile", CONFIG, timeout=600)
    results = workflow_dir / "results/mine"
    for name in ("folders-scratch", "zipped-scratch"):
        metrics = json.loads((results / f"runs/{name}/seed0/metrics.json").read_text())
        assert metrics["class_names"] == ["cat", "dog"]
        assert metrics["test"]["images"] == 6  # 3 per class in test/; 20 % of 15 per class from the pool
    tabled = json.loads((results / "runs/tabled-scratch/seed0/metrics.json").read_text())
    assert tabled["class_names"] == ["cat", "dog"]
    assert tabled["test"]["images"] == 7  # every fifth row of 35 is test
    table_stats = json.loads((results / "data/tabled-32px.stats.json").read_text())
    assert table_stats["validation_split"]["from"] == "train"
    assert table_stats["table"]["rows"] == 35
    # Imbalanced: weighted by class in training, scored by the balanced metrics in every output.
    train_json = json.loads((results / "runs/tabled-scratch/seed0/train.json").read_text())
    assert train_json["class_weight"] == pytest.approx({"cat": 22 / (2 * 6), "dog": 22 / (2 * 16)})
    assert 0 <= tabled["test"]["balanced_accuracy"] <= 1 and 0 <= tabled["validation"]["macro_f1"] <= 1
    with open(results / "summary.csv", newline="") as handle:
        row = next(row for row in csv.DictReader(handle) if row["experiment"] == "tabled-scratch")
    assert float(row["test_balanced_accuracy"]) == pytest.approx(tabled["test"]["balanced_accuracy"])
    assert row["class_weight"] == "auto"
    page = (results / "report/report.html").read_text()
    section = page[page.index('<section id="study-tabled"') :]
    section = section[: section.index("</section>")]
    assert '<table class="balanced" data-study="tabled">' in section
    assert '<table class="balanced"' not in page.replace('<table class="balanced" data-study="tabled">', "")
    with open(results / "runs/tabled-scratch/seed0/predictions.csv", newline="") as handle:
        predicted = list(csv.DictReader(handle))
    assert {row["source"] for row in predicted} == {"tabled"}
    assert all(row["member"].startswith("img/") for row in predicted) and len(predicted) == 7
    assert (results / "report/report.html").exists() and (results / "summary.csv").exists()
    folders = json.loads((results / "data/folders-32px.stats.json").read_text())
    assert folders["splits"]["train"]["per_class"] == {"cat": 8, "dog": 8}
    zipped = json.loads((results / "data/zipped-32px.stats.json").read_text())
    assert zipped["pool_split"]["split_seed"] == 3
    assert zipped["splits"]["validation"]["per_class"] == {"cat": 3, "dog": 3}
    assert len(zipped["pool_split"]["members"]["train"]) == zipped["splits"]["train"]["total"] == 18

    with open(results / "predictions/new.csv", newline="") as handle:
        predicted = {row["image"].rsplit("/", 1)[1]: row for row in csv.DictReader(handle)}
    assert sorted(predicted) == ["0.png", "1.png", "2.png", "notes.png"]
    assert predicted["notes.png"]["error"] and not predicted["notes.png"]["predicted_class"]
    assert {predicted[f"{index}.png"]["predicted_class"] for index in range(3)} <= {"cat", "dog"}
    assert "top_2_class" not in predicted["0.png"]

    assert planned_rules(workflow_dir) == []
    # A new photo to classify reruns that prediction set alone.
    (workflow_dir / "incoming/3.png").write_bytes(image_bytes((30, 30, 200)))
    assert [rule for rule, _ in planned_rules(workflow_dir)] == ["predict", "all"]
    snakemake(workflow_dir, "--cores", "2", "--configfile", CONFIG, timeout=300)
    assert planned_rules(workflow_dir) == []
    # Another format's module is no code of these datasets' jobs.
    beans_reader = workflow_dir / "src/transfer_study/data/formats/beans_zip.py"
    beans_reader.write_text(beans_reader.read_text() + "\n# an edit\n")
    assert planned_rules(workflow_dir) == []

    (workflow_dir / "photos/test/dog/000.png").write_bytes(image_bytes((20, 20, 160)))  # a changed image
    jobs = planned_rules(workflow_dir)
    assert ("preprocess", "dataset=folders, size=32") in jobs
    assert not [job for job in jobs if "zipped" in job[1] or job[0] in ("download", "synthetic_archive")]
    assert ("train", "experiment=folders-scratch, seed=0") in jobs
    reader = workflow_dir / "src/transfer_study/data/formats/image_folder.py"
    reader.write_text(reader.read_text() + "\n# an edit\n")
    jobs = planned_rules(workflow_dir)
    assert ("preprocess", "dataset=zipped, size=32") in jobs
    assert ("preprocess", "dataset=tabled, size=32") not in jobs
    table_reader = workflow_dir / "src/transfer_study/data/formats/csv_table.py"
    table_reader.write_text(table_reader.read_text() + "\n# an edit\n")
    assert ("preprocess", "dataset=tabled, size=32") in planned_rules(workflow_dir)
