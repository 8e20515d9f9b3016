"""The dataset format registry and the image_folder format, on small folders and archives made here."""

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO
from PIL import Image

from transfer_study import config as study_config
from transfer_study.data import directories
from transfer_study.data.datasets import DatasetError
from transfer_study.data.formats import registry
from transfer_study.data.formats.base import DatasetFormat, ReadResult
from transfer_study.data.formats.registry import write_synthetic_source
from transfer_study.data.preprocessing import preprocess_dataset

CLASSES = ["cat", "dog"]
COLOURS = {"cat": (200, 30, 30), "dog": (30, 30, 200)}


def image_bytes(colour, image_format="PNG", size=12) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format=image_format)
    return buffer.getvalue()


def class_files(prefix: str, counts: dict[str, int]) -> dict[str, bytes]:
    """{member name: content} of `counts[class]` images per class below `prefix`, in several formats."""
    formats = ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"]
    files = {}
    for name, count in counts.items():
        for index in range(count):
            colour = tuple(min(255, value + 3 * index) for value in COLOURS[name])
            image_format = formats[index % len(formats)]
            files[f"{prefix}{name}/{index:03d}.{image_format.lower()}"] = image_bytes(colour, image_format)
    return files


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def presplit_files(prefix="", counts=None) -> dict[str, bytes]:
    files = {}
    for split, count in (counts or {"train": 4, "validation": 2, "test": 2}).items():
        files.update(class_files(f"{prefix}{split}/", dict.fromkeys(CLASSES, count)))
    return files


def image_folder(splits, **options) -> dict:
    return {"format": "image_folder", "splits": splits, "image_size": 8, **options}


def assert_colours_follow_labels(arrays, class_names):
    """Every image's dominant channel is its class's colour: labels were read from the right folders."""
    for split in ("train", "validation", "test"):
        for image, label in zip(arrays[f"x_{split}"], arrays[f"y_{split}"], strict=True):
            expected = int(np.argmax(COLOURS[class_names[label]]))
            assert int(np.argmax(image.reshape(-1, 3).mean(axis=0))) == expected


# --- the registry ----------------------------------------------------------------------------------


def test_get_names_the_registered_formats_for_an_unknown_one():
    assert {"beans_zip", "cifar10_tar", "image_folder"} <= set(registry.names())
    with pytest.raises(KeyError) as error:
        registry.get("tfrecord")
    assert "unknown dataset format 'tfrecord'" in str(error.value)
    assert "beans_zip, cifar10_tar, csv, image_folder" in str(error.value)


def test_schema_names_the_registered_formats():
    """The schema takes any string for a format (the config check holds the list); its descriptions say
    which formats there are, so they must keep up with the registry."""
    text = (REPO / "config/schema.yaml").read_text()
    for name in registry.names():
        assert name in text
    dataset_keys = yaml.safe_load(text)["$defs"]["dataset"]["properties"]
    for name in registry.names():
        assert set(registry.get(name).options) <= set(dataset_keys), name


def test_a_new_format_is_one_module_and_its_registration(monkeypatch, tmp_path):
    """A format declared in one place and registered is read by the entry point the preprocess script
    calls, and checked by the config check like the built-in ones."""
    monkeypatch.setattr(registry, "FORMATS", registry.FORMATS.copy())

    def read(dataset, sources, size, workers):
        rows = np.loadtxt(sources["table"], delimiter=",", dtype=np.int64)
        images = np.repeat(rows[:, 1:2], size * size * 3, axis=1).reshape(-1, size, size, 3).astype(np.uint8)
        arrays = {}
        for index, split in enumerate(("train", "validation", "test")):
            chosen = rows[:, 0] % 3 == index
            arrays[f"x_{split}"], arrays[f"y_{split}"] = images[chosen], rows[chosen, 2]
        return ReadResult(arrays, ["even", "odd"], stats={"rows": len(rows)})

    registry.register(
        DatasetFormat(
            name="grey_table",
            split_keys=(("table",),),
            read=read,
            train_images=lambda config, name: 2,
        )
    )
    table = tmp_path / "table.csv"
    table.write_text("\n".join(f"{i},{10 * i},{i % 2}" for i in range(9)) + "\n")
    arrays, stats = preprocess_dataset(
        {"format": "grey_table", "class_names": ["even", "odd"]}, {"table": table}, size=4
    )
    assert arrays["x_train"].shape == (3, 4, 4, 3) and list(arrays["y_train"]) == [0, 1, 0]
    assert stats["format"] == "grey_table" and stats["rows"] == 9
    assert stats["splits"]["test"]["total"] == 3

    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["sources"]["table"] = {
        "path": "table.csv",
        "url": "file:///table.csv",
        "checksums": {"md5": "0" * 32},
    }
    config["datasets"]["beans"] = {"format": "grey_table", "splits": {"table": "table"}, "image_size": 32}
    with pytest.raises(study_config.ConfigError) as error:
        study_config.check_config(config)  # its own train_images: 2, so the demo's batch size of 16 fails
    assert "experiments.beans-1-softmax.batch_size: 16 is more than the 2 training images" in str(error.value)


# --- image_folder: layouts -------------------------------------------------------------------------


def test_one_directory_per_split_with_class_names_from_the_folders(tmp_path):
    sources = {
        split: write_folder(tmp_path / split, class_files("", dict.fromkeys(CLASSES, count)))
        for split, count in (("train", 6), ("validation", 2), ("test", 3))
    }
    arrays, stats = preprocess_dataset(image_folder(dict.fromkeys(sources, "x")), sources, size=8)
    assert stats["class_names"] == CLASSES
    assert [stats["splits"][split]["total"] for split in ("train", "validation", "test")] == [12, 4, 6]
    assert arrays["x_train"].shape == (12, 8, 8, 3)
    assert_colours_follow_labels(arrays, CLASSES)
    assert set(stats["sources"]["train"]) == {"directory", "sha256"}


def test_a_presplit_zip_inside_a_wrapper_folder_with_listed_class_names(tmp_path):
    archive = write_zip(tmp_path / "photos.zip", presplit_files("photos/"))
    dataset = image_folder({"presplit": "photos"}, class_names=["dog", "cat"])
    arrays, stats = preprocess_dataset(dataset, {"presplit": archive}, size=8)
    assert stats["class_names"] == ["dog", "cat"]  # the listed order counts the labels
    assert stats["splits"]["validation"]["per_class"] == {"dog": 2, "cat": 2}
    assert_colours_follow_labels(arrays, ["dog", "cat"])


def test_a_pooled_tar_is_split_stratified_and_the_split_recorded(tmp_path):
    archive = write_tar(tmp_path / "pool.tar.gz", class_files("", {"cat": 10, "dog": 20}))
    dataset = image_folder({"pool": "pool"}, validation_fraction=0.2, test_fraction=0.3, split_seed=4)
    arrays, stats = preprocess_dataset(dataset, {"pool": archive}, size=8)
    assert stats["splits"]["validation"]["per_class"] == {"cat": 2, "dog": 4}
    assert stats["splits"]["test"]["per_class"] == {"cat": 3, "dog": 6}
    assert stats["splits"]["train"]["per_class"] == {"cat": 5, "dog": 10}
    record = stats["pool_split"]
    assert (record["validation_fraction"], record["test_fraction"], record["split_seed"]) == (0.2, 0.3, 4)
    members = record["members"]
    assert sorted(members["train"] + members["validation"] + members["test"]) == sorted(
        class_files("", {"cat": 10, "dog": 20})
    )
    assert_colours_follow_labels(arrays, CLASSES)
    _, again = preprocess_dataset(dataset, {"pool": archive}, size=8)
    assert again["pool_split"] == record  # the same seed, the same split
    _, other = preprocess_dataset({**dataset, "split_seed": 5}, {"pool": archive}, size=8)
    assert other["pool_split"]["members"] != members


def test_train_and_test_sources_carve_validation_from_train_and_record_it(tmp_path):
    # train/ wraps the classes, as in the CIFAR-10 images' train.zip
    train_files = class_files("train/", {"cat": 10, "dog": 20})
    sources = {
        "train": write_zip(tmp_path / "train.zip", train_files),
        "test": write_folder(tmp_path / "test", class_files("", {"cat": 3, "dog": 3})),
    }
    dataset = image_folder({"train": "a", "test": "b"}, class_names=CLASSES, split_seed=7)
    arrays, stats = preprocess_dataset(dataset, sources, size=8)
    assert stats["splits"]["validation"]["per_class"] == {"cat": 2, "dog": 4}  # the default 0.2 per class
    assert stats["splits"]["train"]["per_class"] == {"cat": 8, "dog": 16}
    assert stats["splits"]["test"]["per_class"] == {"cat": 3, "dog": 3}  # test is left as it came
    record = stats["validation_split"]
    assert (record["from"], record["validation_fraction"], record["split_seed"]) == ("train", 0.2, 7)
    carved = record["members"]
    assert not set(carved["train"]) & set(carved["validation"])
    assert sorted(carved["train"] + carved["validation"]) == sorted(train_files)
    assert_colours_follow_labels(arrays, CLASSES)
    # Every image keeps the name of its file and source, in the order of its split's arrays.
    assert [str(name) for name in arrays["members_validation"]] == carved["validation"]
    assert str(arrays["source_validation"]) == "train.zip" and str(arrays["source_test"]) == "test"
    assert sorted(map(str, arrays["members_test"])) == sorted(class_files("", {"cat": 3, "dog": 3}))
    for split in ("train", "validation", "test"):
        for name, label in zip(arrays[f"members_{split}"], arrays[f"y_{split}"], strict=True):
            assert str(name).split("/")[-2] == CLASSES[label]
    _, again = preprocess_dataset(dataset, sources, size=8)
    assert again["validation_split"] == record  # the split seed, not the training seeds, draws it
    _, other = preprocess_dataset({**dataset, "split_seed": 8}, sources, size=8)
    assert other["validation_split"]["members"]["validation"] != carved["validation"]
    _, more = preprocess_dataset({**dataset, "validation_fraction": 0.5}, sources, size=8)
    assert more["splits"]["validation"]["per_class"] == {"cat": 5, "dog": 10}


def test_a_presplit_folder_of_train_and_test_only_carves_validation(tmp_path):
    files = presplit_files("photos/", counts={"train": 5, "test": 2})
    folder = write_folder(tmp_path / "p", files)
    arrays, stats = preprocess_dataset(image_folder({"presplit": "p"}), {"presplit": folder}, 8)
    assert [stats["splits"][split]["total"] for split in ("train", "validation", "test")] == [8, 2, 4]
    assert stats["validation_split"]["from"] == "train"
    carved = stats["validation_split"]["members"]["validation"]
    assert all(name.startswith("photos/train/") for name in carved)
    assert "pool_split" not in stats


def test_sources_with_their_own_validation_carve_nothing(tmp_path):
    folder = write_folder(tmp_path / "p", presplit_files())
    _, stats = preprocess_dataset(image_folder({"presplit": "p"}), {"presplit": folder}, 8)
    assert "validation_split" not in stats
    assert stats["splits"]["validation"]["total"] == 4


def test_too_few_training_images_to_carve_validation_is_an_error_naming_the_class(tmp_path):
    sources = {
        "train": write_folder(tmp_path / "train", class_files("", {"cat": 1, "dog": 6})),
        "test": write_folder(tmp_path / "test", class_files("", {"cat": 2, "dog": 2})),
    }
    message = "class 'cat' has 1 usable image.*datasets.\\*.validation_fraction"
    with pytest.raises(DatasetError, match=message):
        preprocess_dataset(image_folder({"train": "a", "test": "b"}), sources, size=8)


def test_a_class_too_small_for_the_fractions_is_an_error_naming_it(tmp_path):
    archive = write_zip(tmp_path / "pool.zip", class_files("", {"cat": 2, "dog": 10}))
    with pytest.raises(DatasetError, match="class 'cat' has 2 usable image"):
        preprocess_dataset(image_folder({"pool": "pool"}), {"pool": archive}, size=8)


# --- image_folder: what is refused and what is skipped --------------------------------------------


def test_folders_that_do_not_match_the_listed_classes_are_an_error_naming_both(tmp_path):
    folder = write_folder(tmp_path / "pool", class_files("", {"cat": 5, "dog": 5}))
    dataset = image_folder({"pool": "pool"}, class_names=["cat", "bird"])
    with pytest.raises(DatasetError) as error:
        preprocess_dataset(dataset, {"pool": folder}, size=8)
    assert "folders not in the list: dog" in str(error.value)
    assert "listed classes without a folder: bird" in str(error.value)


def test_unreadable_and_non_image_files_are_skipped_with_their_reasons(tmp_path):
    files = class_files("", {"cat": 5, "dog": 5})
    files["cat/broken.png"] = image_bytes((1, 2, 3))[:40]
    files["dog/notes.txt"] = b"taken in March\n"
    files["README.md"] = b"my photos\n"
    files["__MACOSX/cat/._000.png"] = b"\0\5\26\7"
    archive = write_zip(tmp_path / "pool.zip", files)
    _, stats = preprocess_dataset(image_folder({"pool": "pool"}), {"pool": archive}, size=8)
    reasons = {entry["member"]: entry["reason"] for entry in stats["skipped"]}
    assert reasons["README.md"] == "not in a class folder"
    assert reasons["__MACOSX/cat/._000.png"] == "macOS metadata"
    assert reasons["dog/notes.txt"] == "not a decodable image (unknown format)"
    assert reasons["cat/broken.png"].startswith("not a decodable image")
    assert sum(split["total"] for split in stats["splits"].values()) == 10


def test_a_presplit_source_with_another_folder_beside_the_splits_is_refused(tmp_path):
    files = presplit_files() | class_files("extra/", {"cat": 1})
    with pytest.raises(DatasetError, match="sits in folder 'extra'"):
        preprocess_dataset(
            image_folder({"presplit": "p"}), {"presplit": write_folder(tmp_path / "p", files)}, 8
        )


def test_a_presplit_zip_made_on_a_mac_skips_its_metadata(tmp_path):
    files = presplit_files("photos/") | {"__MACOSX/photos/train/cat/._000.png": b"\0\5\26\7"}
    _, stats = preprocess_dataset(
        image_folder({"presplit": "p"}), {"presplit": write_zip(tmp_path / "p.zip", files)}, 8
    )
    assert [(entry["member"], entry["reason"]) for entry in stats["skipped"]] == [
        ("__MACOSX/photos/train/cat/._000.png", "macOS metadata")
    ]


def test_a_presplit_source_without_a_split_folder_is_an_error_naming_the_split(tmp_path):
    files = presplit_files(counts={"train": 3, "validation": 2})
    with pytest.raises(DatasetError, match=r"\(test\): no usable image of class\(es\) cat, dog"):
        preprocess_dataset(
            image_folder({"presplit": "p"}), {"presplit": write_folder(tmp_path / "p", files)}, 8
        )


def test_one_class_folder_is_an_error_saying_two_are_needed(tmp_path):
    folder = write_folder(tmp_path / "pool", class_files("", {"cat": 6}))
    with pytest.raises(DatasetError, match=r"1 class folder\(s\) \(cat\); a dataset needs at least two"):
        preprocess_dataset(image_folder({"pool": "pool"}), {"pool": folder}, size=8)


def test_a_split_without_a_class_is_an_error_naming_it(tmp_path):
    files = presplit_files()
    files = {name: data for name, data in files.items() if not name.startswith("test/dog/")}
    with pytest.raises(DatasetError, match=r"\(test\): no usable image of class\(es\) dog"):
        preprocess_dataset(
            image_folder({"presplit": "p"}), {"presplit": write_folder(tmp_path / "p", files)}, 8
        )


def test_a_file_that_is_no_folder_or_archive_is_refused(tmp_path):
    source = tmp_path / "photos.rar"
    source.write_bytes(b"Rar!\x1a\x07\x00")
    with pytest.raises(DatasetError, match="neither a folder, a zip nor a tar archive"):
        preprocess_dataset(image_folder({"pool": "p"}, class_names=CLASSES), {"pool": source}, 8)


def test_a_synthetic_image_folder_source_reads_back(tmp_path):
    path = tmp_path / "pool.zip"
    write_synthetic_source(
        path, {"format": "image_folder", "images_per_class": 10, "image_size": 16, "seed": 1}
    )
    classes = ["angular_leaf_spot", "bean_rust", "healthy"]
    _, stats = preprocess_dataset(image_folder({"pool": "p"}, class_names=classes), {"pool": path}, 8)
    assert stats["splits"]["train"]["per_class"] == dict.fromkeys(classes, 6)


# --- planning: the config check and the directory fingerprint -------------------------------------


def planning_config(tmp_path, dataset, sources) -> dict:
    """The demo's config with its beans dataset replaced: the experiments stay, so they use it."""
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["sources"].update(sources)
    config["datasets"]["beans"] = dataset
    return config


def test_class_names_of_a_directory_are_read_at_planning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "mine", class_files("", {"cat": 10, "dog": 10}))
    dataset = image_folder({"pool": "mine"}, image_size=32)
    config = planning_config(tmp_path, dataset, {"mine": {"directory": "mine"}})
    for name in config["experiments"]:
        config["experiments"][name]["batch_size"] = 4
    study_config.check_config(config)
    assert study_config.training_spec(config, "beans-2")["num_classes"] == 2
    # 10 per class, 2 held out for validation and 2 for test (the defaults): 6 per class train.
    assert study_config.train_images_before_run(config, "beans") == 12
    config["experiments"]["beans-2"]["batch_size"] = 13
    with pytest.raises(study_config.ConfigError, match="beans-2.batch_size: 13 is more than the 12 training"):
        study_config.check_config(config)


REGISTERED = "registered formats: beans_zip, cifar10_tar, csv, image_folder"
BEANS_FROM_A_DIRECTORY = {
    "format": "beans_zip",
    "splits": {"train": "mine", "validation": "v", "test": "t"},
    "class_names": CLASSES,
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "tfrecord"}, f"datasets.beans.format: unknown dataset format 'tfrecord'; {REGISTERED}"),
        (
            {"splits": {"images": "mine"}},
            "needs exactly the keys {train, validation, test} or {train, test} or {presplit} or {pool}",
        ),
        (
            {"splits": {"pool": "archive"}},
            "datasets.beans.class_names: needed when the images come from an archive",
        ),
        (
            BEANS_FROM_A_DIRECTORY,
            "datasets.beans.splits.train: source 'mine' is a directory, and format beans_zip",
        ),
        (
            {"splits": {"pool": "elsewhere"}},
            "sources.elsewhere.directory: 'no/such/folder' is not a directory",
        ),
        ({"test_fraction": 0.5, "validation_fraction": 0.5}, "validation_fraction + test_fraction is 1"),
    ],
)
def test_config_errors_of_image_folder_name_the_key(tmp_path, monkeypatch, change, message):
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "mine", class_files("", {"cat": 10, "dog": 10}))
    sources = {
        "mine": {"directory": "mine"},
        "elsewhere": {"directory": "no/such/folder"},
        "archive": {
            "path": "pool.zip",
            "url": "https://example.org/pool.zip",
            "checksums": {"md5": "0" * 32},
        },
        "v": {"path": "v.zip", "url": "https://example.org/v.zip", "checksums": {"md5": "1" * 32}},
        "t": {"path": "t.zip", "url": "https://example.org/t.zip", "checksums": {"md5": "2" * 32}},
    }
    config = planning_config(tmp_path, image_folder({"pool": "mine"}, image_size=32) | change, sources)
    with pytest.raises(study_config.ConfigError) as error:
        study_config.check_config(config)
    assert message in str(error.value)


def test_the_preprocessing_params_change_with_the_layout_and_not_for_single_layout_formats():
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    beans = study_config.preprocessing_spec(config, "beans")
    assert "split_keys" not in beans and "splits" not in beans  # as before: its archives are inputs
    config["datasets"]["mine"] = image_folder({"pool": "photos"}, class_names=CLASSES)
    pooled = study_config.preprocessing_spec(config, "mine")
    config["datasets"]["mine"]["splits"] = {"presplit": "photos"}
    assert study_config.preprocessing_spec(config, "mine") != pooled


def test_the_config_check_and_the_registry_import_no_keras_numpy_or_pillow():
    """They run whenever Snakemake plans; the readers import those inside their functions."""
    import subprocess
    import sys

    code = (
        "import sys; import transfer_study.config; from transfer_study.data.formats import registry; "
        "print(sorted({'keras', 'tensorflow', 'numpy', 'PIL'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "[]"


def test_a_synthetic_source_of_a_format_without_a_writer_is_a_config_error(monkeypatch):
    monkeypatch.setattr(registry, "FORMATS", registry.FORMATS.copy())
    registry.register(DatasetFormat("no_writer", (("a",),), read=None, train_images=lambda c, n: None))
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["sources"]["cifar10"]["synthetic"]["format"] = "no_writer"
    with pytest.raises(study_config.ConfigError) as error:
        study_config.check_config(config)
    assert "sources.cifar10.synthetic.format: no synthetic source of format 'no_writer'" in str(error.value)
    assert "formats with one: beans_zip, cifar10_tar, csv, image_folder" in str(error.value)


def test_the_fingerprint_changes_with_an_image_and_not_with_a_touch(tmp_path):
    folder = write_folder(tmp_path / "mine", class_files("", {"cat": 3, "dog": 3}))
    record = tmp_path / "records/mine.json"
    assert directories.record_directory(folder, record)
    first = record.read_text()
    assert not directories.record_directory(folder, record)
    os.utime(folder / "cat/000.png", ns=(1, 1))  # a new time, the same bytes
    assert not directories.record_directory(folder, record) and record.read_text() == first
    (folder / ".DS_Store").write_bytes(b"finder state")  # hidden: neither read nor fingerprinted
    assert not directories.record_directory(folder, record)
    (folder / "dog/001.jpeg").write_bytes(image_bytes((0, 0, 90), "JPEG"))  # a changed image
    assert directories.record_directory(folder, record)
    changed = json.loads(record.read_text())["files"]
    assert [entry[0] for entry in changed] == sorted(class_files("", {"cat": 3, "dog": 3}))
    (folder / "dog/new.png").write_bytes(image_bytes((0, 0, 80)))
    assert directories.record_directory(folder, record)
    assert len(json.loads(record.read_text())["files"]) == 7


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_a_pool_of_split_folders_is_refused_with_the_layout_to_use(tmp_path, kind):
    files = presplit_files("downloaded/", {"train": 4, "val": 2, "test": 2})
    source = write_folder(tmp_path / "p", files) if kind == "folder" else write_zip(tmp_path / "p.zip", files)
    with pytest.raises(DatasetError) as error:
        preprocess_dataset(image_folder({"pool": "p"}), {"pool": source}, 8)
    message = str(error.value)
    assert "its top-level folders are test/, train/, val/: splits, not classes" in message
    assert "splits: {presplit: SOURCE}" in message and str(source) in message


def test_class_folders_reached_through_links_are_read_and_broken_links_listed(tmp_path):
    elsewhere = write_folder(tmp_path / "elsewhere", class_files("", {"dog": 5}))
    pool = write_folder(tmp_path / "pool", class_files("", {"cat": 5}))
    (pool / "dog").symlink_to(elsewhere / "dog", target_is_directory=True)
    (pool / "cat" / "gone.png").symlink_to(tmp_path / "deleted.png")
    (pool / "cat" / "again").symlink_to(pool, target_is_directory=True)  # a loop back to the top
    (pool / "cat" / "linked.png").symlink_to(elsewhere / "dog" / "000.png")  # a file link is a file
    arrays, stats = preprocess_dataset(image_folder({"pool": "pool"}), {"pool": pool}, size=8)
    assert stats["class_names"] == ["cat", "dog"]
    reasons = {entry["member"]: entry["reason"] for entry in stats["skipped"]}
    assert reasons["cat/gone.png"].startswith("broken link (to ")
    assert reasons["cat/again"] == "a link to '.', which is read once already"
    assert sum(split["total"] for split in stats["splits"].values()) == 11
    assert len(directories.listed_files(pool)) == 11  # the folder's record sees what is read


def test_metadata_of_photo_tools_and_nas_software_is_skipped_wherever_it_sits(tmp_path):
    files = class_files("photos/", {"cat": 5, "dog": 5})
    thumbnail = image_bytes(COLOURS["dog"], "JPEG")  # a real JPEG, which would decode as a photo
    files["photos/cat/@eaDir/000.png/SYNOPHOTO_THUMB_XL.jpg"] = thumbnail
    files["photos/dog/Thumbs.db"] = b"\xd0\xcf\x11\xe0"
    files["photos/dog/.@__thumb/s100_001.jpg"] = thumbnail
    files["photos/desktop.ini"] = b"[.ShellClassInfo]\r\n"
    files["@eaDir/photos/SYNOINDEX_MEDIA_INFO"] = b"{}"  # beside the wrapper: it is still looked through
    archive = write_zip(tmp_path / "nas.zip", files)
    _, stats = preprocess_dataset(image_folder({"pool": "pool"}), {"pool": archive}, size=8)
    reasons = {entry["member"]: entry["reason"] for entry in stats["skipped"]}
    assert reasons["photos/cat/@eaDir/000.png/SYNOPHOTO_THUMB_XL.jpg"] == (
        "Synology NAS thumbnails and index (@eaDir)"
    )
    assert reasons["@eaDir/photos/SYNOINDEX_MEDIA_INFO"].startswith("Synology NAS")
    assert reasons["photos/dog/Thumbs.db"] == "Windows thumbnail cache"
    assert reasons["photos/dog/.@__thumb/s100_001.jpg"] == "QNAP NAS thumbnails (.@__thumb)"
    assert reasons["photos/desktop.ini"] == "Windows folder settings"
    assert stats["class_names"] == CLASSES
    assert sum(split["total"] for split in stats["splits"].values()) == 10


def test_class_folders_that_differ_only_in_case_are_an_error_naming_both(tmp_path):
    files = class_files("", {"cat": 3, "dog": 3}) | {
        name.replace("cat/", "Cat/"): data for name, data in class_files("", {"cat": 2}).items()
    }
    with pytest.raises(DatasetError, match=r"class folders 'Cat' and 'cat' differ only in case"):
        preprocess_dataset(image_folder({"pool": "p"}), {"pool": write_folder(tmp_path / "p", files)}, 8)


def files_alike_in_case() -> dict[str, bytes]:
    """Class folders with two images whose paths differ only in case (one file on macOS and Windows),
    and two metadata files that do too (skipped, so they do not count)."""
    return class_files("photos/", {"cat": 3, "dog": 3}) | {
        "photos/cat/IMG_1.jpg": image_bytes(COLOURS["cat"], "JPEG"),
        "photos/cat/img_1.JPG": image_bytes(COLOURS["cat"], "JPEG"),
        "photos/dog/Thumbs.db": b"\xd0\xcf\x11\xe0",
        "photos/dog/thumbs.db": b"\xd0\xcf\x11\xe0",
    }


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_files_whose_paths_differ_only_in_case_are_an_error_naming_the_source_and_both(tmp_path, kind):
    files = files_alike_in_case()
    source = write_folder(tmp_path / "p", files) if kind == "folder" else write_zip(tmp_path / "p.zip", files)
    with pytest.raises(DatasetError) as error:
        preprocess_dataset(image_folder({"pool": "p"}, class_names=CLASSES), {"pool": source}, 8)
    assert str(error.value) == (
        f"{source}: files 'photos/cat/IMG_1.jpg' and 'photos/cat/img_1.JPG' differ only in case: one file "
        "on macOS and Windows, two here. Rename or remove one"
    )
    del files["photos/cat/img_1.JPG"]  # the metadata alike in case is skipped, and counts for nothing
    source = write_folder(tmp_path / "q", files) if kind == "folder" else write_zip(tmp_path / "q.zip", files)
    _, stats = preprocess_dataset(image_folder({"pool": "p"}, class_names=CLASSES), {"pool": source}, 8)
    assert sum(split["total"] for split in stats["splits"].values()) == 7


def test_files_whose_paths_differ_only_in_case_are_a_config_error_at_planning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "mine", files_alike_in_case())
    config = planning_config(
        tmp_path, image_folder({"pool": "mine"}, image_size=32), {"mine": {"directory": "mine"}}
    )
    with pytest.raises(study_config.ConfigError) as error:
        study_config.check_config(config)
    assert (
        f"datasets.beans: {tmp_path / 'mine'}: files 'photos/cat/IMG_1.jpg' and 'photos/cat/img_1.JPG' "
        "differ only in case"
    ) in str(error.value)


def test_one_folder_named_by_two_sources_under_other_spellings_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for split in ("train", "test"):
        write_folder(tmp_path / split, class_files("", {"cat": 10, "dog": 10}))
    dataset = image_folder({"train": "a", "test": "b"}, image_size=32)
    config = planning_config(tmp_path, dataset, {"a": {"directory": "train"}, "b": {"directory": "./train/"}})
    with pytest.raises(study_config.ConfigError) as error:
        study_config.check_config(config)
    assert "sources.b.directory: './train/' is the folder of sources.a ('train') under another spelling" in (
        str(error.value)
    )
    config["sources"]["b"]["directory"] = "test"
    for experiment in config["experiments"].values():
        experiment["batch_size"] = 4
    study_config.check_config(config)


CIFAR10_JPEG = REPO.parent / "shared/data/cifar10-jpeg"


def test_the_real_cifar10_jpeg_zips_read_as_the_train_test_layout():
    """The dataset of config/cifar10-jpeg.yaml on the real 60,000 JPEGs (docs/results.md's run)."""
    if not (CIFAR10_JPEG / "train.zip").exists():
        pytest.skip(f"the CIFAR-10 JPEG zips are not at {CIFAR10_JPEG} (a clone without ../shared)")
    config = yaml.safe_load((REPO / "config/cifar10-jpeg.yaml").read_text())
    dataset = config["datasets"]["cifar10"]
    sources = {split: CIFAR10_JPEG / f"{split}.zip" for split in dataset["splits"]}
    arrays, stats = preprocess_dataset(dataset, sources, size=32, workers=2)
    assert stats["class_names"] == dataset["class_names"]
    assert {split: stats["splits"][split]["total"] for split in stats["splits"]} == dataset["expected_images"]
    assert set(stats["splits"]["validation"]["per_class"].values()) == {1000}  # 20 % of each class's 5,000
    assert stats["skipped"] == []
    carved = stats["validation_split"]
    assert (carved["validation_fraction"], carved["split_seed"]) == (0.2, 0)
    assert not set(carved["members"]["train"]) & set(carved["members"]["validation"])
    assert arrays["x_train"].shape == (40000, 32, 32, 3) and arrays["x_test"].dtype == np.uint8


def test_a_cifar_archive_of_another_version_is_an_error_saying_which_one_to_give(tmp_path):
    from transfer_study.data.formats import cifar10_tar

    files = {f"cifar-10-batches-bin/data_batch_{index}.bin": b"\0" * 3073 for index in range(1, 6)}
    archive = write_tar(tmp_path / "cifar-10-binary.tar.gz", files)
    with pytest.raises(DatasetError) as error:
        cifar10_tar.read_cifar10(archive, 32)
    message = str(error.value)
    assert message.startswith(f"{archive}: missing CIFAR-10 batch(es) data_batch_1, ")
    assert "must be cifar-10-python.tar.gz as published (the python version" in message
    assert "datasets.*.splits.archive" in message


def test_the_preprocessing_jobs_errors_name_the_datasets_keys(tmp_path):
    """A format does not know the dataset's name and says datasets.*; the preprocessing job, which does,
    names the key to edit (datasets.<name>....), and the error keeps its type."""
    files = {f"cifar-10-batches-bin/data_batch_{index}.bin": b"\0" * 3073 for index in range(1, 6)}
    archive = write_tar(tmp_path / "cifar-10-binary.tar.gz", files)
    dataset = {"format": "cifar10_tar", "validation_fraction": 0.2, "split_seed": 0}
    with pytest.raises(DatasetError) as unnamed:
        preprocess_dataset(dataset, {"archive": archive}, 32)
    with pytest.raises(DatasetError) as named:
        preprocess_dataset(dataset, {"archive": archive}, 32, name="cifar10")
    assert "datasets.*.splits.archive" in str(unnamed.value)
    assert str(named.value) == str(unnamed.value).replace("datasets.*", "datasets.cifar10")
    assert type(named.value) is type(unnamed.value)
