"""Backups set aside by training jobs: found below a results folder, listed, removed on request, and
nothing else ever touched (transfer_study.training.set_aside and `python -m transfer_study.set_aside`)."""

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from transfer_study.set_aside import main
from transfer_study.training.set_aside import (
    SET_ASIDE_REASON,
    find_set_aside,
    planning_line,
    remove_set_aside,
    size_text,
)

REASON = "it was made with other settings (optimizer differ)"


def set_aside(results: Path, experiment: str, seed: int, stamp: str, size: int, reason=REASON) -> Path:
    """A set-aside backup as claim_backup leaves one: its weights (`size` bytes) and SET_ASIDE.txt."""
    folder = results / "runs" / experiment / f"seed{seed}" / f"backup.set-aside-{stamp}"
    folder.mkdir(parents=True)
    (folder / "latest.weights.h5").write_bytes(b"w" * size)
    (folder / SET_ASIDE_REASON).write_text(f"Set aside on Fri Jan 31 14:25:01 2025: {reason}.\n")
    return folder


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def results(tmp_path):
    """A results folder with two set-aside backups, and beside them what must never count as one: the
    live backup, a folder named like one without SET_ASIDE.txt, a file named like one, a run's files."""
    results = tmp_path / "results"
    set_aside(results, "beans-2", 0, "20250131-142501", 3000)
    set_aside(results, "cifar10-s1", 1, "20250201-090000+", 5000, reason="it was made from other input files")
    run = results / "runs/beans-2/seed0"
    (run / "backup").mkdir()
    (run / "backup/latest.weights.h5").write_bytes(b"live")
    (run / "backup/SET_ASIDE.txt").write_text("not a set-aside folder, whatever it holds\n")
    (run / "backup.set-aside-20250130-080000").mkdir()  # no SET_ASIDE.txt: not one of ours
    (run / "backup.set-aside-20250130-080000/mine.txt").write_text("keep me")
    (run / "backup.set-aside-old").mkdir()  # a reason, but not a name claim_backup gives
    (run / "backup.set-aside-old" / SET_ASIDE_REASON).write_text("Set aside by hand: mine.\n")
    (results / "runs/beans-2/seed1").mkdir()
    (results / "runs/beans-2/seed1/backup.set-aside-20250130-080001").write_text("a file, not a folder")
    (run / "model.keras").write_bytes(b"model")
    return results


def test_each_set_aside_backup_is_found_with_its_run_time_size_and_reason(results):
    found = find_set_aside(results)
    assert [(entry.experiment, entry.seed) for entry in found] == [("beans-2", 0), ("cifar10-s1", 1)]
    first, second = found
    assert first.when == datetime(2025, 1, 31, 14, 25, 1) and second.when == datetime(2025, 2, 1, 9)
    assert first.size == folder_bytes(first.path) and first.size > 3000  # the weights and the reason
    assert first.reason == REASON and second.reason == "it was made from other input files"
    assert first.path == results / "runs/beans-2/seed0/backup.set-aside-20250131-142501"
    assert [entry.experiment for entry in find_set_aside(results, ["cifar10-s1"])] == ["cifar10-s1"]
    assert find_set_aside(results, ["beans-3a"]) == []


def test_the_listing_names_each_backup_and_the_command_that_removes_them(results, capsys):
    assert main([str(results)]) == 0
    out = capsys.readouterr().out
    assert f"beans-2 seed 0  2025-01-31 14:25:01  3.1 kB  {REASON}" in out
    assert "cifar10-s1 seed 1  2025-02-01 09:00:00  5.1 kB  it was made from other input files" in out
    assert str(results / "runs/beans-2/seed0/backup.set-aside-20250131-142501") in out
    assert (
        f"2 set-aside backups, 8.2 kB in all; `python -m transfer_study.set_aside {results} --remove`" in out
    )
    assert "20250130-080000" not in out and "seed0/backup\n" not in out
    assert (results / "runs/beans-2/seed0/backup.set-aside-20250131-142501").is_dir()  # listed, kept

    assert main([str(results), "--experiment", "beans-2"]) == 0
    out = capsys.readouterr().out
    assert "beans-2 seed 0" in out and "cifar10-s1" not in out
    assert "--experiment beans-2 --remove" in out


def test_remove_deletes_only_the_set_aside_backups_and_says_what_it_freed(results, capsys):
    found = find_set_aside(results)
    freed = sum(entry.size for entry in found)
    assert main([str(results), "--remove"]) == 0
    out = capsys.readouterr().out
    for entry in found:
        assert not entry.path.exists() and f"removed {entry.path} ({size_text(entry.size)})" in out
    assert f"Removed 2 set-aside backups: {size_text(freed)} ({freed:,} bytes) freed." in out
    run = results / "runs/beans-2/seed0"
    assert (run / "backup/latest.weights.h5").read_bytes() == b"live"
    assert (run / "backup.set-aside-20250130-080000/mine.txt").read_text() == "keep me"
    assert (run / "backup.set-aside-old" / SET_ASIDE_REASON).is_file()
    assert (results / "runs/beans-2/seed1/backup.set-aside-20250130-080001").is_file()
    assert (run / "model.keras").is_file()
    assert find_set_aside(results) == []


def test_an_experiment_filter_removes_that_experiment_s_backups_alone(results, capsys):
    assert main([str(results), "--experiment", "cifar10-s1", "--remove"]) == 0
    assert "Removed 1 set-aside backup:" in capsys.readouterr().out
    assert [entry.experiment for entry in find_set_aside(results)] == ["beans-2"]


def test_links_are_neither_followed_nor_removed(tmp_path, capsys):
    results = tmp_path / "results"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / SET_ASIDE_REASON).write_text("Set aside on today: bait.\n")
    (elsewhere / "precious.bin").write_bytes(b"p" * 10_000)
    folder = set_aside(results, "beans-2", 0, "20250131-142501", 100)
    (folder.parent / "backup.set-aside-20250131-142502").symlink_to(elsewhere, target_is_directory=True)
    (folder / "link-out").symlink_to(elsewhere, target_is_directory=True)
    (folder / "link-to-file").symlink_to(elsewhere / "precious.bin")

    [entry] = find_set_aside(results)  # the link named like one is none
    assert entry.path == folder and entry.size < 10_000  # the links inside counted as links
    assert main([str(results), "--remove"]) == 0
    assert not folder.exists() and (folder.parent / "backup.set-aside-20250131-142502").is_symlink()
    assert (elsewhere / "precious.bin").stat().st_size == 10_000


def test_a_folder_that_is_no_longer_set_aside_when_removed_is_kept(results):
    found = find_set_aside(results)
    (found[0].path / SET_ASIDE_REASON).unlink()  # say, another person's tool took it back meanwhile
    run = results / "runs/beans-2/seed0"
    # Handed other folders, removal checks each again: the live backup (SET_ASIDE.txt and all), a
    # folder named like one without the reason, one with the reason under another name.
    others = [replace(found[1], path=run / name) for name in ("backup", "backup.set-aside-20250130-080000")]
    others.append(replace(found[1], path=run / "backup.set-aside-old"))
    removed, kept = remove_set_aside([*found, *others])
    assert removed == [found[1]] and not found[1].path.exists()
    assert [(entry, "no longer" in why) for entry, why in kept] == [(e, True) for e in [found[0], *others]]
    assert all(entry.path.is_dir() for entry in [found[0], *others])
    assert (run / "backup/latest.weights.h5").read_bytes() == b"live"


def test_a_results_folder_that_is_not_there_is_an_error_naming_it(tmp_path, capsys):
    missing = tmp_path / "results/dmeo"
    assert main([str(missing)]) == 2
    assert f"set_aside: {missing}: no such folder" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main([str(tmp_path / "a-file"), "--remove"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 0  # there, but nothing trained yet
    assert "No set-aside backups" in capsys.readouterr().out


def test_the_planning_line_counts_them_with_their_size_and_names_the_command(results):
    line = planning_line(results)
    total = size_text(sum(entry.size for entry in find_set_aside(results)))
    assert line.startswith(f"2 set-aside backups ({total}) in {results / 'runs'}, ")
    assert f"`python -m transfer_study.set_aside {results}` lists them" in line
    assert f"`python -m transfer_study.set_aside {results} --remove` deletes them" in line
    assert planning_line(results.parent / "empty") is None


def test_sizes_read_as_a_file_manager_shows_them():
    assert [size_text(n) for n in (1, 999, 1000, 42_049, 160_300_000, 999_600_000, 2_500_000_000)] == [
        "1 byte", "999 bytes", "1.0 kB", "42.0 kB", "160 MB", "1.0 GB", "2.5 GB",
    ]  # fmt: skip


def test_the_backups_claim_backup_sets_aside_are_the_ones_found(tmp_path, monkeypatch):
    """The names and the reason file as training writes them (resume.py, which this module does not
    import: a training job's imports are its code inputs)."""
    from transfer_study.training import resume

    assert resume.SET_ASIDE_REASON == SET_ASIDE_REASON
    results = tmp_path / "results"
    backup = results / "runs/beans-2/seed0/backup"

    def identity(epochs):
        key = {"experiment": {"epochs": epochs}, "seed": 0, "inputs": {}}
        return {"cached_up_to": None, "backup_format": resume.BACKUP_FORMAT, **resume.key_digests(key)}

    for stale in ("weights of one", "weights of another"):  # twice in one second: the second gets a "+"
        backup.mkdir(parents=True, exist_ok=True)
        (backup / "latest.weights.h5").write_text(stale)
        (backup / resume.TRAINED_MODEL).write_text(json.dumps(identity(3)))
        monkeypatch.setattr(time, "strftime", lambda _: "20250131-142501")
        resume.claim_backup(backup, identity(2), lambda _: None)
        monkeypatch.undo()
        for leftover in backup.iterdir():
            leftover.unlink()
    found = find_set_aside(results)
    assert [entry.path.name for entry in found] == [
        "backup.set-aside-20250131-142501", "backup.set-aside-20250131-142501+",
    ]  # fmt: skip
    assert {entry.reason for entry in found} == {"it was made with other settings (epochs differ)"}
    assert all(entry.when == datetime(2025, 1, 31, 14, 25, 1) for entry in found)
    assert backup.is_dir() and find_set_aside(results, ["beans-2"]) == found


def test_the_command_runs_as_a_module(results):
    result = subprocess.run(
        [sys.executable, "-m", "transfer_study.set_aside", str(results)],
        capture_output=True, text=True, env=os.environ, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 set-aside backups" in result.stdout and "import keras" not in result.stderr
