"""Predicting with a trained run: the CLI on a folder and an archive of new images, row per image."""

import csv
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from transfer_study.data.datasets import decode_image

CLASSES = ["angular_leaf_spot", "bean_rust", "healthy"]
EXPERIMENT = {
    "model": "squeezenet",
    "image_size": 32,
    "trainable": "all",
    "head": {"activation": "softmax", "dropout": 0.0},
    "augmentation": None,
}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder as training and evaluation leave it: model.keras and metrics.json."""
    import keras

    from transfer_study.models.build import build_model

    keras.utils.set_random_seed(4)
    run = tmp_path_factory.mktemp("runs") / "beans-3c/seed0"
    run.mkdir(parents=True)
    build_model(EXPERIMENT, len(CLASSES)).save(run / "model.keras")
    (run / "metrics.json").write_text(json.dumps({"class_names": CLASSES, "test": {}}))
    return run


def png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    (Image.fromarray(pixels, mode) if mode else Image.fromarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def new_images(root):
    """A folder of photos as a user has them, and a zip of two more."""
    rng = np.random.default_rng(0)
    files = {
        f"leaves/{index}.png": png(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)) for index in range(4)
    }
    files["leaves/deep.png"] = png(rng.integers(0, 65535, (20, 20), dtype=np.uint16))  # 16-bit grey
    assert Image.open(io.BytesIO(files["leaves/deep.png"])).mode.startswith("I")  # 16 bits a pixel
    files["leaves/broken.jpg"] = b"\xff\xd8 not a whole JPEG"
    files["leaves/.DS_Store"] = b"\x00\x00\x00\x01Bud1"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    archive = root / "more.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for index in range(2):
            handle.writestr(f"batch/{index}.png", png(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)))
        handle.writestr("__MACOSX/batch/._0.png", b"metadata")
    return files, archive


def test_the_cli_writes_a_row_per_image_equal_to_the_model_s_predictions(run_folder, tmp_path):
    import keras

    files, archive = new_images(tmp_path)
    out = tmp_path / "out/predictions.csv"
    command = [sys.executable, "-m", "transfer_study.predict", str(run_folder), str(tmp_path / "leaves"),
               str(archive), "--out", str(out), "--top-k", "2", "--batch-size", "3"]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    assert result.returncode == 0, result.stderr
    assert f"{out}: 7 image(s) predicted, 1 unreadable" in result.stderr
    assert "━" not in result.stderr  # no progress bar where stderr is no terminal
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    folder = str(tmp_path / "leaves")
    expected_names = [
        f"{folder}/{name}" for name in ("0.png", "1.png", "2.png", "3.png", "broken.jpg", "deep.png")
    ]
    expected_names += [f"{archive}:batch/0.png", f"{archive}:batch/1.png"]
    assert [row["image"] for row in rows] == expected_names  # hidden files and metadata left out
    broken = rows[4]
    assert broken["predicted_class"] == "" and broken["p_healthy"] == ""
    assert broken["error"].startswith("not a decodable image")
    readable = [row for row in rows if not row["error"]]
    blobs = [files[f"leaves/{n}"] for n in ("0.png", "1.png", "2.png", "3.png", "deep.png")]
    with zipfile.ZipFile(archive) as handle:
        blobs += [handle.read(f"batch/{index}.png") for index in range(2)]
    model = keras.saving.load_model(run_folder / "model.keras", compile=False)
    wanted = model.predict(np.stack([decode_image(blob, 32) for blob in blobs]), verbose=0)
    for row, probabilities in zip(readable, wanted, strict=True):
        shown = [float(row[f"p_{name}"]) for name in CLASSES]
        np.testing.assert_allclose(shown, probabilities, rtol=1e-5)
        assert row["predicted_class"] == CLASSES[int(np.argmax(probabilities))]
        assert float(row["probability"]) == pytest.approx(float(np.max(probabilities)), rel=1e-5)
        assert row["top_1_class"] == row["predicted_class"]
        second = CLASSES[int(np.argsort(-probabilities)[1])]
        assert row["top_2_class"] == second and "top_3_class" not in row


def test_a_folder_that_is_no_run_is_a_clear_error(tmp_path):
    from transfer_study.predict import main

    assert main([str(tmp_path), str(tmp_path)]) == 2


def test_a_run_whose_metrics_cannot_name_the_classes_is_an_error_naming_the_file(tmp_path, capsys):
    from transfer_study.predict import main

    run = tmp_path / "runs/beans/seed0"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(b"")
    (run / "metrics.json").write_text("{half a file")
    assert main([str(run), str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert f"predict: {run / 'metrics.json'}: not JSON" in said and "run the workflow again" in said
    (run / "metrics.json").write_text(json.dumps({"test": {}}))
    assert main([str(run), str(tmp_path)]) == 2
    assert f"{run / 'metrics.json'}: no class_names" in capsys.readouterr().err


def test_a_truncated_model_is_an_error_saying_what_to_do(tmp_path, capsys):
    from transfer_study.predict import main

    run = tmp_path / "runs/beans/seed0"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(b"not a zip")
    (run / "metrics.json").write_text(json.dumps({"class_names": CLASSES}))
    assert main([str(run), str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert f"{run / 'model.keras'} exists but is not a complete .keras file" in said
    assert "Traceback" not in said


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_batch_size_below_one_is_an_error_naming_the_option(tmp_path, capsys, value):
    from transfer_study.predict import main

    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path), str(tmp_path), "--batch-size", value])
    assert stopped.value.code == 2
    assert f"argument --batch-size: {value!r} is not a whole number of at least 1" in capsys.readouterr().err


def test_a_model_and_metrics_of_different_runs_are_an_error_saying_what_to_do(run_folder, tmp_path):
    import shutil

    from transfer_study.predict import RunError, run_model

    run = tmp_path / "seed0"
    run.mkdir()
    shutil.copy(run_folder / "model.keras", run / "model.keras")
    (run / "metrics.json").write_text(json.dumps({"class_names": CLASSES[:2]}))
    with pytest.raises(RunError) as raised:
        run_model(run)
    assert str(raised.value) == (
        f"{run}: the model has 3 outputs for the 2 classes of metrics.json, so the two come from different "
        "runs: put back the pair one run wrote, or delete both and run the workflow again"
    )
