"""csv: images labelled by a table, a CSV or TSV file beside them (fastai's `from_csv`, Ludwig's tables).

The dataset's `splits` is `{images: SOURCE}`: a folder, zip or tar(.gz) holding the table (`table:`, its
path inside the source) and the images. Each row names an image by a path relative to the table's
folder (`path_column`, default `path`) and its class (`label_column`, default `label`); with a
`split_column` each row also says its split (train, validation or test; val/valid, and Ludwig's 0/1/2,
are read as the same). Without one, validation_fraction and test_fraction of every class are held out
with split_seed, as for image_folder's pools; with one but no validation rows, validation is carved
from the training rows.

The table is checked whole before any image is decoded: a missing file, an empty or unlisted label, a
duplicate path (also two paths that differ only in case, one file on macOS and Windows), a path leaving
the source or a row of the wrong width is an error naming the table and its line. Images that do not
decode are skipped with their reason, as in image_folder; files the table does not name are left out
and counted in stats.json. `.tsv` and `.tab` tables are tab-separated, any other comma-separated; the
text is UTF-8 (with or without the byte-order mark spreadsheets write).
"""

from __future__ import annotations

import functools
import posixpath
from pathlib import Path
from typing import NamedTuple

from transfer_study.data.formats.base import DatasetFormat, ReadResult, listed_class_names, synthetic_spec
from transfer_study.data.splitting import SPLITS, fractions, planned_train_count
from transfer_study.problems import Problem, at

SOURCE_KEY = "images"
DEFAULT_PATH_COLUMN = "path"
DEFAULT_LABEL_COLUMN = "label"
MAX_TABLE_BYTES = 64 * 1024**2  # a table of a million rows is about 50 MB
SPLIT_VALUES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "test": "test",
    "0": "train",  # Ludwig's split column: 0 training, 1 validation, 2 test
    "1": "validation",
    "2": "test",
}


class TableError(ValueError):
    """A table that does not label the images as this format reads them; the message names the line."""


class Row(NamedTuple):
    line: int
    path: str  # relative to the source's root, normalised
    label: str
    split: str | None


# How the messages name the dataset's keys: a preprocessing job knows its dataset's settings but not its
# name (`datasets.*.table`); planning names it (`datasets.pets.table`).
ANY_DATASET = "datasets.*"


def table_name(dataset: dict, key: str = ANY_DATASET) -> str:
    """The table's path inside the source; one that would leave it (absolute, or up through ..) is a
    TableError, as the rows' paths are. `key` names the dataset in the message (`datasets.<name>`)."""
    leaving = _leaving_table(dataset)
    if leaving is not None:
        raise TableError(f"{key}.table: {leaving}")
    return posixpath.normpath(str(dataset["table"]).replace("\\", "/"))


def _leaving_table(dataset: dict) -> str | None:
    """What is wrong with a `table` that leaves its source (absolute, or up through ..); None if none."""
    written = str(dataset["table"]).replace("\\", "/")
    name = posixpath.normpath(written)
    if written.startswith("/") or (len(written) > 1 and written[1] == ":") or name.split("/")[0] == "..":
        return f"{written!r} leaves the source; give the table's path inside it"
    return None


def parse_table(data: bytes, where: str, dataset: dict, key: str = ANY_DATASET) -> list[Row]:
    """The rows of a table's bytes, every one checked; `where` names the table in the messages, `key`
    the dataset's keys (`datasets.<name>`)."""
    import csv
    import io

    if len(data) > MAX_TABLE_BYTES:
        raise TableError(f"{where}: {len(data):,} bytes, over the limit of {MAX_TABLE_BYTES:,} for a table")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TableError(
            f"{where}: not UTF-8 text (byte {error.start:,} cannot be read); save the table as UTF-8"
        ) from None
    delimiter = "\t" if where.lower().endswith((".tsv", ".tab")) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as error:
        raise TableError(f"{where}, line 1: {error}") from None
    columns = _columns(header, where, dataset, key)
    folder = posixpath.dirname(table_name(dataset, key))
    listed = set(dataset.get("class_names") or [])
    rows, first_line = [], {}
    try:
        for fields in reader:
            line = reader.line_num
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(header):
                raise TableError(
                    f"{where}, line {line}: {len(fields)} fields where the header has {len(header)}; "
                    "quote a value that holds the delimiter"
                )
            row = _row(fields, columns, line, where, folder, listed, key)
            if row.path in first_line:
                raise TableError(
                    f"{where}, line {line}: {row.path!r} is listed already on line {first_line[row.path]}; "
                    "an image is one row"
                )
            first_line[row.path] = line
            rows.append(row)
    except csv.Error as error:
        raise TableError(f"{where}, line {reader.line_num}: {error}") from None
    if not rows:
        raise TableError(f"{where}: no rows below the header; a table lists one image per row")
    _refuse_paths_alike_in_case(rows, first_line, where)
    return rows


def _refuse_paths_alike_in_case(rows: list[Row], first_line: dict[str, int], where: str) -> None:
    """Two rows whose paths differ only in case (data.members.differing_only_in_case), as a path listed
    twice is: both lines and both spellings."""
    from transfer_study.data.members import case_alike, differing_only_in_case

    alike = differing_only_in_case([row.path for row in rows])
    if alike:
        earlier, later = alike[0]
        raise TableError(
            f"{where}, lines {first_line[earlier]} and {first_line[later]}: {case_alike(earlier, later)}"
        )


def _columns(header: list[str], where: str, dataset: dict, key: str) -> dict[str, int | None]:
    wanted = {
        "path": dataset.get("path_column", DEFAULT_PATH_COLUMN),
        "label": dataset.get("label_column", DEFAULT_LABEL_COLUMN),
        "split": dataset.get("split_column"),
    }
    columns = {}
    for role, name in wanted.items():
        if name is None:
            columns[role] = None
        elif name in header:
            columns[role] = header.index(name)
        else:
            raise TableError(
                f"{where}: no column {name!r} ({key}.{role}_column) in its header "
                f"({', '.join(repr(column) for column in header) or 'empty'}); name the column that holds "
                f"each image's {role}"
            )
    return columns


def _row(fields, columns, line: int, where: str, folder: str, listed: set[str], key: str) -> Row:
    place = f"{where}, line {line}"
    raw_path = fields[columns["path"]].strip().replace("\\", "/")
    if not raw_path:
        raise TableError(f"{place}: the path is empty")
    path = posixpath.normpath(posixpath.join(folder, raw_path))
    if raw_path.startswith("/") or (len(raw_path) > 1 and raw_path[1] == ":") or path.split("/")[0] == "..":
        raise TableError(
            f"{place}: {raw_path!r} leaves the source; paths are relative to the table's folder and stay "
            "inside the source"
        )
    label = fields[columns["label"]].strip()
    if not label:
        raise TableError(f"{place}: {raw_path!r} has an empty label")
    if listed and label not in listed:
        raise TableError(
            f"{place}: label {label!r} is not in {key}.class_names ({', '.join(sorted(listed))}); add "
            "it to the list or correct the row"
        )
    split = None
    if columns["split"] is not None:
        value = fields[columns["split"]].strip()
        split = SPLIT_VALUES.get(value.lower())
        if split is None:
            raise TableError(
                f"{place}: split {value!r} is none of train, validation (val, valid) and test (or 0, 1, 2)"
            )
    return Row(line, path, label, split)


def _missing_file_error(row: Row, where: str, names) -> TableError:
    alike = [name for name in names if name.casefold() == row.path.casefold()]
    hint = f"; {alike[0]!r} differs only in case" if alike else ""
    return TableError(f"{where}, line {row.line}: no file {row.path!r} in the source{hint}")


# --- reading ---------------------------------------------------------------------------------------


def read(dataset: dict, sources: dict[str, Path], size: int, workers: int) -> ReadResult:
    from transfer_study.data.datasets import DatasetError, decode_members, require_every_class
    from transfer_study.data.members import SourceError, read_source_files
    from transfer_study.data.splitting import carve_validation, split_pool

    source = Path(sources[SOURCE_KEY])
    try:
        name = table_name(dataset)
    except TableError as error:
        raise DatasetError(str(error)) from None
    where = f"{source}/{name}" if source.is_dir() else f"{source}:{name}"
    try:
        if source.is_dir():
            rows = parse_table(_table_bytes(source / name, where), where, dataset)
            wanted = {row.path for row in rows}
            files, unread, left_out = read_source_files(source, wanted.__contains__)
            left_out -= 1  # the table itself
        else:
            files, unread, left_out = read_source_files(source)
            content = dict(files)
            if name not in content:
                raise TableError(
                    f"{source}: no member {name!r} ({ANY_DATASET}.table); put the table inside the archive, "
                    "or give its path there"
                )
            rows = parse_table(_member_bytes(content.pop(name), where), where, dataset)
            left_out += len(content) - len({row.path for row in rows} & content.keys())
        content = dict(files)
        unread_reasons = dict(unread)
        for row in rows:
            if row.path in unread_reasons:
                raise TableError(f"{where}, line {row.line}: {row.path!r}: {unread_reasons[row.path]}")
            if row.path not in content:
                raise _missing_file_error(row, where, _file_names(source) if source.is_dir() else content)
        class_names = dataset.get("class_names") or sorted({row.label for row in rows})
        if len(class_names) < 2:
            raise TableError(f"{where}: one label ({class_names[0]!r}); a dataset needs at least two classes")
        decoded, skipped, stats = {}, [], {}
        splits = {row.split or "pool" for row in rows}
        for split in sorted(splits):
            kept = [
                (r.path, class_names.index(r.label), content[r.path])
                for r in rows
                if (r.split or "pool") == split
            ]
            decoded[split] = decode_members(kept, size, workers, source.name, skipped)
        if "pool" in decoded:
            decoded, stats["pool_split"] = split_pool(*decoded.pop("pool"), class_names, dataset)
        else:
            for needed in ("train", "test"):
                if needed not in decoded:
                    raise TableError(
                        f"{where}: no row has split {needed!r} in column {dataset['split_column']!r}; "
                        "the table needs training and test rows (validation is carved from train where "
                        "it has none)"
                    )
            if "validation" not in decoded:
                decoded, stats["validation_split"] = carve_validation(decoded, class_names, dataset)
    except (TableError, SourceError) as error:
        raise DatasetError(str(error)) from None
    arrays, names = {}, {}
    for split in SPLITS:
        x, y, names[split] = decoded[split]
        require_every_class(y, class_names, f"{where} ({split})")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    stats["table"] = {
        "file": name,
        "rows": len(rows),
        "columns": {
            "path": dataset.get("path_column", DEFAULT_PATH_COLUMN),
            "label": dataset.get("label_column", DEFAULT_LABEL_COLUMN),
            "split": dataset.get("split_column"),
        },
        "files_not_in_table": left_out,
    }
    sources_read = dict.fromkeys(SPLITS, source.name)
    return ReadResult(arrays, list(class_names), skipped, stats, members=names, sources=sources_read)


def _file_names(directory: Path) -> list[str]:
    """Every file of a folder source, for the hint of a row whose file is missing: only the files the
    table names are read, and the one spelled otherwise is not among them."""
    from transfer_study.data.directories import listed_files

    return [relative for relative, _ in listed_files(directory)]


def _member_bytes(member, where: str) -> bytes:
    """The content of a table kept in an archive: its zip or tar member read now."""
    from transfer_study.data.archives import close_zips, read_member

    try:
        return read_member(member, MAX_TABLE_BYTES)
    except ValueError as error:
        raise TableError(f"{where}: {error}") from None
    finally:
        close_zips()  # the images are read later, by whichever processes decode them


def _table_bytes(path: Path, where: str, key: str = ANY_DATASET) -> bytes:
    if not path.is_file():
        raise TableError(
            f"{where}: no such file; {key}.table names the table by its path inside the source: correct "
            "it, or put the table there"
        )
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise TableError(
            f"{where}: {path.stat().st_size:,} bytes, over the limit of {MAX_TABLE_BYTES:,} for a table"
        )
    return path.read_bytes()


# --- planning --------------------------------------------------------------------------------------


def _directory(config: dict, name: str) -> Path | None:
    directory = config["sources"].get(config["datasets"][name]["splits"][SOURCE_KEY], {}).get("directory")
    return Path(directory) if directory is not None else None


def _planned_rows(config: dict, name: str) -> list[Row] | None:
    """The table's rows where the source is a folder (read at planning), else None."""
    directory = _directory(config, name)
    if directory is None or not directory.is_dir():
        return None
    dataset = config["datasets"][name]
    key = f"datasets.{name}"
    table = directory / table_name(dataset, key)
    stat = table.stat() if table.is_file() else None
    return _rows_cached(str(table), stat and (stat.st_size, stat.st_mtime_ns), _options_key(dataset), key)


def _options_key(dataset: dict) -> tuple:
    keys = ("table", "path_column", "label_column", "split_column", "class_names")
    return tuple((key, tuple(v) if isinstance(v := dataset.get(key), list) else v) for key in keys)


@functools.lru_cache(maxsize=16)
def _rows_cached(table: str, stamp, options: tuple, key: str) -> list[Row]:
    """Planning asks for the rows for every job; the table is read once per process and change. `key`
    names the dataset in the messages (`datasets.<name>`)."""
    dataset = {
        option: list(value) if isinstance(value, tuple) else value
        for option, value in options
        if value is not None
    }
    return parse_table(_table_bytes(Path(table), table, key), table, dataset, key)


def class_names(config: dict, name: str) -> list[str] | None:
    listed = listed_class_names(config, name)
    if listed is not None:
        return listed
    try:
        rows = _planned_rows(config, name)
    except TableError:
        return None
    return sorted({row.label for row in rows}) if rows is not None else None


def train_images(config: dict, name: str) -> int | None:
    dataset = config["datasets"][name]
    synthetic = synthetic_spec(config, dataset["splits"][SOURCE_KEY])
    if synthetic and dataset.get("class_names"):
        per_class = dict.fromkeys(dataset["class_names"], synthetic.get("images_per_class", 20))
        return planned_train_count(per_class, dataset, "pool")
    if (dataset.get("expected_images") or {}).get("train"):
        return dataset["expected_images"]["train"]
    try:
        rows = _planned_rows(config, name)
    except TableError:
        return None
    if rows is None:
        return None
    counts: dict[str, int] = {}
    for row in rows:
        if row.split in (None, "train"):
            counts[row.label] = counts.get(row.label, 0) + 1
    if dataset.get("split_column") is None:
        return planned_train_count(counts, dataset, "pool")
    has_validation = any(row.split == "validation" for row in rows)
    return planned_train_count(counts, dataset, "given" if has_validation else "carve")


def config_errors(config: dict, name: str) -> list[Problem]:
    dataset = config["datasets"][name]
    where = ("datasets", name)
    if not dataset.get("table"):
        return [
            at(
                *where,
                "table",
                message="format csv needs the table's path inside the source (table: labels.csv)",
            )
        ]
    if _leaving_table(dataset) is not None:
        return [at(*where, "table", message=_leaving_table(dataset))]
    errors = []
    if dataset.get("split_column") and "test_fraction" in dataset:
        errors.append(
            at(*where, "test_fraction", message="the table's split column says which rows are test")
        )
    if sum(fractions(dataset)) >= 1:
        errors.append(
            at(
                *where,
                message=(
                    f"validation_fraction + test_fraction is {sum(fractions(dataset)):g}; together they must "
                    "leave some images for training (less than 1)"
                ),
            )
        )
    directory = _directory(config, name)
    if directory is None:
        if not dataset.get("class_names"):
            errors.append(
                at(
                    *where,
                    "class_names",
                    message=(
                        "needed when the table comes in an archive, since the number of classes must be "
                        "known "
                        "before it is read; list the labels, or give a `directory:` source"
                    ),
                )
            )
        return errors
    try:
        rows = _planned_rows(config, name)
    except TableError as error:
        return errors + [at(*where, message=str(error))]
    if rows is None:
        return errors
    from transfer_study.data.directories import listed_files

    names = {relative for relative, _ in listed_files(directory)}
    missing = [row for row in rows if row.path not in names]
    if missing:
        errors.append(
            at(
                *where,
                message=(
                    str(_missing_file_error(missing[0], str(directory / table_name(dataset)), names))
                    + (f" (and {len(missing) - 1} more rows)" if len(missing) > 1 else "")
                ),
            )
        )
    if len({row.label for row in rows}) < 2:
        errors.append(at(*where, message="the table has one label; a dataset needs at least two classes"))
    return errors


def write_synthetic(path: Path, spec: dict) -> None:
    """A zip of labels.csv and images/<n>.png with the beans demo's three classes, rows shuffled so
    that no folder and no order gives a label away."""
    import io
    import zipfile

    import numpy as np

    from transfer_study.data import synthetic

    rng = np.random.default_rng([spec["seed"], 5])
    labels = [label for label in synthetic.BEANS_CLASSES for _ in range(spec["images_per_class"])]
    order = rng.permutation(len(labels))
    lines = ["path,label"]
    with zipfile.ZipFile(path, "w") as archive:
        for index, position in enumerate(order):
            label = labels[position]
            buffer = io.BytesIO()
            synthetic.beans_image(label, rng, spec["image_size"]).save(buffer, format="PNG")
            member = f"images/{index:05d}.png"
            synthetic.zip_entry(archive, member, buffer.getvalue())
            lines.append(f"{member},{label}")
        synthetic.zip_entry(archive, "labels.csv", ("\n".join(lines) + "\n").encode())


FORMAT = DatasetFormat(
    name="csv",
    split_keys=((SOURCE_KEY,),),
    read=read,
    train_images=train_images,
    options=(
        "table",
        "path_column",
        "label_column",
        "split_column",
        "validation_fraction",
        "test_fraction",
        "split_seed",
        "expected_images",
    ),
    reads_directories=True,
    class_names=class_names,
    config_errors=config_errors,
    write_synthetic=write_synthetic,
)
