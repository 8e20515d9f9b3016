"""The csv dataset format: images labelled by a table in a folder or an archive, read whole, checked
line by line before any image is decoded, and planned from the table where the source is a folder."""

import pytest
import yaml
from conftest import REPO
from test_formats import (
    COLOURS,
    assert_colours_follow_labels,
    image_bytes,
    write_folder,
    write_tar,
    write_zip,
)

from transfer_study import config as study_config
from transfer_study.data.datasets import DatasetError
from transfer_study.data.formats.registry import write_synthetic_source
from transfer_study.data.preprocessing import preprocess_dataset


def images(count: int, prefix: str = "photos/") -> dict[str, bytes]:
    """{path: PNG} of `count` images, cat and dog alternating, in one folder that says nothing of them."""
    return {
        f"{prefix}{index:03d}.png": image_bytes(COLOURS["cat" if index % 2 else "dog"])
        for index in range(count)
    }


def table(paths, delimiter=",", split=None, header=("path", "label")) -> bytes:
    lines = [delimiter.join(header + (("split",) if split else ()))]
    for index, path in enumerate(paths):
        fields = [path, "cat" if int(path[-7:-4]) % 2 else "dog"]
        lines.append(delimiter.join(fields + ([split(index)] if split else [])))
    return ("\n".join(lines) + "\n").encode()


def csv_dataset(**options) -> dict:
    return {"format": "csv", "splits": {"images": "mine"}, "image_size": 8, "table": "labels.csv", **options}


def read(dataset, source):
    return preprocess_dataset(dataset, {"images": source}, 8)


def test_a_folder_with_a_table_is_read_by_its_labels_and_split_by_the_fractions(tmp_path):
    files = images(20) | {"photos/extra.png": image_bytes((0, 200, 0))}
    source = write_folder(tmp_path / "mine", files | {"labels.csv": table(sorted(images(20)))})
    arrays, stats = read(csv_dataset(split_seed=4), source)
    assert stats["class_names"] == ["cat", "dog"]
    assert_colours_follow_labels(arrays, stats["class_names"])
    assert {split: stats["splits"][split]["total"] for split in ("train", "validation", "test")} == {
        "train": 12,
        "validation": 4,
        "test": 4,
    }
    assert stats["pool_split"]["split_seed"] == 4
    held_out = sorted(map(str, [*arrays["members_validation"], *arrays["members_test"]]))
    assert held_out == sorted(
        stats["pool_split"]["members"]["validation"] + stats["pool_split"]["members"]["test"]
    )
    assert str(arrays["source_test"]) == "mine"
    assert stats["table"] == {
        "file": "labels.csv",
        "rows": 20,
        "columns": {"path": "path", "label": "label", "split": None},
        "files_not_in_table": 1,  # photos/extra.png
    }


def test_a_tsv_in_a_wrapped_archive_with_a_split_column_keeps_its_splits(tmp_path):
    paths = sorted(images(24, prefix=""))
    splits = ["train", "1", "TEST", "0", "val", "2"]  # words, Ludwig's numbers, any case
    files = {f"data/{path}": data for path, data in images(24, prefix="").items()}
    files["data/labels.tsv"] = table(paths, "\t", split=lambda index: splits[index % 6])
    for writer, name in ((write_zip, "mine.zip"), (write_tar, "mine.tar.gz")):
        archive = writer(tmp_path / name, files)
        dataset = csv_dataset(table="data/labels.tsv", split_column="split", class_names=["cat", "dog"])
        arrays, stats = read(dataset, archive)
        assert {split: stats["splits"][split]["total"] for split in ("train", "validation", "test")} == {
            "train": 8,
            "validation": 8,
            "test": 8,
        }
        assert_colours_follow_labels(arrays, stats["class_names"])
        assert "pool_split" not in stats and "validation_split" not in stats


def test_a_split_column_without_validation_rows_has_validation_carved_from_train(tmp_path):
    paths = sorted(images(30))
    data = table(paths, split=lambda index: "test" if index < 10 else "train")
    source = write_folder(tmp_path / "mine", images(30) | {"labels.csv": data})
    _, stats = read(csv_dataset(split_column="split", validation_fraction=0.3), source)
    assert stats["validation_split"]["from"] == "train"
    assert stats["splits"]["validation"]["total"] == 6 and stats["splits"]["train"]["total"] == 14
    assert stats["splits"]["test"]["total"] == 10


def test_an_image_that_does_not_decode_is_skipped_with_its_reason(tmp_path):
    files = images(20) | {"photos/019.png": b"not an image"}
    source = write_folder(tmp_path / "mine", files | {"labels.csv": table(sorted(files))})
    _, stats = read(csv_dataset(), source)
    assert [entry["member"] for entry in stats["skipped"]] == ["photos/019.png"]
    assert stats["skipped"][0]["reason"].startswith("not a decodable image")
    assert sum(stats["splits"][split]["total"] for split in ("train", "validation", "test")) == 19


def with_lines(*lines: str) -> bytes:
    return ("\n".join(("path,label",) + lines) + "\n").encode()


GOOD = [f"photos/{index:03d}.png,{'cat' if index % 2 else 'dog'}" for index in range(20)]


@pytest.mark.parametrize(
    "content, message",
    [
        (
            with_lines(*GOOD, "photos/100.png,cat"),
            "labels.csv, line 22: no file 'photos/100.png' in the source",
        ),
        (with_lines(*GOOD[:1], "Photos/001.png,cat", *GOOD[2:]), "'photos/001.png' differs only in case"),
        (
            with_lines(*GOOD, "Photos/001.png,cat"),
            "labels.csv, lines 3 and 22: 'photos/001.png' and 'Photos/001.png' differ only in case",
        ),
        (with_lines(*GOOD[:3], "photos/003.png,", *GOOD[4:]), "line 5: 'photos/003.png' has an empty label"),
        (with_lines(*GOOD[:5], "photos/001.png,cat"), "line 7: 'photos/001.png' is listed already on line 3"),
        (with_lines(*GOOD, "./photos//001.png,cat"), "line 22: 'photos/001.png' is listed already on line 3"),
        (with_lines(*GOOD, "../secret.png,cat"), "line 22: '../secret.png' leaves the source"),
        (with_lines(*GOOD, "/etc/passwd,cat"), "line 22: '/etc/passwd' leaves the source"),
        (with_lines(*GOOD, "C:\\photos\\x.png,cat"), "leaves the source"),
        (with_lines(*GOOD, "photos/000.png,dog,extra"), "line 22: 3 fields where the header has 2"),
        (
            b"file,class\nphotos/000.png,dog\n",
            "no column 'path' (datasets.*.path_column) in its header ('file', 'class')",
        ),
        (b"path,label\n", "no rows below the header"),
        ("path,label\nphotos/000.png,chien\u00e9\n".encode("latin-1"), "not UTF-8 text"),
        (with_lines(*GOOD[:1], '"photos/001.png,cat'), "line 3"),
    ],
)
def test_a_wrong_table_is_an_error_naming_the_file_and_line(tmp_path, content, message):
    source = write_folder(tmp_path / "mine", images(20) | {"labels.csv": content})
    with pytest.raises(DatasetError) as error:
        read(csv_dataset(), source)
    assert message in str(error.value)
    assert "mine/labels.csv" in str(error.value)


@pytest.mark.parametrize(
    "options, content, message",
    [
        (
            {"class_names": ["cat", "dog"]},
            with_lines(*GOOD, "photos/000.png,bird"),
            "line 22: label 'bird' is not in",
        ),
        ({"split_column": "split"}, with_lines(*GOOD), "no column 'split'"),
        (
            {"split_column": "label"},
            with_lines(*GOOD),
            "split 'dog' is none of train, validation (val, valid) and test",
        ),
        ({"table": "other.csv"}, with_lines(*GOOD), "other.csv: no such file"),
        ({"table": "../labels.csv"}, with_lines(*GOOD), "table: '../labels.csv' leaves the source"),
        ({"table": "/etc/labels.csv"}, with_lines(*GOOD), "table: '/etc/labels.csv' leaves the source"),
    ],
)
def test_the_table_options_are_checked_against_the_table(tmp_path, options, content, message):
    source = write_folder(tmp_path / "mine", images(20) | {"labels.csv": content})
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(csv_dataset(**options), source)


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_rows_whose_paths_differ_only_in_case_are_an_error_naming_the_table_both_lines_and_both(
    tmp_path, kind
):
    files = images(20) | {"photos/IMG_1.png": image_bytes(COLOURS["cat"]), "photos/img_1.PNG": b"x"}
    lines = [*GOOD[:5], "photos/IMG_1.png,cat", *GOOD[5:], "photos/img_1.PNG,cat"]
    files["labels.csv"] = with_lines(*lines)
    source = (
        write_folder(tmp_path / "mine", files) if kind == "folder" else write_zip(tmp_path / "m.zip", files)
    )
    with pytest.raises(DatasetError) as error:
        read(csv_dataset(class_names=["cat", "dog"]), source)
    where = f"{source}/labels.csv" if kind == "folder" else f"{source}:labels.csv"
    assert str(error.value) == (
        f"{where}, lines 7 and 23: 'photos/IMG_1.png' and 'photos/img_1.PNG' differ only in case: one file "
        "on macOS and Windows, two here. Rename or remove one"
    )


def test_a_table_without_test_rows_is_an_error_saying_what_it_needs(tmp_path):
    data = table(sorted(images(20)), split=lambda index: "train")
    source = write_folder(tmp_path / "mine", images(20) | {"labels.csv": data})
    with pytest.raises(DatasetError, match="no row has split 'test' in column 'split'"):
        read(csv_dataset(split_column="split"), source)


def test_a_spreadsheet_s_byte_order_mark_and_windows_paths_are_read(tmp_path):
    lines = ["path,label"] + [
        f"photos\\{index:03d}.png,{'cat' if index % 2 else 'dog'}" for index in range(20)
    ]
    data = "\ufeff".encode() + "\r\n".join(lines).encode() + b"\r\n"
    source = write_folder(tmp_path / "mine", images(20) | {"labels.csv": data})
    arrays, stats = read(csv_dataset(), source)
    assert stats["table"]["rows"] == 20
    assert_colours_follow_labels(arrays, stats["class_names"])


def test_the_synthetic_csv_source_reads_back(tmp_path):
    write_synthetic_source(
        tmp_path / "synthetic.zip", {"format": "csv", "images_per_class": 10, "image_size": 16, "seed": 1}
    )
    dataset = csv_dataset(class_names=["angular_leaf_spot", "bean_rust", "healthy"])
    _, stats = read(dataset, tmp_path / "synthetic.zip")
    assert stats["splits"]["train"]["per_class"] == {"angular_leaf_spot": 6, "bean_rust": 6, "healthy": 6}
    assert stats["table"]["files_not_in_table"] == 0


# --- planning ---------------------------------------------------------------------------------------


def planning_config(dataset: dict, sources: dict) -> dict:
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["sources"].update(sources)
    config["datasets"]["beans"] = dataset | {"image_size": 32}
    for experiment in config["experiments"].values():
        experiment["batch_size"] = 4
    return config


def test_a_folder_s_table_gives_the_classes_and_training_count_at_planning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "mine", images(20) | {"labels.csv": table(sorted(images(20)))})
    config = planning_config(csv_dataset(), {"mine": {"directory": "mine"}})
    study_config.check_config(config)
    assert study_config.dataset_class_names(config, "beans") == ["cat", "dog"]
    assert study_config.train_images_before_run(config, "beans") == 12  # 10 per class less 2 + 2 held out
    split = {"split_column": "split"}
    (tmp_path / "mine/labels.csv").write_bytes(
        table(sorted(images(20)), split=lambda index: "test" if index < 8 else "train")
    )
    config["datasets"]["beans"] |= split
    assert study_config.train_images_before_run(config, "beans") == 10  # 6 train rows a class, 1 carved


@pytest.mark.parametrize(
    "dataset, content, message",
    [
        (
            csv_dataset(),
            with_lines(*GOOD, "photos/077.png,cat"),
            "mine/labels.csv, line 22: no file 'photos/077.png'",
        ),
        (csv_dataset(), with_lines(*GOOD, "photos/000.png"), "line 22: 1 fields where the header has 2"),
        (
            csv_dataset(),
            with_lines(*GOOD, "PHOTOS/000.PNG,dog"),
            "mine/labels.csv, lines 2 and 22: 'photos/000.png' and 'PHOTOS/000.PNG' differ only in case",
        ),
        (
            {k: v for k, v in csv_dataset().items() if k != "table"},
            with_lines(*GOOD),
            "datasets.beans.table: format csv needs",
        ),
        (
            csv_dataset(splits={"images": "archive"}),
            with_lines(*GOOD),
            "datasets.beans.class_names: needed when the table comes in an archive",
        ),
        (
            csv_dataset(table="../labels.csv"),
            with_lines(*GOOD),
            "datasets.beans.table: '../labels.csv' leaves",
        ),
        (
            csv_dataset(split_column="label", test_fraction=0.3),
            with_lines(*GOOD),
            "datasets.beans.test_fraction: the table's split column",
        ),
        # Read at planning, the table's mistakes name the dataset's keys, not datasets.*.
        (
            csv_dataset(label_column="class"),
            with_lines(*GOOD),
            "no column 'class' (datasets.beans.label_column) in its header",
        ),
        (
            csv_dataset(class_names=["cat", "dog"]),
            with_lines(*GOOD, "photos/077.png,bird"),
            "line 22: label 'bird' is not in datasets.beans.class_names (cat, dog)",
        ),
        (
            csv_dataset(table="other.csv"),
            with_lines(*GOOD),
            "mine/other.csv: no such file; datasets.beans.table names the table by its path inside the "
            "source: correct it, or put the table there",
        ),
    ],
)
def test_table_mistakes_are_config_errors_at_planning(tmp_path, monkeypatch, dataset, content, message):
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "mine", images(20) | {"labels.csv": content})
    archive = {"path": "pool.zip", "url": "https://example.org/pool.zip", "checksums": {"md5": "0" * 32}}
    config = planning_config(dataset, {"mine": {"directory": "mine"}, "archive": archive})
    with pytest.raises(study_config.ConfigError) as error:
        study_config.check_config(config)
    assert message in str(error.value)


def test_a_table_read_from_a_zip_leaves_no_handle_on_it_and_a_mended_zip_is_read_afresh(tmp_path):
    # The table is read in the job's own process; were its zip left open there, a later read in the same
    # process (a notebook, a test session) would go on reading the replaced file's old entries.
    from transfer_study.data import archives

    files = images(20) | {"labels.csv": table([*sorted(images(20)), "photos/999.png"])}
    source = write_zip(tmp_path / "m.zip", files)
    with pytest.raises(DatasetError, match="'photos/999.png'"):
        read(csv_dataset(), source)
    assert str(source) not in archives._OPEN_ZIPS
    source.unlink()
    write_zip(source, images(20) | {"labels.csv": table(sorted(images(20)))})
    _, stats = read(csv_dataset(), source)
    assert stats["table"]["rows"] == 20
