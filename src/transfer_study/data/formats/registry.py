"""The registered dataset formats, by name.

Adding a format: write one module beside this one that defines `FORMAT = DatasetFormat(...)` (see
base.py) and add it to BUILT_IN below (the registry's shape is transfer_study/registry.py's, as for the
model families). Importing this module imports no Keras, NumPy or Pillow: the
config check at planning asks it.
"""

from __future__ import annotations

from transfer_study.data.formats import beans_zip, cifar10_tar, csv_table, image_folder
from transfer_study.data.formats.base import DatasetFormat
from transfer_study.registry import Registry


class UnknownFormatError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


BUILT_IN = (beans_zip.FORMAT, cifar10_tar.FORMAT, csv_table.FORMAT, image_folder.FORMAT)
FORMATS: Registry[DatasetFormat] = Registry("dataset format", "formats", UnknownFormatError, BUILT_IN)


def register(dataset_format: DatasetFormat) -> DatasetFormat:
    return FORMATS.register(dataset_format)


def names() -> list[str]:
    return FORMATS.names()


def get(name: str) -> DatasetFormat:
    return FORMATS.get(name)


def write_synthetic_source(path, spec: dict) -> None:
    """Write the file a `synthetic:` source of the config describes, in its format's layout.

    Here, not in data/synthetic.py: the demo's pretraining draws its images with that module, and must
    not reach every format through it."""
    from pathlib import Path

    from transfer_study.files import write_atomically

    write = get(spec["format"]).write_synthetic
    if write is None:
        raise ValueError(f"dataset format {spec['format']!r} has no synthetic source")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda partial: write(partial, spec))


def split_key_choices(dataset_format: DatasetFormat) -> str:
    return " or ".join("{" + ", ".join(keys) + "}" for keys in dataset_format.split_keys)
