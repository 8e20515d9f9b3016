"""Training jobs: resume after a kill, determinism, early stopping, divergence, evaluation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import kill_at_epoch

from transfer_study.training.evaluation import confusion_matrix, evaluate_predictions, per_class_scores
from transfer_study.training.history import read_history
from transfer_study.training.loop import train
from transfer_study.training.resume import resume_point

EXPERIMENT = {
    "model": "squeezenet",
    "image_size": 32,
    "trainable": "all",
    "head": {"activation": "softmax", "dropout": 0.5},
    "augmentation": {"horizontal_flip": True},
    "optimizer": {"name": "adam", "learning_rate": 0.001},
    "epochs": 4,
    "batch_size": 16,
    "early_stopping": None,
    "num_classes": 3,
}


def tiny_arrays(seed=0, count=48):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = rng.integers(0, 60, (count, 32, 32, 3)).astype(np.uint8)
    for label in range(3):  # one bright channel per class: learnable in a few steps
        images[labels == label, :, :, label] += 150
    return {
        "x_train": images, "y_train": labels,
        "x_validation": images[:12], "y_validation": labels[:12],
        "x_test": images[12:24], "y_test": labels[12:24],
        "class_names": ["r", "g", "b"],
    }  # fmt: skip


def run(tmp_path, name, experiment=EXPERIMENT, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return train(experiment, seed, tiny_arrays(), None, tmp_path / name / "backup", log=lambda _: None)


class StopAfter(Exception):
    pass


def test_same_seed_same_history_and_weights(tmp_path):
    model_a, rows_a, _ = run(tmp_path, "a")
    model_b, rows_b, _ = run(tmp_path, "b")
    assert [r["loss"] for r in rows_a] == [r["loss"] for r in rows_b]
    for a, b in zip(model_a.get_weights(), model_b.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import keras

    from transfer_study.training import loop as training

    reference, reference_rows, _ = run(tmp_path, "whole")

    # Kill the job at the start of epoch 3: the backup then holds epochs 1 and 2.
    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise StopAfter

    original = training.HistoryRecorder.__init__

    def recorder_with_kill(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.kill = Kill()

    monkeypatch.setattr(training.HistoryRecorder, "__init__", recorder_with_kill)
    monkeypatch.setattr(
        training.HistoryRecorder, "on_epoch_begin",
        lambda self, epoch, logs=None: self.kill.on_epoch_begin(epoch),
    )  # fmt: skip
    with pytest.raises(StopAfter):
        run(tmp_path, "resumed")
    assert resume_point(tmp_path / "resumed" / "backup")[0] == 2
    monkeypatch.undo()

    resumed, rows, summary = run(tmp_path, "resumed")
    assert summary["resumed_after_epoch"] == 2
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["loss"] for r in rows], [r["loss"] for r in reference_rows], rtol=1e-6)
    for a, b in zip(reference.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def killed_at_epoch_3(tmp_path, name, experiment, monkeypatch):
    """Run `experiment` and kill it as epoch 3 begins: its backup then holds epochs 1 and 2."""
    with monkeypatch.context() as patched:
        kill_at_epoch(patched, 2, StopAfter)
        with pytest.raises(StopAfter):
            run(tmp_path, name, experiment)
    assert resume_point(tmp_path / name / "backup")[0] == 2


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"optimizer": {"name": "adam", "learning_rate": 0.0001}}, "optimizer"),
        ({"epochs": 2}, "epochs"),
    ],
)
def test_a_backup_of_other_settings_is_set_aside_and_training_starts_afresh(
    tmp_path, monkeypatch, change, named
):
    killed_at_epoch_3(tmp_path, "run", EXPERIMENT, monkeypatch)
    changed = {**EXPERIMENT, **change}
    said = []
    import keras

    keras.utils.set_random_seed(0)
    model, rows, summary = train(
        changed, 0, tiny_arrays(), None, tmp_path / "run" / "backup", log=said.append
    )
    assert summary["resumed_after_epoch"] == 0
    assert [row["epoch"] for row in rows] == list(range(1, changed["epochs"] + 1))
    assert summary["epochs_run"] == summary["epochs_max"] == changed["epochs"]
    assert any(f"other settings ({named} differ)" in line and "training afresh" in line for line in said)
    (aside,) = (tmp_path / "run").glob("backup.set-aside-*")
    assert resume_point(aside)[0] == 2 and named in (aside / "SET_ASIDE.txt").read_text()
    # Trained afresh, the run is the one an uninterrupted run of the new settings makes.
    reference, reference_rows, _ = run(tmp_path, "reference", changed)
    np.testing.assert_allclose([r["loss"] for r in rows], [r["loss"] for r in reference_rows], rtol=1e-6)


def test_a_backup_of_other_input_files_is_set_aside(tmp_path, monkeypatch):
    killed_at_epoch_3(tmp_path, "run", EXPERIMENT, monkeypatch)
    said = []
    _, _, summary = train(
        EXPERIMENT, 0, tiny_arrays(), None, tmp_path / "run" / "backup", log=said.append,
        produced_by={"data": [1234, 1]},
    )  # fmt: skip
    assert summary["resumed_after_epoch"] == 0
    assert any("made from other input files" in line for line in said)


def test_a_change_of_how_often_backups_are_made_still_resumes(tmp_path, monkeypatch):
    killed_at_epoch_3(tmp_path, "run", EXPERIMENT, monkeypatch)
    said = []
    _, rows, summary = train(
        EXPERIMENT, 0, tiny_arrays(), None, tmp_path / "run" / "backup", log=said.append,
        backup_every_seconds=3600,
    )  # fmt: skip
    assert summary["resumed_after_epoch"] == 2 and [row["epoch"] for row in rows] == [1, 2, 3, 4]
    assert not list((tmp_path / "run").glob("backup.set-aside-*"))


def test_early_stopping_keeps_best_epoch(tmp_path):
    experiment = {**EXPERIMENT, "epochs": 30, "early_stopping": {"patience": 2}}
    experiment["optimizer"] = {"name": "adam", "learning_rate": 0.05}  # overfits and wobbles fast
    _, rows, summary = run(tmp_path, "es", experiment)
    best = min(rows, key=lambda r: r["val_loss"])["epoch"]
    assert summary["kept_epoch"] == best
    if summary["stopped_early"]:
        assert len(rows) == best + 2


def test_diverging_loss_stops_and_is_marked(tmp_path):
    experiment = {**EXPERIMENT, "head": {"activation": "relu", "dropout": 0.0}}
    experiment["optimizer"] = {"name": "sgd", "learning_rate": 1e6}
    _, rows, summary = run(tmp_path, "nan", experiment)
    assert summary["diverged"] is True
    assert len(rows) < experiment["epochs"] or not np.isfinite(rows[-1]["loss"])


def test_confusion_matrix_and_scores_by_hand():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 2, 2])
    matrix = confusion_matrix(labels, predicted, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    scores = per_class_scores(matrix, ["a", "b", "c"])
    assert scores["b"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert scores["c"]["precision"] == 0.5 and scores["a"]["recall"] == 0.5
    assert scores["a"]["f1"] == pytest.approx(2 / 3) and scores["c"]["f1"] == pytest.approx(2 / 3)
    one_hot = np.eye(3)[predicted]
    metrics = evaluate_predictions(one_hot, labels, ["a", "b", "c"], loss=0.25)
    assert metrics["accuracy"] == pytest.approx(4 / 6) and metrics["loss"] == 0.25
    assert metrics["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert metrics["macro_f1"] == pytest.approx(2 / 3)


def test_a_model_that_always_answers_the_majority_class_scores_low_on_the_balanced_metrics():
    """9 of 10 test images are class a; predicting a for all is 90 % accurate and worth half a class."""
    labels = np.array([0] * 9 + [1])
    metrics = evaluate_predictions(np.eye(2)[np.zeros(10, dtype=int)], labels, ["a", "b"], loss=0.3)
    assert metrics["accuracy"] == pytest.approx(0.9)
    assert metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert metrics["per_class"]["b"] == {"precision": None, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metrics["macro_f1"] == pytest.approx((18 / 19 + 0) / 2)  # a: P 0.9, R 1


def imbalanced_arrays(seed=0, majority=200, minority=20):
    """Two classes 10:1 that overlap: each image is noise with a faint bright channel (red for the
    majority, green for the minority). Unweighted, a model gains most by answering the majority."""
    rng = np.random.default_rng(seed)

    def split(count_a, count_b):
        labels = np.array([0] * count_a + [1] * count_b)
        images = rng.normal(100, 40, (len(labels), 32, 32, 3))
        images[labels == 0, :, :, 0] += 12
        images[labels == 1, :, :, 1] += 12
        return np.clip(images, 0, 255).astype(np.uint8), labels

    x_train, y_train = split(majority, minority)
    x_validation, y_validation = split(40, 40)
    return {
        "x_train": x_train, "y_train": y_train,
        "x_validation": x_validation, "y_validation": y_validation,
        "x_test": x_validation, "y_test": y_validation,
        "class_names": ["common", "rare"],
    }  # fmt: skip


def test_class_weight_auto_raises_the_recall_of_a_rare_class(tmp_path):
    """On a 10:1 training split, `auto` weights the rare class 10 times the common one; the model then
    finds more of the rare images than the same training without weights."""
    import keras

    from transfer_study.training.evaluation import evaluate_predictions

    arrays = imbalanced_arrays()
    experiment = EXPERIMENT | {
        "num_classes": 2, "epochs": 6, "batch_size": 32, "augmentation": None, "trainable": "all",
        "head": {"activation": "softmax", "dropout": 0.0},
    }  # fmt: skip
    recalls = {}
    for weighting in (None, "auto"):
        keras.utils.set_random_seed(0)
        model, _, summary = train(
            experiment | {"class_weight": weighting},
            0,
            arrays,
            None,
            tmp_path / str(weighting),
            log=lambda _: None,
        )
        probabilities = model.predict(arrays["x_test"], verbose=0)
        recalls[weighting] = evaluate_predictions(probabilities, arrays["y_test"], ["common", "rare"], 0.0)[
            "per_class"
        ]["rare"]["recall"]
        if weighting == "auto":
            assert summary["class_weight"] == pytest.approx(
                {"common": 220 / (2 * 200), "rare": 220 / (2 * 20)}
            )
        else:
            assert summary["class_weight"] is None
    assert recalls["auto"] > recalls[None] + 0.2, recalls


TORCH_SMOKE = """
import numpy as np, keras, sys
from transfer_study.models.build import build_model
from transfer_study.training.compiling import compile_model
assert keras.backend.backend() == "torch"
experiment = {"model": "squeezenet", "image_size": 32, "trainable": ["fire8", "fire9"],
              "head": {"activation": "softmax"}, "augmentation": {"horizontal_flip": True}}
model = build_model(experiment, 3)
compile_model(model, experiment)
x = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3)).astype("float32")
y = np.eye(3)[np.arange(8) % 3]
model.fit(x, y, epochs=1, batch_size=4, verbose=0)
model.save(sys.argv[1])
again = keras.saving.load_model(sys.argv[1], safe_mode=True)
np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), atol=1e-6)
print("torch ok")
"""


def test_torch_backend_builds_trains_saves_and_reloads(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run(
        [sys.executable, "-c", TORCH_SMOKE, str(tmp_path / "m.keras")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch ok" in result.stdout


def test_history_file_round_trip(tmp_path):
    from transfer_study.training.history import write_history

    rows = [{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.7,
             "seconds": 1.5}]  # fmt: skip
    write_history(tmp_path / "h.csv", rows)
    assert read_history(tmp_path / "h.csv") == rows
    json.dumps(rows)


TRAIN_IN_A_PROCESS = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from test_training import EXPERIMENT, tiny_arrays
from transfer_study.training.runtime import make_deterministic
from transfer_study.training.loop import train
make_deterministic(0)
experiment = {**EXPERIMENT, "epochs": int(sys.argv[2])}
model, rows, summary = train(experiment, 0, tiny_arrays(), None, sys.argv[1], log=print)
np.savez(sys.argv[1] + ".weights.npz", *model.get_weights())
json.dump({"rows": rows, "summary": summary}, open(sys.argv[1] + ".json", "w"))
"""


def _train_process(backup, epochs):
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_IN_A_PROCESS, str(backup), str(epochs), str(Path(__file__).parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_at_a_random_epoch_then_rerun_matches_an_uninterrupted_run(tmp_path):
    import random
    import signal
    import time

    epochs = 5
    kill_after = random.Random().randint(1, epochs - 2)  # a finished epoch, not the last
    whole = _train_process(tmp_path / "whole", epochs)
    killed = _train_process(tmp_path / "killed", epochs)
    metadata = tmp_path / "killed" / "training_metadata.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and killed.poll() is None:
        if metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= kill_after:
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed.json").exists(), "the job finished before it could be killed"
    resumed = _train_process(tmp_path / "killed", epochs)
    assert resumed.wait(timeout=300) == 0 and whole.wait(timeout=300) == 0
    reference = json.loads((tmp_path / "whole.json").read_text())
    result = json.loads((tmp_path / "killed.json").read_text())
    assert result["summary"]["resumed_after_epoch"] >= kill_after
    for ours, theirs in zip(result["rows"], reference["rows"], strict=True):
        assert ours["epoch"] == theirs["epoch"]
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-6)
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-6)
    with np.load(tmp_path / "whole.weights.npz") as a, np.load(tmp_path / "killed.weights.npz") as b:
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)


class BackupsSeen:
    """Records, at the end of each epoch, the epoch the backup on disk says is finished."""

    def __new__(cls, backup_dir):
        import keras

        class _Seen(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.epochs = []

            def on_epoch_end(self, epoch, logs=None):
                metadata = backup_dir / "training_metadata.json"
                self.epochs.append(json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0)

        return _Seen()


@pytest.mark.parametrize(("every", "expected"), [(0, [1, 2, 3, 4]), (3600, [0, 0, 0, 0])])
def test_backups_are_spaced_by_time(tmp_path, every, expected):
    """0 backs up after every epoch; a long interval never within a short run (no 340 MB per epoch)."""
    backup = tmp_path / "backup"
    seen = BackupsSeen(backup)
    _, _, summary = train(
        EXPERIMENT, 0, tiny_arrays(), None, backup, log=lambda _: None, extra_callbacks=[seen],
        backup_every_seconds=every,
    )  # fmt: skip
    assert seen.epochs == expected
    assert summary["backup_every_seconds"] == every
    assert set(summary["phases"]) >= {"build", "compile", "fit", "backups"}
    assert (summary["phases"]["backups"] > 0) == (every == 0)


def test_spaced_backups_resume_to_the_same_weights_with_early_stopping(tmp_path, monkeypatch):
    """A backup every other epoch (by a clock that ticks one second per epoch): killed in epoch 4,
    the run resumes after epoch 2, replays epoch 3 and ends as an uninterrupted run does, best
    weights included."""
    from transfer_study.training import loop as training

    experiment = {**EXPERIMENT, "epochs": 6, "early_stopping": {"patience": 10}}
    clock = iter(range(1000))
    monkeypatch.setattr(training.PeriodicBackup, "clock", staticmethod(lambda: next(clock)))

    def run_spaced(folder):
        import keras

        keras.utils.set_random_seed(0)  # the same initial weights for each run
        silent = lambda _: None  # noqa: E731
        return train(experiment, 0, tiny_arrays(), None, tmp_path / folder, silent, backup_every_seconds=1.5)

    reference, reference_rows, reference_summary = run_spaced("whole")

    kill_at_epoch(monkeypatch, 3, StopAfter)  # in epoch four
    with pytest.raises(StopAfter):
        run_spaced("killed")
    assert resume_point(tmp_path / "killed")[0] == 2  # epoch 3 finished but was not backed up
    monkeypatch.undo()
    monkeypatch.setattr(training.PeriodicBackup, "clock", staticmethod(lambda: next(clock)))

    resumed, rows, summary = run_spaced("killed")
    assert summary["resumed_after_epoch"] == 2
    assert summary["kept_epoch"] == reference_summary["kept_epoch"]
    np.testing.assert_allclose([r["loss"] for r in rows], [r["loss"] for r in reference_rows], rtol=1e-6)
    for a, b in zip(reference.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_saved_model_holds_weights_but_no_optimizer_state(tmp_path):
    import keras

    from transfer_study.training.evaluation import load_trained_model
    from transfer_study.training.loop import save_model_atomically

    model, _, _ = run(tmp_path, "saved")
    with_optimizer = tmp_path / "with.keras"
    model.save(with_optimizer)
    path = tmp_path / "model.keras"
    save_model_atomically(model, path)
    assert model.optimizer is not None and model.compiled  # the model in memory keeps both
    assert path.stat().st_size < 0.6 * with_optimizer.stat().st_size
    again = load_trained_model(path)
    assert not again.compiled
    images = tiny_arrays()["x_test"]
    np.testing.assert_allclose(again.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    assert keras.saving.load_model(path).predict(images, verbose=0).shape == (12, 3)


def test_a_truncated_model_file_is_named_as_unreadable_not_missing(tmp_path):
    from transfer_study.training.evaluation import UnreadableModel, evaluate_model
    from transfer_study.training.loop import save_model_atomically

    model, _, _ = run(tmp_path, "cut")
    path = tmp_path / "model.keras"
    save_model_atomically(model, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    arrays = tiny_arrays()
    with pytest.raises(UnreadableModel, match=r"model\.keras exists but is not a complete \.keras file"):
        evaluate_model(path, arrays, tmp_path / "history.csv", {"kept_epoch": 1}, batch_size=4)


def test_best_weights_written_with_a_backup_come_back_in_a_new_process(tmp_path):
    """A resumed run whose best epoch came before the backup takes the best weights from the file."""
    import keras

    from transfer_study.training.resume import ResumableEarlyStopping

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    best = [np.full(w.shape, 0.5, dtype="float32") for w in model.get_weights()]
    model.set_weights(best)
    first = ResumableEarlyStopping(5, True, [], tmp_path / "best_weights.npz")
    first.set_model(model)
    first.on_epoch_end(0, {"val_loss": 0.7})
    first.persist()  # what a backup does before it marks the epoch done
    model.set_weights([w * 0 for w in best])  # later epochs moved on

    resumed = ResumableEarlyStopping(5, True, [{"epoch": 1, "val_loss": 0.7}], tmp_path / "best_weights.npz")
    assert resumed.best_epoch == 1 and resumed.best_weights is None  # known from the history alone
    resumed.set_model(model)
    resumed.restore()
    for got, want in zip(model.get_weights(), best, strict=True):
        np.testing.assert_array_equal(got, want)


def test_predictions_name_each_image_and_read_back(tmp_path):
    from transfer_study.training.evaluation import read_predictions, write_predictions

    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    members = ["test/a/1.jpg", "test/b/ção 2.jpg", "test/c/3,4.jpg"]  # non-ASCII and a comma
    path = tmp_path / "predictions.csv"
    write_predictions(path, probabilities, np.array([0, 1, 1]), ["a", "b", "c"], members, "test.zip")
    rows = read_predictions(path)
    assert [row["member"] for row in rows] == members
    assert [row["source"] for row in rows] == ["test.zip"] * 3
    assert [(row["true_class"], row["predicted_class"], row["correct"]) for row in rows] == [
        ("a", "a", True),
        ("b", "c", False),
        ("b", "b", True),
    ]
    assert rows[1]["probability"] == pytest.approx(0.6) and rows[1]["p_b"] == pytest.approx(0.3)
    write_predictions(path, np.full((1, 3), np.nan), np.array([2]), ["a", "b", "c"], ["x.png"], "t")
    [row] = read_predictions(path)
    assert row["predicted_class"] == "" and row["probability"] is None and row["correct"] is None


def test_the_gallery_shows_the_most_confident_mistakes_first(tmp_path):
    from transfer_study.report.plots import most_confident_mistakes, plot_mistakes
    from transfer_study.report.words import load_strings

    rows = [
        {"correct": True, "probability": 0.99, "true_class": "a", "predicted_class": "a"},
        {"correct": False, "probability": 0.6, "true_class": "a", "predicted_class": "b"},
        {"correct": False, "probability": 0.9, "true_class": "b", "predicted_class": "a"},
        {"correct": None, "probability": None, "true_class": "b", "predicted_class": ""},
        {"correct": False, "probability": 0.6, "true_class": "b", "predicted_class": "c"},
    ]
    assert [index for index, _ in most_confident_mistakes(rows)] == [2, 1, 4]
    assert [index for index, _ in most_confident_mistakes(rows, limit=1)] == [2]
    images = np.zeros((5, 8, 8, 3), dtype=np.uint8)
    words = load_strings(Path(__file__).resolve().parents[1] / "report/strings.yaml", "en")
    for mistakes, name in ((most_confident_mistakes(rows), "some.png"), ([], "none.png")):
        plot_mistakes(mistakes, images, "title", words, [tmp_path / name])
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


EXIT_PROBE = """
import sys
from transfer_study.training.runtime import skip_final_garbage_collection
class FinalizedAtExit:
    def __del__(self):
        print("collected at exit", flush=True)
cycle = [FinalizedAtExit()]
cycle.append(cycle)  # only the garbage collector can free it
if sys.argv[1] == "skip":
    skip_final_garbage_collection()
with open(sys.argv[2], "w") as handle:
    handle.write("written")
print("logged", file=sys.stderr)
"""


@pytest.mark.parametrize("mode", ["collect", "skip"])
def test_a_job_process_can_leave_its_objects_to_the_system_at_exit(tmp_path, mode):
    # Python's shutdown collects the cycles it finds; after skip_final_garbage_collection it passes them
    # by (what saves each model job the 0.7 s of walking TensorFlow's objects), and nothing else changes.
    result = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, mode, str(tmp_path / "out.txt")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ("collected at exit" in result.stdout) == (mode == "collect")
    assert (tmp_path / "out.txt").read_text() == "written" and "logged" in result.stderr
