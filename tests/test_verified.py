"""A file below resources/ is verified before any job reads it, whoever put it there."""

import hashlib
import json
import os

import pytest
import yaml
from conftest import snakemake, snakemake_log

from transfer_study.data import verified
from transfer_study.data.formats import beans_zip, cifar10_tar
from transfer_study.data.verified import verify_present_sources


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_for(path, name):
    return {name: {"path": name, "checksums": {"sha256": sha256(path)}, "size": path.stat().st_size}}


def test_a_verified_file_is_hashed_again_only_when_it_changes(tmp_path, monkeypatch):
    resources = tmp_path / "resources"
    resources.mkdir()
    good = resources / "train.zip"
    good.write_bytes(b"the published archive")
    sources = source_for(good, "train.zip")
    hashed = []
    real = verified.verify_file
    monkeypatch.setattr(verified, "verify_file", lambda path, *rest: hashed.append(path) or real(path, *rest))

    assert verify_present_sources(resources, sources, say=print) == []
    assert verify_present_sources(resources, sources, say=print) == []
    assert len(hashed) == 1  # the second planning trusts the record: same size, same mtime
    record = json.loads((resources / verified.RECORD).read_text())
    assert record["train.zip"]["size"] == good.stat().st_size

    later = good.stat().st_mtime_ns + 5_000_000_000
    os.utime(good, ns=(later, later))  # a new modification time: hashed again, still good
    assert verify_present_sources(resources, sources, say=print) == []
    assert len(hashed) == 2


def test_a_replaced_file_is_set_aside_with_the_expected_and_found_checksums(tmp_path):
    resources = tmp_path / "resources"
    resources.mkdir()
    path = resources / "test.zip"
    path.write_bytes(b"the published archive")
    sources = source_for(path, "test.zip")
    verify_present_sources(resources, sources, say=print)
    path.write_bytes(b"another archive!!!!!!")  # as many bytes: only the checksum tells
    said = []
    assert verify_present_sources(resources, sources, say=said.append) == ["test.zip"]
    assert not path.exists()
    assert (resources / "test.zip.unverified").read_bytes() == b"another archive!!!!!!"
    expected, found = sources["test.zip"]["checksums"]["sha256"], sha256(resources / "test.zip.unverified")
    assert str(path) in said[0] and "sources.test.zip" in said[0]
    assert f"sha256 mismatch: expected {expected}, got {found}" in said[0]
    # The set-aside file is no longer recorded as verified; a good copy put back is checked anew.
    assert "test.zip" not in json.loads((resources / verified.RECORD).read_text())


def file_sources_config(workdir, archives: dict) -> str:
    """The demo config with the beans archives as file:// downloads of `archives`."""
    config = yaml.safe_load((workdir / "config/demo.yaml").read_text())
    for split, archive in archives.items():
        config["sources"][f"beans_{split}"] = {
            "path": f"data/beans/{split}.zip",
            "url": archive.as_uri(),
            "checksums": {"sha256": sha256(archive)},
        }
    config.pop("defaults")
    (workdir / "config/files.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return "config/files.yaml"


@pytest.mark.workflow
def test_a_replaced_archive_in_resources_is_fetched_again_before_preprocessing(workflow_dir, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archives = {}
    for split in ("train", "validation", "test"):
        archives[split] = mirror / f"{split}.zip"
        beans_zip.write_beans_zip(archives[split], split, images_per_class=4, image_size=40, seed=2)
    config = file_sources_config(workflow_dir, archives)
    target = "results/demo/data/beans-32px.stats.json"
    # The target first: --configfile takes every name that follows it.
    snakemake(workflow_dir, target, "--cores", "2", "--configfile", config)

    # Someone drops another zip over the test split. The next plan sets it aside: the results made from
    # the verified file stand, and nothing reads the new one.
    test_zip = workflow_dir / "resources/demo/data/beans/test.zip"
    beans_zip.write_beans_zip(test_zip, "test", images_per_class=5, image_size=40, seed=9)
    planned = snakemake(workflow_dir, target, "-n", "--cores", "2", "--configfile", config)
    output = planned.stdout + planned.stderr
    assert f"{test_zip.relative_to(workflow_dir)} does not match sources.beans_test" in output
    assert "sha256 mismatch: expected" in output and "Nothing to be done" in output
    assert test_zip.with_name("test.zip.unverified").exists() and not test_zip.exists()

    # Preprocessing again (its outputs gone) fetches the archive anew before reading it.
    (workflow_dir / target).unlink()
    snakemake(workflow_dir, target, "--cores", "2", "--configfile", config)
    assert "localrule download:" in snakemake_log(workflow_dir)
    stats = json.loads((workflow_dir / target).read_text())
    assert stats["sources"]["test"]["sha256"] == sha256(archives["test"])
    assert stats["splits"]["test"]["total"] == 12


@pytest.mark.workflow
def test_a_wrong_cifar_archive_placed_by_hand_is_never_read(workflow_dir, tmp_path):
    """No url can fetch it (the mirror is gone): the run fails naming the file, and nothing unpickles it."""
    config = yaml.safe_load((workflow_dir / "config/demo.yaml").read_text())
    config["sources"]["cifar10"] = {
        "path": "data/cifar-10-python.tar.gz",
        "url": (tmp_path / "gone/cifar-10-python.tar.gz").as_uri(),
        "checksums": {"sha256": "0" * 64},
    }
    config.pop("defaults")
    (workflow_dir / "config/wrong.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    placed = workflow_dir / "resources/demo/data/cifar-10-python.tar.gz"
    placed.parent.mkdir(parents=True)
    cifar10_tar.write_cifar10_tar(placed, images_per_class=1, seed=1)
    target = "results/demo/data/cifar10-32px.npz"
    result = snakemake(workflow_dir, target, "--cores", "2", "--configfile", "config/wrong.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "does not match sources.cifar10" in output and f"expected {'0' * 64}" in output
    log = snakemake_log(workflow_dir)
    assert "rule preprocess" not in log
    assert log.count("localrule download:") == 1  # a missing file:// path is not tried again
    assert not (workflow_dir / "results/demo/data/cifar10-32px.npz").exists()
