"""Classify new images with a trained run: one CSV row per image, from the command line or a rule.

    python -m transfer_study.predict RUN IMAGES... [--out FILE] [--top-k K] [--batch-size N]

RUN is a run folder (results/runs/<experiment>/seed<N>): its model.keras, and the class names in its
metrics.json; the image size is the model's own input size, so nothing comes from the current config.
IMAGES are image files, folders (read recursively, hidden files and other software's metadata left
out, as for image_folder) and zip or tar(.gz) archives. Every image is decoded as training decoded it
(EXIF orientation, 16-bit and float pixels, transparency, the size limits) and resized to the model's
size. The CSV has, per image, where it came from (`image`: a path, or `archive:member`), the predicted
class and its probability, the top k classes with theirs, and every class's probability (p_<class>);
an image that cannot be read is a row with its reason in `error` and no prediction.

Images are read, decoded and predicted a batch at a time, so memory does not grow with their number;
on a terminal a progress bar shows the images done, their rate and the time left, and in a log
nothing but the summary line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

# An image file larger than this is not read (decode_image then limits the pixels): a photo is a few MB.
MAX_IMAGE_BYTES = 256 * 1024**2


class Item(NamedTuple):
    """One image to predict: how the CSV names it, and how to get its bytes (or why it cannot be read)."""

    name: str
    read: Callable[[], bytes]


class RunError(ValueError):
    """A run folder that holds no model to predict with."""


def run_model(run: Path):
    """The run's model (uncompiled), its class names and its image size."""
    from transfer_study.training.evaluation import load_trained_model

    run = Path(run)
    model_path, metrics_path = run / "model.keras", run / "metrics.json"
    for path in (model_path, metrics_path):
        if not path.is_file():
            raise RunError(
                f"{path}: not there; RUN is a finished run folder (results/runs/<experiment>/seed<N>) "
                "holding model.keras and metrics.json"
            )
    class_names = _class_names(metrics_path)
    model = load_trained_model(model_path)
    size = int(model.input_shape[1])
    if model.output_shape[-1] != len(class_names):
        raise RunError(
            f"{run}: the model has {model.output_shape[-1]} outputs for the {len(class_names)} classes "
            f"of {metrics_path.name}, so the two come from different runs: put back the pair one run wrote, "
            "or delete both and run the workflow again"
        )
    return model, list(class_names), size


def _class_names(metrics_path: Path) -> list[str]:
    """The class names a run's metrics.json lists, in the order of the model's outputs."""
    try:
        names = json.loads(metrics_path.read_text())["class_names"]
    except (ValueError, KeyError, TypeError) as error:
        reason = "no class_names" if isinstance(error, KeyError | TypeError) else f"not JSON ({error})"
        raise RunError(
            f"{metrics_path}: {reason}, so the model's outputs cannot be named; evaluation writes it: "
            "delete it and run the workflow again"
        ) from None
    return list(names)


def _file_bytes(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"{size:,} bytes, over the limit of {MAX_IMAGE_BYTES:,} for one image file")
    return path.read_bytes()


def _skip_reason(name: str) -> str | None:
    from transfer_study.data.metadata import metadata_reason, path_parts

    parts = path_parts(name)
    if any(part.startswith(".") for part in parts):
        return "hidden file"
    return metadata_reason(name, parts)


def image_items(inputs: list[Path]) -> tuple[list[Item], list[tuple[str, str]]]:
    """Every image the inputs hold, in the order given (a folder's and an archive's in name order), and
    (name, reason) of what is left out as no image of theirs (hidden files, other software's metadata)."""
    from transfer_study.data.archives import check_tar_members, check_zip_members, member_name
    from transfer_study.data.directories import walk

    items, left_out = [], []
    for given in map(Path, inputs):
        if given.is_dir():
            listing = walk(given)
            for relative, path in listing.files:
                name = str(given / relative)
                if (reason := _skip_reason(relative)) is not None:
                    left_out.append((name, reason))
                else:
                    items.append(Item(name, lambda path=Path(path): _file_bytes(path)))
            left_out += [(str(given / relative), why) for relative, why in listing.skipped]
        elif given.is_file() and zipfile.is_zipfile(given):
            archive = zipfile.ZipFile(given)  # noqa: SIM115 - open while its items are read
            for member in sorted(check_zip_members(archive, str(given)), key=member_name):
                if member.is_dir():
                    continue
                name = f"{given}:{member_name(member)}"
                if (reason := _skip_reason(member_name(member))) is not None:
                    left_out.append((name, reason))
                else:
                    items.append(Item(name, lambda member=member, archive=archive: archive.read(member)))
        elif given.is_file() and tarfile.is_tarfile(given):
            archive = tarfile.open(given)  # noqa: SIM115 - open while its items are read
            # In the archive's order: reading a compressed tar forward never decompresses it twice.
            for member in check_tar_members(archive, str(given)):
                if not member.isfile():
                    continue
                name = f"{given}:{member.name}"
                if (reason := _skip_reason(member.name)) is not None:
                    left_out.append((name, reason))
                else:
                    items.append(
                        Item(name, lambda member=member, archive=archive: _tar_bytes(archive, member))
                    )
        elif given.is_file():
            items.append(Item(str(given), lambda path=given: _file_bytes(path)))
        else:
            items.append(Item(str(given), lambda path=given: _missing(path)))
    return items, left_out


def _tar_bytes(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    with archive.extractfile(member) as content:
        return content.read()


def _missing(path: Path) -> bytes:
    raise ValueError(f"no such file or folder: {path}")


def _decoded(item: Item, size: int) -> np.ndarray | str:
    from transfer_study.data.datasets import decode_image

    try:
        return decode_image(item.read(), size)
    except (OSError, ValueError, zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        return str(error) or type(error).__name__


def header(class_names: list[str], top_k: int) -> list[str]:
    columns = ["image", "predicted_class", "probability"]
    for rank in range(1, top_k + 1):
        columns += [f"top_{rank}_class", f"top_{rank}_probability"]
    return columns + [f"p_{name}" for name in class_names] + ["error"]


def _row(name: str, probabilities: np.ndarray | None, reason: str | None, class_names, top_k: int) -> list:
    if probabilities is None:
        return [name, "", ""] + [""] * (2 * top_k + len(class_names)) + [reason]
    order = np.argsort(-probabilities, kind="stable")
    row = [name, class_names[order[0]], f"{probabilities[order[0]]:.6g}"]
    for index in order[:top_k]:
        row += [class_names[index], f"{probabilities[index]:.6g}"]
    row += [""] * (2 * (top_k - min(top_k, len(order))))
    return row + [f"{value:.6g}" for value in probabilities] + [""]


def batches(items: list[Item], size: int, batch_size: int) -> Iterator[list[tuple[str, np.ndarray | str]]]:
    """(name, image or reason) in batches of `batch_size` items, read and decoded only when reached."""
    for start in range(0, len(items), batch_size):
        yield [(item.name, _decoded(item, size)) for item in items[start : start + batch_size]]


def predict_images(run: Path, inputs: list[Path], out: Path, top_k: int = 3, batch_size: int = 64,
                   progress: bool | None = None) -> dict:  # fmt: skip
    """Write `out` (one row per image) and return the counts: images predicted, unreadable, left out."""
    from transfer_study.files import write_atomically

    model, class_names, size = run_model(run)
    top_k = max(1, min(top_k, len(class_names)))
    items, left_out = image_items(inputs)
    counts = {"predicted": 0, "unreadable": 0, "left_out": len(left_out)}
    show = sys.stderr.isatty() if progress is None else progress

    def write(partial: Path) -> None:
        with open(partial, "w", newline="", encoding="utf-8") as handle, _progress(show, len(items)) as bar:
            writer = csv.writer(handle)
            writer.writerow(header(class_names, top_k))
            for batch in batches(items, size, batch_size):
                images = [image for _, image in batch if not isinstance(image, str)]
                probabilities = iter(_probabilities(model, images))
                for name, image in batch:
                    if isinstance(image, str):
                        writer.writerow(_row(name, None, image, class_names, top_k))
                        counts["unreadable"] += 1
                    else:
                        writer.writerow(_row(name, next(probabilities), None, class_names, top_k))
                        counts["predicted"] += 1
                bar(len(batch))

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(Path(out), write)
    return counts


def _probabilities(model, images: list[np.ndarray]) -> np.ndarray:
    if not images:
        return np.zeros((0,))
    # The model takes raw 0..255 pixels (its own rescaling layer), as in training and evaluation.
    return np.asarray(model.predict_on_batch(np.stack(images)), dtype=np.float64)


class _progress:
    """A rich progress bar (images, images per second, time left) on a terminal; nothing otherwise."""

    def __init__(self, show: bool, total: int):
        self.show, self.total, self.bar = show, total, None

    def __enter__(self):
        if self.show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("predicting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("predict", total=self.total, rate="")
        return self._advance

    def _advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, count)
            speed = self.bar.tasks[0].speed
            self.bar.update(self.task, rate=f"{speed:,.0f} images/s" if speed else "")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transfer_study.predict", description=__doc__.splitlines()[0]
    )
    parser.add_argument("run", type=Path, help="a run folder: results/runs/<experiment>/seed<N>")
    parser.add_argument("images", type=Path, nargs="+", help="image files, folders, zip or tar archives")
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"), help="the CSV to write")
    parser.add_argument("--top-k", type=int, default=3, help="how many of the likeliest classes to list")
    parser.add_argument(
        "--batch-size", type=_at_least_one, default=64, help="images decoded and predicted at once"
    )
    arguments = parser.parse_args(argv)
    from transfer_study.training.evaluation import UnreadableModel
    from transfer_study.training.runtime import prepare_environment, skip_final_garbage_collection

    prepare_environment()
    skip_final_garbage_collection()
    try:
        counts = predict_images(arguments.run, arguments.images, arguments.out, arguments.top_k,
                                arguments.batch_size)  # fmt: skip
    except (RunError, ValueError, UnreadableModel) as error:
        print(f"predict: {error}", file=sys.stderr)
        return 2
    print(
        f"{arguments.out}: {counts['predicted']} image(s) predicted, {counts['unreadable']} unreadable "
        f"(their reason in the error column), {counts['left_out']} left out as no image",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
