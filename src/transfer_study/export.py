"""A trained run exported for other runtimes, and each export checked against the Keras model.

An experiment's `export: [saved_model, onnx, litert]` makes one job per run and format. The job
exports through Keras 3's `model.export(format=...)`, from the model without its augmentation layers
(models.serving.inference_model), so that the artifact takes raw 0..255 pixels as model.keras does and
needs none of this package's code. Then it loads the artifact in that format's own runtime:
TensorFlow for the SavedModel, onnxruntime for ONNX, the LiteRT interpreter for `.tflite`. It predicts
the first CHECK_IMAGES test images and compares with the Keras model: every top-1 class equal and the
largest probability difference within the tolerance of the model's precision. The numbers go into the
job's log and, when they pass, into export/<format>.check.json; a check that fails, an exporter that
raises, or a file that its runtime cannot load fails that job alone, with the reason.

The runtimes are imported only here, only in export jobs: a config that exports nothing needs none.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transfer_study.checksums import tree_sha256

CHECK_IMAGES = 64
# Largest probability difference allowed between an export and the Keras model: float32 graphs differ
# only by the order of floating-point operations; a mixed-precision model computes in 16 bits.
TOLERANCES = {"float32": 1e-4, "mixed_float16": 1e-2, "mixed_bfloat16": 5e-2}
# How much of an exporter's or runtime's message the job's error quotes.
MESSAGE_CHARS = 3000

Predictor = Callable[[np.ndarray], np.ndarray]


class ExportError(RuntimeError):
    """An export that could not be made, loaded or trusted; the message says which and why."""


@dataclass(frozen=True)
class ExportFormat:
    name: str  # as the config writes it
    keras_format: str  # model.export's format
    artifact: str  # the file inside export/<name>/, or "" where the export is the folder itself
    runtime: str  # the distribution whose version the check records
    load: Callable[[Path], Predictor]


def _load_saved_model(path: Path) -> Predictor:
    # The SavedModel's runtime is TensorFlow itself, used as any user of the export would use it.
    import tensorflow as tf

    # The loaded object owns the variables that `serve` reads: kept alive as long as the predictor.
    loaded = tf.saved_model.load(str(path))
    return lambda images: np.asarray(loaded.serve(images))


def _load_onnx(path: Path) -> Predictor:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (image_input,) = session.get_inputs()
    batch = image_input.shape[0]

    def predict(images: np.ndarray) -> np.ndarray:
        # An export traced with a fixed batch (Keras's torch backend) takes that many images a call.
        step = batch if isinstance(batch, int) and batch > 0 else len(images)
        parts = [
            session.run(None, {image_input.name: images[start : start + step]})[0]
            for start in range(0, len(images), step)
        ]
        return np.concatenate(parts)

    return predict


def _load_litert(path: Path) -> Predictor:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    (image_input,) = interpreter.get_input_details()
    (output,) = interpreter.get_output_details()

    def predict(images: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(image_input["index"], list(images.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(image_input["index"], images.astype(image_input["dtype"]))
        interpreter.invoke()
        return np.array(interpreter.get_tensor(output["index"]))

    return predict


FORMATS = {
    entry.name: entry
    for entry in (
        ExportFormat("saved_model", "tf_saved_model", "", "tensorflow", _load_saved_model),
        ExportFormat("onnx", "onnx", "model.onnx", "onnxruntime", _load_onnx),
        ExportFormat("litert", "litert", "model.tflite", "ai-edge-litert", _load_litert),
    )
}


def artifact_path(folder: Path, name: str) -> Path:
    """Where format `name`'s export lies inside its folder export/<name>/."""
    entry = FORMATS[name]
    return Path(folder) / entry.artifact if entry.artifact else Path(folder)


class _Messages(logging.Handler):
    """Keeps the warnings and errors an exporter logs (tf2onnx names the operations it cannot
    convert in its log and still writes a file)."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(f"{record.name}: {record.getMessage()}")


def _quoted(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + " [...]"


def _named_layers(model, text: str) -> list[str]:
    """The model's layers (nested ones included) that a message names."""
    return sorted({layer.name for layer in model._flatten_layers() if layer.name in text})


def export_model(model, name: str, folder: Path) -> list[str]:
    """Export `model` (taking raw pixels) as format `name` into `folder`, which it replaces; returns
    what the exporter logged at warning level or above."""
    from transfer_study.models.serving import inference_model

    folder = Path(folder)
    entry = FORMATS[name]
    partial = folder.with_name(f"partial.{os.getpid()}.{folder.name}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    messages = _Messages()
    root = logging.getLogger()
    root.addHandler(messages)
    try:
        with warnings.catch_warnings():
            # tf2onnx's NumPy 2 shims; nothing a user can act on.
            warnings.simplefilter("ignore", FutureWarning)
            inference_model(model).export(
                str(artifact_path(partial, name)), format=entry.keras_format, verbose=False
            )
    except Exception as error:
        shutil.rmtree(partial, ignore_errors=True)
        layers = _named_layers(model, str(error))
        raise ExportError(
            f"{name}: Keras's exporter (model.export(format={entry.keras_format!r})) failed"
            + (f" in layer(s) {', '.join(layers)}" if layers else "")
            + f": {_quoted(error)}"
        ) from error
    finally:
        root.removeHandler(messages)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return messages.lines


def check_export(model, name: str, folder: Path, images: np.ndarray, precision: str,
                 exporter_messages: list[str] = ()) -> dict:  # fmt: skip
    """Predict `images` with the export in its runtime and with `model`; the comparison's numbers.
    Raises ExportError when the runtime cannot load or run the export."""
    entry = FORMATS[name]
    path = artifact_path(folder, name)
    images = np.ascontiguousarray(images, dtype="float32")
    expected = np.asarray(model.predict(images, batch_size=len(images), verbose=0), dtype="float64")
    try:
        got = np.asarray(entry.load(path)(images), dtype="float64")
    except Exception as error:
        logged = "; ".join(line for line in exporter_messages if "tf2onnx" in line or "ERROR" in line)
        layers = _named_layers(model, str(error))
        raise ExportError(
            f"{name}: the export was written but {entry.runtime} cannot run it"
            + (f" (layer(s) {', '.join(layers)})" if layers else "")
            + f": {_quoted(error)}"
            + (f"; the exporter said: {logged[:MESSAGE_CHARS]}" if logged else "")
        ) from error
    if got.shape != expected.shape:
        raise ExportError(
            f"{name}: the export answers shape {got.shape} where the model answers {expected.shape}"
        )
    tolerance = TOLERANCES[precision]
    top1_equal = int((got.argmax(axis=1) == expected.argmax(axis=1)).sum())
    difference = float(np.abs(got - expected).max()) if len(images) else 0.0
    return {
        "format": name,
        "artifact": path.relative_to(Path(folder).parent).as_posix(),
        "sha256": tree_sha256(path),
        "bytes": sum(item.stat().st_size for item in [path, *path.rglob("*")] if item.is_file()),
        "runtime": {"name": entry.runtime, "version": importlib.metadata.version(entry.runtime)},
        "images": len(images),
        "top1_equal": top1_equal,
        "max_probability_difference": difference,
        "precision": precision,
        "tolerance": tolerance,
        "passed": top1_equal == len(images) and difference <= tolerance,
    }


def without_export(name: str, experiment: str) -> str:
    """What to do about an export that cannot be made or trusted: where the config asks for it."""
    return (
        f"to go on without this export, remove {name} from the `export` of experiment {experiment} "
        "(or of the grid that made it) in the config"
    )


def failed_check_message(check: dict) -> str:
    return (
        f"{check['format']}: the export disagrees with the Keras model on the first {check['images']} test "
        f"images: top-1 equal on {check['top1_equal']}, largest probability difference "
        f"{check['max_probability_difference']:.3g} "
        f"(allowed {check['tolerance']:g} for {check['precision']}); "
        "the numbers are in the job's log"
    )
