"""cifar10_tar: cifar-10-python.tar.gz as published; validation is held out of its training batches."""

from __future__ import annotations

import io
import pickle
import tarfile
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from transfer_study.data.formats.base import DatasetFormat, ReadResult, synthetic_spec
from transfer_study.problems import Problem, at

if TYPE_CHECKING:  # NumPy and Pillow are imported where used: the registry is read at planning
    import numpy as np

CIFAR10_TRAIN_IMAGES_PER_CLASS = 5000  # five training batches of 10,000 images, 1,000 per class each
DEFAULT_VALIDATION_FRACTION = 0.2


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler for what a CIFAR-10 batch holds and nothing else.

    A batch is a dict of bytes, lists, ints and one NumPy array; a pickle can name any importable
    callable, and loading it calls that. Only the three NumPy names an array needs (under NumPy 1's and
    NumPy 2's module paths) and Python 3's latin-1 encoding of bytes are let through, so a wrong or
    hostile file can fail to load but cannot run code, whatever its checksum.
    """

    def find_class(self, module, name):
        import numpy as np
        from numpy._core.multiarray import _reconstruct

        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): _latin1_encode,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which a CIFAR-10 batch never holds")
        return allowed[(module, name)]


def _latin1_encode(text, encoding="latin-1"):
    """How a Python 3 protocol-2 pickle stores bytes; any other encoding is refused."""
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin-1", "latin1"):
        raise pickle.UnpicklingError(f"encodes with {encoding!r}, not latin-1")
    return text.encode("latin-1")


CIFAR_ROW_BYTES = 3 * 32 * 32
# What to do about an archive that is not the one this format reads, in its errors.
AS_PUBLISHED = (
    "the archive must be cifar-10-python.tar.gz as published (the python version, not the binary or "
    "MATLAB one): check the url and checksums of the source that datasets.*.splits.archive names"
)


def _unpickle(data: bytes, archive: Path, member: str) -> dict:
    """One CIFAR-10 batch, checked: a dict whose `data` is uint8 rows of 3072 bytes and whose `labels`
    are as many ints from 0 to 9. Anything else is a DatasetError naming the archive and the member."""
    import numpy as np

    from transfer_study.data.datasets import DatasetError

    def wrong(what: str) -> DatasetError:
        return DatasetError(f"{archive}: member {member} is not a CIFAR-10 batch: {what}; {AS_PUBLISHED}")

    try:
        batch = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:
        raise wrong(f"it does not load ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict):
        raise wrong(f"it holds a {type(batch).__name__}, not a dict")
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise wrong(f"no {' or '.join(missing)} entry (it has {', '.join(map(str, batch)) or 'none'})")
    rows, labels = batch["data"], batch["labels"]
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8 or rows.ndim != 2:
        raise wrong("its data is not a two-dimensional uint8 array")
    if rows.shape[1] != CIFAR_ROW_BYTES:
        raise wrong(f"its rows hold {rows.shape[1]} bytes, not {CIFAR_ROW_BYTES} (32 x 32 x 3)")
    if not isinstance(labels, list) or not all(isinstance(label, int) for label in labels):
        raise wrong("its labels are not a list of integers")
    if len(labels) != len(rows):
        raise wrong(f"{len(labels)} labels for {len(rows)} images")
    if labels and not 0 <= min(labels) <= max(labels) <= 9:
        raise wrong(f"labels run from {min(labels)} to {max(labels)}, not 0 to 9")
    return batch


def _cifar_images(batch: dict, size: int) -> np.ndarray:
    import numpy as np

    from transfer_study.data.datasets import decode_resized

    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if size == 32:
        return np.ascontiguousarray(images)
    return np.stack([decode_resized(image, size) for image in images])


def read_cifar10(archive: Path, size: int) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """The official training batches (1-5, in order) and the test batch of cifar-10-python.tar.gz:
    images, labels and each image's name (<batch>/<its file name in the batch>, or its index there)."""
    import numpy as np

    from transfer_study.data.archives import iter_tar_files
    from transfer_study.data.datasets import MAX_ARCHIVE_BYTES, DatasetError

    batches = {
        PurePosixPath(name).name: data
        for name, data in iter_tar_files(archive, max_total_bytes=MAX_ARCHIVE_BYTES)
        if PurePosixPath(name).name.startswith(("data_batch_", "test_batch"))
    }
    train_names = [f"data_batch_{i}" for i in range(1, 6)]
    missing = [name for name in [*train_names, "test_batch"] if name not in batches]
    if missing:
        raise DatasetError(f"{archive}: missing CIFAR-10 batch(es) {', '.join(missing)}; {AS_PUBLISHED}")
    parts = {"train": [(name, _unpickle(batches[name], archive, name)) for name in train_names]}
    parts["test"] = [("test_batch", _unpickle(batches["test_batch"], archive, "test_batch"))]
    return {
        split: (
            np.concatenate([_cifar_images(batch, size) for _, batch in group]),
            np.concatenate([np.asarray(batch["labels"], dtype=np.int64) for _, batch in group]),
            [f"{name}/{image}" for name, batch in group for image in _cifar_image_names(batch)],
        )
        for split, group in parts.items()
    }


def _cifar_image_names(batch: dict) -> list[str]:
    """The batch's own file names where it has them as text, one per image; else the images' indices."""
    names = batch.get("filenames")
    if isinstance(names, list) and len(names) == len(batch["labels"]):
        decoded = [name.decode("utf-8", "replace") if isinstance(name, bytes) else name for name in names]
        if all(isinstance(name, str) for name in decoded):
            return decoded
    return [str(index) for index in range(len(batch["labels"]))]


def _cifar_batch(images: np.ndarray, labels: np.ndarray, name: str) -> bytes:
    # The published batches are Python-2 pickles of dicts with bytes keys and rows of 3072 bytes
    # (1024 red, 1024 green, 1024 blue, each row-major).
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {
        b"batch_label": name.encode(),
        b"labels": [int(label) for label in labels],
        b"data": rows,
        b"filenames": [f"synthetic_{i}.png".encode() for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=2)


def _tar_entry(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    from transfer_study.data.synthetic import ARCHIVE_TIME

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.mktime((*ARCHIVE_TIME, 0, 0, -1)))
    archive.addfile(info, io.BytesIO(data))


def write_cifar10_tar(path: Path, images_per_class: int, seed: int) -> None:
    """A tar.gz laid out as cifar-10-python.tar.gz: five training batches, a test batch, the meta.

    `images_per_class` is per training batch; the test batch gets as many.
    """
    from transfer_study.data.synthetic import CIFAR10_CLASSES, cifar10_arrays

    with tarfile.open(path, "w:gz") as archive:
        meta = {"num_cases_per_batch": images_per_class * 10, "label_names": CIFAR10_CLASSES}
        _tar_entry(archive, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        for index in range(1, 6):
            images, labels = cifar10_arrays(images_per_class, seed * 100 + index)
            data = _cifar_batch(images, labels, f"training batch {index} of 5")
            _tar_entry(archive, f"cifar-10-batches-py/data_batch_{index}", data)
        images, labels = cifar10_arrays(images_per_class, seed * 100 + 99)
        _tar_entry(archive, "cifar-10-batches-py/test_batch", _cifar_batch(images, labels, "test"))
        _tar_entry(archive, "cifar-10-batches-py/readme.html", b"<p>synthetic demo data</p>\n")


def read(dataset: dict, sources: dict[str, Path], size: int, workers: int) -> ReadResult:
    from transfer_study.data.datasets import stratified_split

    parts = read_cifar10(Path(sources["archive"]), size)
    x_all, y_all, names = parts["train"]
    train, validation = stratified_split(y_all, dataset["validation_fraction"], dataset["split_seed"])
    arrays = {
        "x_train": x_all[train],
        "y_train": y_all[train],
        "x_validation": x_all[validation],
        "y_validation": y_all[validation],
    }
    arrays["x_test"], arrays["y_test"], test_names = parts["test"]
    members = {
        "train": [names[i] for i in train],
        "validation": [names[i] for i in validation],
        "test": test_names,
    }
    source = Path(sources["archive"]).name
    return ReadResult(
        arrays, list(dataset["class_names"]), members=members, sources=dict.fromkeys(members, source)
    )


def train_images(config: dict, name: str) -> int | None:
    """Fixed by the format (or a synthetic archive's spec), less the validation share."""
    dataset = config["datasets"][name]
    synthetic = synthetic_spec(config, dataset["splits"]["archive"])
    per_class = 5 * synthetic.get("images_per_class", 20) if synthetic else CIFAR10_TRAIN_IMAGES_PER_CLASS
    fraction = dataset.get("validation_fraction", DEFAULT_VALIDATION_FRACTION)
    held_out = int(round(per_class * fraction))  # as stratified_split rounds
    return len(dataset["class_names"]) * (per_class - held_out)


def config_errors(config: dict, name: str) -> list[Problem]:
    if not config["datasets"][name].get("class_names"):
        return [
            at(
                "datasets",
                name,
                "class_names",
                message="format cifar10_tar needs the ten class names, in label order",
            )
        ]
    return []


def write_synthetic(path: Path, spec: dict) -> None:
    write_cifar10_tar(path, spec["images_per_class"], spec["seed"])


FORMAT = DatasetFormat(
    name="cifar10_tar",
    split_keys=(("archive",),),
    read=read,
    train_images=train_images,
    options=("validation_fraction", "split_seed"),
    config_errors=config_errors,
    write_synthetic=write_synthetic,
)
