"""image_folder: your own images, one sub-folder per class, in a folder or a zip or tar(.gz) of one.

Four layouts, told apart by the keys of the dataset's `splits`:

- `{train: A, validation: B, test: C}`: one source per split, each of class folders;
- `{train: A, test: C}`: the same without a validation source (how most downloaded data sets come);
- `{presplit: A}`: one source holding train/, validation/ and test/ (or train/ and test/ only), each of
  class folders;
- `{pool: A}`: one source of class folders, split here: `validation_fraction` and `test_fraction` of
  every class (stratified), drawn with `split_seed`; stats.json records which image went where.

Where the sources hold no validation images, `validation_fraction` of every training class is held out
for validation, drawn with `split_seed` (apart from the training seeds, so every run sees the same
split); stats.json records the fraction, the seed and which image went where (`validation_split`).

Inside a source, folders that wrap everything (`photos/<class>/...`, or `train/<class>/...` in a
train source) are looked through. A class is the first folder below that level, so a class may keep its
images in sub-folders. Class names are the folder names, sorted, unless the dataset lists
`class_names` (labels then count in that order, and the folders must match the list). Class folders,
and files of one source, whose names differ only in case (one on macOS and Windows) are an error.
Where a source is an archive the list is required, since the number of classes must be known before
any job runs; for a directory source the folders are read when the workflow is planned.

Images are read like the beans archives (transfer_study.data.datasets): any format Pillow reads, turned
and converted as a viewer shows them, the same size limits, and every member that is not an image
skipped with its reason in stats.json.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from transfer_study.data.formats.base import DatasetFormat, ReadResult, listed_class_names, synthetic_spec
from transfer_study.data.splitting import SPLITS, fractions, planned_train_count
from transfer_study.problems import Problem, at

if TYPE_CHECKING:
    from transfer_study.data.archives import TarMember, ZipMember

# {train, test} is read as one source per split; validation is then carved from train.
LAYOUTS = {SPLITS: "per_split", ("train", "test"): "per_split", ("presplit",): "presplit", ("pool",): "pool"}


class Placement(NamedTuple):
    """Where a member goes: its split ("pool" before a pool is split), its class, or why it is skipped."""

    split: str
    label: str | None
    reason: str | None


class ImageFolderError(ValueError):
    """A source whose folders do not fit the image_folder layout the config names."""


def layout(split_keys) -> str | None:
    """per_split, presplit or pool from the keys of a dataset's `splits`; None for other keys."""
    return LAYOUTS.get(tuple(sorted(split_keys, key=_split_order)))


def _split_order(key: str) -> int:
    return SPLITS.index(key) if key in SPLITS else len(SPLITS)


# --- reading members -------------------------------------------------------------------------------


def _split_and_judged(names: list[str]) -> tuple[list[tuple[str, ...]], list[str | None]]:
    """Each name's parts and why it is skipped (other software's metadata, a hidden file), or None.

    What a member's folders say is worked out once per folder: a folder of a million photos is a
    million names in a few thousand folders."""
    from transfer_study.data.metadata import file_metadata_reason, folder_metadata_reason, path_parts

    every_parts, reasons, by_folder = [], [], {}
    for name in names:
        parts = path_parts(name)
        folders = parts[:-1]
        if folders not in by_folder:
            hidden = any(folder.startswith(".") for folder in folders)
            by_folder[folders] = (folder_metadata_reason(folders), hidden)
        folder_reason, hidden_folder = by_folder[folders]
        reason = folder_reason or (file_metadata_reason(parts[-1]) if parts else None)
        if reason is None and (hidden_folder or (parts and parts[-1].startswith("."))):
            reason = "hidden file"
        every_parts.append(parts)
        reasons.append(reason)
    return every_parts, reasons


def _wrapper_depth(parts: list[tuple[str, ...]], kind: str) -> int:
    """How many leading folders every path (its parts) shares: folders around everything, each holding
    only one folder. The last folder above the files stays a class, and a presplit source keeps its
    split folders."""
    depth = 0
    while parts and all(len(p) > depth + 2 for p in parts) and len({p[depth] for p in parts}) == 1:
        if kind == "presplit" and parts[0][depth] in SPLITS:
            break
        depth += 1
    return depth


def classify(names: list[str], kind: str, split: str | None = None) -> list[Placement]:
    """(split, class, skip reason) for every member name; the class is None where the member is skipped.

    `kind` is per_split (with `split` the one the source holds), presplit or pool (split "pool").
    """
    every_parts, reasons = _split_and_judged(names)
    depth = _wrapper_depth(
        [p for p, reason in zip(every_parts, reasons, strict=True) if reason is None], kind
    )
    found, kept = [], []
    for name, all_parts, reason in zip(names, every_parts, reasons, strict=True):
        parts = all_parts[depth:]
        member_split = split or "pool"
        if reason:
            found.append(Placement(member_split, None, reason))
            continue
        if kind == "presplit" and len(parts) >= 2:
            if parts[0] not in SPLITS:
                raise ImageFolderError(
                    f"member {name!r} sits in folder {parts[0]!r}, where a presplit source holds only "
                    "train/, validation/ and test/ (each of class folders); use splits: {pool: ...} for "
                    "one folder of class folders"
                )
            member_split, parts = parts[0], parts[1:]
        if len(parts) < 2:
            found.append(Placement(member_split, None, "not in a class folder"))
        else:
            found.append(Placement(member_split, parts[0], None))
            kept.append(name)
    _refuse_split_folders_as_classes({placement.label for placement in found if placement.label}, kind)
    _refuse_files_alike_in_case(kept, names, found)
    return found


def _refuse_files_alike_in_case(kept: list[str], names: list[str], found: list[Placement]) -> None:
    """Two kept files whose paths differ only in case (data.members.differing_only_in_case). Where
    their class folders are what differs (`Cat/a.png`, `cat/a.png`), the class folders' error says so
    (_class_names)."""
    from transfer_study.data.members import case_alike, differing_only_in_case

    alike = differing_only_in_case(kept)
    if not alike:
        return
    label = {name: placement.label for name, placement in zip(names, found, strict=True)}
    for earlier, later in alike:
        if label[earlier] == label[later]:
            raise ImageFolderError(f"files {case_alike(earlier, later)}")


# Folder names that mean a split, not a class: what downloaded data sets and other tools call them.
SPLIT_FOLDER_NAMES = {"train", "training", "validation", "valid", "val", "test", "testing", "dev"}


def _refuse_split_folders_as_classes(classes: set[str], kind: str) -> None:
    """Class folders that are all split names (train/, val/, test/) are a folder already split, given
    where one of class folders was expected: trained as it is, it would classify the split names."""
    if len(classes) < 2 or not all(name.casefold() in SPLIT_FOLDER_NAMES for name in classes):
        return
    folders = ", ".join(f"{name}/" for name in sorted(classes))
    raise ImageFolderError(
        f"its top-level folders are {folders}: splits, not classes. For one source holding them use "
        "splits: {presplit: SOURCE} (folders train/, validation/ and test/, or train/ and test/), or give "
        "each split's folder as its own source: splits: {train: A, validation: B, test: C}"
        + (" (pooled data is one folder of class folders)" if kind == "pool" else "")
    )


def _class_names(found_classes: set[str], listed: list[str] | None, where: str) -> list[str]:
    by_case: dict[str, list[str]] = {}
    for name in sorted(found_classes):
        by_case.setdefault(name.casefold(), []).append(name)
    alike = [spellings for spellings in by_case.values() if len(spellings) > 1]
    if alike:
        named = "; ".join(" and ".join(repr(name) for name in spellings) for spellings in alike)
        raise ImageFolderError(
            f"{where}: class folders {named} differ only in case: one folder on macOS and Windows, two "
            "classes here. Merge them under one name, or rename one"
        )
    if listed is None:
        names = sorted(found_classes)
        if len(names) < 2:
            raise ImageFolderError(
                f"{where}: {len(names)} class folder(s) ({', '.join(names) or 'none'}); a dataset needs at "
                "least two, one folder per class"
            )
        return names
    unlisted, missing = sorted(found_classes - set(listed)), sorted(set(listed) - found_classes)
    if unlisted or missing:
        problems = [f"folders not in the list: {', '.join(unlisted)}"] if unlisted else []
        problems += [f"listed classes without a folder: {', '.join(missing)}"] if missing else []
        raise ImageFolderError(
            f"{where}: the class folders do not match datasets.*.class_names ({', '.join(listed)}): "
            f"{'; '.join(problems)}. Rename the folders or change the list"
        )
    return list(listed)


# --- the format's entries --------------------------------------------------------------------------


def read(dataset: dict, sources: dict[str, Path], size: int, workers: int) -> ReadResult:
    from transfer_study.data.datasets import DatasetError, require_every_class
    from transfer_study.data.members import SourceError
    from transfer_study.data.splitting import carve_validation, split_pool

    where = ", ".join(str(Path(source)) for source in sources.values())
    try:
        members = _placed_members(layout(sources), sources)
        class_names = _class_names({m.label for m in members if m.label}, dataset.get("class_names"), where)
    except (ImageFolderError, SourceError) as error:
        raise DatasetError(str(error)) from None
    skipped = [{"archive": m.source, "member": m.name, "reason": m.reason} for m in members if m.reason]
    decoded = {}
    for split in sorted({m.split for m in members if m.label}):
        kept = [(m.name, class_names.index(m.label), m.data) for m in members if m.label and m.split == split]
        decoded[split] = _decoded(kept, size, workers, sources, split, skipped)
    stats = {}
    if "pool" in decoded:
        decoded, stats["pool_split"] = split_pool(*decoded.pop("pool"), class_names, dataset)
    elif "validation" not in decoded and "train" in decoded:
        decoded, stats["validation_split"] = carve_validation(decoded, class_names, dataset)
    arrays, names = {}, {}
    for split in SPLITS:
        x, y, names[split] = decoded.get(split) or _decoded([], size, workers, sources, split, skipped)
        require_every_class(y, class_names, f"{where} ({split})")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    # Validation carved from train comes from the train source; a pool or presplit source is the only one.
    read_from = {
        split: Path(sources.get(split) or sources.get("train") or next(iter(sources.values()))).name
        for split in SPLITS
    }
    return ReadResult(arrays, class_names, skipped, stats, members=names, sources=read_from)


class _Member(NamedTuple):
    source: str
    name: str
    data: Path | ZipMember | TarMember  # read only when decoded (datasets.decode_into)
    split: str
    label: str | None
    reason: str | None


def _placed_members(kind: str, sources: dict[str, Path]) -> list[_Member]:
    from transfer_study.data.members import read_source_files

    placed = []
    for key, source in sources.items():
        source = Path(source)
        members, unread, _ = read_source_files(source)
        split = key if kind == "per_split" else None
        try:
            found = classify([name for name, _ in members], kind, split)
        except ImageFolderError as error:
            raise ImageFolderError(f"{source}: {error}") from None
        for (name, data), where in zip(members, found, strict=True):
            placed.append(_Member(source.name, name, data, *where))
        placed += [_Member(source.name, name, b"", split or "pool", None, why) for name, why in unread]
    return placed


def _decoded(kept: list, size: int, workers: int, sources: dict, split: str, skipped: list[dict]):
    from transfer_study.data.datasets import decode_members

    source_name = Path(sources.get(split) or next(iter(sources.values()))).name
    return decode_members(kept, size, workers, source_name, skipped)


def _directory(config: dict, source: str) -> Path | None:
    directory = config["sources"].get(source, {}).get("directory")
    return Path(directory) if directory is not None else None


def _planned_members(config: dict, name: str) -> list[tuple[str, str, int]] | None:
    """(split, class, how many files) of the dataset's directory sources, or None where a source is
    not a directory (or not there: the config check says so)."""
    dataset = config["datasets"][name]
    kind = layout(dataset["splits"])
    found = []
    for key, source in dataset["splits"].items():
        directory = _directory(config, source)
        if directory is None or not directory.is_dir():
            return None
        found += _classified_directory(directory.resolve(), kind, key if kind == "per_split" else None)
    return found


@functools.lru_cache(maxsize=64)
def _classified_directory(directory: Path, kind: str, split: str | None) -> tuple[tuple[str, str, int], ...]:
    """(split, class, how many files) of a folder's files, listed and classified once per process:
    planning asks for the classes and the training count for every job of every experiment, and the
    folder's record (transfer_study.data.directories) is what tells a later run of a change."""
    from collections import Counter

    from transfer_study.data.directories import listed_files

    names = [relative for relative, _ in listed_files(directory)]
    try:
        placements = classify(names, kind, split)
    except ImageFolderError as error:
        raise ImageFolderError(f"{directory}: {error}") from None
    counts = Counter((p.split, p.label) for p in placements if p.label is not None)
    return tuple((member_split, label, count) for (member_split, label), count in sorted(counts.items()))


def class_names(config: dict, name: str) -> list[str] | None:
    """The listed names, or the class folders of directory sources, read at planning."""
    listed = listed_class_names(config, name)
    if listed is not None or layout(config["datasets"][name]["splits"]) is None:
        return listed
    try:
        members = _planned_members(config, name)
    except ImageFolderError:
        return None
    return sorted({cls for _, cls, _ in members}) if members is not None else None


def train_images(config: dict, name: str) -> int | None:
    """From a synthetic spec, `expected_images.train`, or the files of directory sources (an upper
    bound there: a file that does not decode is skipped later); None for archives without either."""
    dataset = config["datasets"][name]
    kind = layout(dataset["splits"])
    if kind is None:
        return None
    drawn = "pool" if kind == "pool" else "carve"
    synthetic = synthetic_spec(
        config, dataset["splits"].get("train") or next(iter(dataset["splits"].values()))
    )
    if synthetic and dataset.get("class_names"):
        per_class = synthetic.get("images_per_class", 20)
        if kind == "presplit" or "validation" in dataset["splits"]:
            drawn = "given"
        return planned_train_count(dict.fromkeys(dataset["class_names"], per_class), dataset, drawn)
    if (dataset.get("expected_images") or {}).get("train"):
        return dataset["expected_images"]["train"]
    try:
        members = _planned_members(config, name)
    except ImageFolderError:
        return None
    if members is None:
        return None
    if kind != "pool" and any(split == "validation" for split, _, _ in members):
        return sum(count for split, _, count in members if split == "train")
    # a pool, or training images that validation is carved from
    counts = {}
    for split, cls, count in members:
        if split in ("pool", "train"):
            counts[cls] = counts.get(cls, 0) + count
    return planned_train_count(counts, dataset, drawn)


def config_errors(config: dict, name: str) -> list[Problem]:
    dataset = config["datasets"][name]
    where = ("datasets", name)
    kind = layout(dataset["splits"])
    errors = []
    if kind != "pool" and "test_fraction" in dataset:
        errors.append(
            at(*where, "test_fraction", message="only a pooled dataset (splits: {pool: ...}) is split by it")
        )
    if kind == "pool" and sum(fractions(dataset)) >= 1:
        errors.append(
            at(
                *where,
                message=(
                    f"validation_fraction + test_fraction is {sum(fractions(dataset)):g}; together they must "
                    "leave some images for training (less than 1)"
                ),
            )
        )
    if dataset.get("class_names") or kind is None:
        return errors
    archives = [source for source in dataset["splits"].values() if _directory(config, source) is None]
    if archives:
        errors.append(
            at(
                *where,
                "class_names",
                message=(
                    f"needed when the images come from an archive (sources.{archives[0]} is a file), since "
                    "the "
                    "number of classes must be known before it is read; list the class folders' names, or "
                    "give "
                    "the images as a `directory:` source"
                ),
            )
        )
        return errors
    try:
        members = _planned_members(config, name)
    except ImageFolderError as error:
        return errors + [at(*where, message=str(error))]
    classes = sorted({cls for _, cls, _ in members or []})
    if members is not None and len(classes) < 2:
        errors.append(
            at(
                *where,
                message=(
                    f"its directories hold {len(classes)} class folder(s) "
                    f"({', '.join(classes) or 'none'}); a "
                    "dataset needs at least two, one folder per class"
                ),
            )
        )
    return errors


def write_synthetic(path: Path, spec: dict) -> None:
    """A zip of PNGs with the beans demo's three classes: <class>/<n>.png, or <split>/<class>/<n>.png
    where the spec names a split."""
    import io

    import numpy as np

    from transfer_study.data import synthetic

    split = spec.get("split")
    rng = np.random.default_rng([spec["seed"], synthetic.SPLITS_INDEX.get(split, 3)])
    with zipfile.ZipFile(path, "w") as archive:
        for label in synthetic.BEANS_CLASSES:
            for index in range(spec["images_per_class"]):
                buffer = io.BytesIO()
                synthetic.beans_image(label, rng, spec["image_size"]).save(buffer, format="PNG")
                member = f"{label}/{index:04d}.png" if split is None else f"{split}/{label}/{index:04d}.png"
                synthetic.zip_entry(archive, member, buffer.getvalue())


FORMAT = DatasetFormat(
    name="image_folder",
    split_keys=tuple(LAYOUTS),
    read=read,
    train_images=train_images,
    options=("validation_fraction", "test_fraction", "split_seed", "expected_images"),
    reads_directories=True,
    class_names=class_names,
    config_errors=config_errors,
    write_synthetic=write_synthetic,
)
