"""Preprocessing on small archives made here in the published formats."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from transfer_study.data import synthetic as demo
from transfer_study.data.arrays import load_arrays, save_arrays
from transfer_study.data.datasets import DatasetError, stratified_split
from transfer_study.data.formats import beans_zip as beans_format
from transfer_study.data.formats import cifar10_tar
from transfer_study.data.preprocessing import preprocess_dataset

BEANS = {"format": "beans_zip", "class_names": demo.BEANS_CLASSES}
CIFAR = {
    "format": "cifar10_tar",
    "class_names": demo.CIFAR10_CLASSES,
    "validation_fraction": 0.2,
    "split_seed": 3,
}


def _jpeg(colour, size=40, mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def beans_zip(path, split, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(f"{split}/{name}", data)
    return path


def small_beans(tmp_path, extra_train=()):
    archives = {}
    for split in ("train", "validation", "test"):
        members = [
            (f"{label}/{label}_{i}.jpg", _jpeg((40 * index, 100, 20 * i)))
            for index, label in enumerate(demo.BEANS_CLASSES)
            for i in range(3)
        ]
        if split == "train":
            members += list(extra_train)
        archives[split] = beans_zip(tmp_path / f"{split}.zip", split, members)
    return archives


def test_beans_counts_shapes_labels_and_skips(tmp_path):
    png = io.BytesIO()
    Image.new("RGBA", (30, 50), (10, 20, 30, 128)).save(png, format="PNG")
    extra = [
        ("healthy/readme.jpg", b"this is not an image"),
        ("bean_rust/grey.jpg", _jpeg(90, mode="L")),
        ("angular_leaf_spot/alpha.png", png.getvalue()),
        ("loose-file.txt", b"not in a class folder"),
    ]
    arrays, stats = preprocess_dataset(BEANS, small_beans(tmp_path, extra), size=16)
    assert arrays["x_train"].shape == (11, 16, 16, 3) and arrays["x_train"].dtype == np.uint8
    assert arrays["x_test"].shape == (9, 16, 16, 3)
    assert stats["splits"]["train"]["per_class"] == {
        "angular_leaf_spot": 4, "bean_rust": 4, "healthy": 3,
    }  # fmt: skip
    skipped = {entry["member"]: entry["reason"] for entry in stats["skipped"]}
    assert set(skipped) == {"train/healthy/readme.jpg", "train/loose-file.txt"}
    assert "not a decodable image" in skipped["train/healthy/readme.jpg"]
    # Members are read in name order, labels follow the config's class order.
    assert arrays["y_train"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    grey = arrays["x_train"][7]  # train/bean_rust/grey.jpg, after bean_rust_0..2 in name order
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert len(stats["sources"]["train"]["sha256"]) == 64


def test_beans_unknown_class_and_missing_class_are_clear_errors(tmp_path):
    extra = [("mosaic_virus/a.jpg", _jpeg((1, 2, 3)))]
    with pytest.raises(DatasetError, match="'mosaic_virus'.*class_names"):
        preprocess_dataset(BEANS, small_beans(tmp_path, extra), size=16)
    archives = small_beans(tmp_path)
    beans_zip(archives["test"], "test", [("healthy/a.jpg", _jpeg((1, 2, 3)))])
    with pytest.raises(DatasetError, match="angular_leaf_spot, bean_rust"):
        preprocess_dataset(BEANS, archives, size=16)


def test_cifar_split_is_stratified_deterministic_and_keeps_official_test(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    cifar10_tar.write_cifar10_tar(archive, images_per_class=10, seed=5)
    arrays, stats = preprocess_dataset(CIFAR, {"archive": archive}, size=32)
    again, _ = preprocess_dataset(CIFAR, {"archive": archive}, size=32)
    assert arrays["x_train"].shape == (400, 32, 32, 3)
    assert arrays["x_validation"].shape == (100, 32, 32, 3)
    assert arrays["x_test"].shape == (100, 32, 32, 3)
    assert set(stats["splits"]["validation"]["per_class"].values()) == {10}
    for key in arrays:
        np.testing.assert_array_equal(arrays[key], again[key])
    # The images are the pickled rows turned back into height x width x channel.
    expected, _ = demo.cifar10_arrays(10, 5 * 100 + 99)
    np.testing.assert_array_equal(arrays["x_test"], expected)
    # Each image is named by its batch and the file name the batch gives it.
    assert arrays["members_test"][:2].tolist() == ["test_batch/synthetic_0.png", "test_batch/synthetic_1.png"]
    assert len(set(arrays["members_train"]) | set(arrays["members_validation"])) == 500
    assert str(arrays["source_train"]) == "cifar-10-python.tar.gz"


def test_cifar_resizes_to_larger_sizes(tmp_path):
    archive = tmp_path / "cifar.tar.gz"
    cifar10_tar.write_cifar10_tar(archive, images_per_class=2, seed=1)
    arrays, stats = preprocess_dataset(CIFAR, {"archive": archive}, size=48)
    assert arrays["x_train"].shape[1:] == (48, 48, 3)
    assert stats["image_shape"] == [48, 48, 3]


def test_stratified_split_other_seed_differs_same_seed_repeats():
    labels = np.repeat(np.arange(4), 25)
    train, validation = stratified_split(labels, 0.2, seed=0)
    assert len(validation) == 20 and np.bincount(labels[validation]).tolist() == [5, 5, 5, 5]
    assert not set(train) & set(validation) and len(train) + len(validation) == 100
    assert np.array_equal(validation, stratified_split(labels, 0.2, seed=0)[1])
    assert not np.array_equal(validation, stratified_split(labels, 0.2, seed=1)[1])


def test_arrays_round_trip(tmp_path):
    arrays = {"x_train": np.ones((2, 4, 4, 3), np.uint8), "y_train": np.array([0, 1])}
    save_arrays(tmp_path / "d.npz", arrays, ["a", "b"])
    loaded = load_arrays(tmp_path / "d.npz")
    assert loaded["class_names"] == ["a", "b"]
    np.testing.assert_array_equal(loaded["x_train"], arrays["x_train"])
    assert not list(tmp_path.glob("*.partial"))
    arrays["members_train"] = np.asarray(["a/1.png", "b/ção.png"])  # text read back without pickle
    save_arrays(tmp_path / "d.npz", arrays, ["a", "b"])
    only = load_arrays(tmp_path / "d.npz", prefixes=("members_",))
    assert set(only) == {"members_train", "class_names"}
    assert only["members_train"].tolist() == ["a/1.png", "b/ção.png"]


def test_the_images_are_mapped_from_the_file_and_read_a_batch_at_a_time(tmp_path):
    """The images stay on disk: what a job holds is the rows it indexes, read from the file."""
    images = np.random.default_rng(0).integers(0, 256, (50, 6, 6, 3), dtype=np.uint8)
    arrays = {"x_train": images, "y_train": np.arange(50) % 2, "x_test": images[:0], "y_test": np.arange(0)}
    save_arrays(tmp_path / "d.npz", arrays, ["a", "b"])
    loaded = load_arrays(tmp_path / "d.npz")
    assert isinstance(loaded["x_train"], np.memmap) and not loaded["x_train"].flags.writeable
    assert Path(loaded["x_train"].filename) == (tmp_path / "d.npz").resolve()
    np.testing.assert_array_equal(loaded["x_train"][[7, 3]], images[[7, 3]])
    assert loaded["x_test"].shape == (0, 6, 6, 3) and type(loaded["y_train"]) is np.ndarray
    # Still a plain .npz for anyone else's NumPy.
    with np.load(tmp_path / "d.npz") as plain:
        np.testing.assert_array_equal(plain["x_train"], images)


def test_a_compressed_file_of_an_earlier_version_is_still_read(tmp_path):
    images = np.full((3, 2, 2, 3), 9, np.uint8)
    np.savez_compressed(tmp_path / "old.npz", class_names=np.asarray(["a"]), x_train=images)
    loaded = load_arrays(tmp_path / "old.npz")
    assert not isinstance(loaded["x_train"], np.memmap)
    np.testing.assert_array_equal(loaded["x_train"], images)


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("cmyk", lambda: _encoded(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG")),
        ("palette png", lambda: _encoded(Image.new("P", (20, 20), 3), "PNG")),
        ("one pixel", lambda: _encoded(Image.new("RGB", (1, 1), (200, 10, 10)), "JPEG")),
        ("wide", lambda: _encoded(Image.new("RGB", (900, 30), (10, 200, 10)), "PNG")),
    ],
)
def test_unusual_but_valid_images_become_rgb_of_the_asked_size(name, make):
    from transfer_study.data.datasets import decode_image

    image = decode_image(make(), 16)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8


def test_truncated_and_oversized_images_are_refused_with_a_reason(monkeypatch):
    from transfer_study.data.datasets import decode_image

    whole = _jpeg((10, 120, 30), size=64)
    with pytest.raises(ValueError, match="not a decodable image"):
        decode_image(whole[: len(whole) // 2], 16)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # make a 64x64 image count as a bomb
    with pytest.raises(ValueError, match="too large"):
        decode_image(whole, 16)


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_partial(tmp_path, monkeypatch):
    path = tmp_path / "beans-16px.npz"
    save_arrays(path, {"y_train": np.array([0, 1])}, ["a", "b"])
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_arrays(path, {"y_train": np.array([1, 1])}, ["a", "b"])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beans-16px.npz"]


def test_expected_image_counts_catch_an_archive_that_yields_fewer(tmp_path):
    archives = {}
    for split in ("train", "validation", "test"):
        archives[split] = tmp_path / f"{split}.zip"
        beans_format.write_beans_zip(archives[split], split, images_per_class=2, image_size=16, seed=1)
    dataset = {
        "format": "beans_zip",
        "class_names": ["angular_leaf_spot", "bean_rust", "healthy"],
        "expected_images": {"train": 6, "test": 6},
    }
    arrays, _ = preprocess_dataset(dataset, archives, 8)
    assert len(arrays["y_train"]) == 6
    dataset["expected_images"]["test"] = 7
    with pytest.raises(
        DatasetError,
        match=r"test split: 6 images read from .*/test.zip, datasets.leaves.expected_images.test "
        r"in the config says 7",
    ):
        preprocess_dataset(dataset, archives, 8, name="leaves")


def test_empty_class_folder_is_an_error_naming_the_class(tmp_path):
    archives = small_beans(tmp_path)
    members = [(f"{label}/{label}_0.jpg", _jpeg((1, 2, 3))) for label in ("angular_leaf_spot", "healthy")]
    members.append(("bean_rust/", b""))  # the folder is there, with nothing in it
    beans_zip(archives["validation"], "validation", members)
    with pytest.raises(DatasetError, match="bean_rust"):
        preprocess_dataset(BEANS, archives, size=16)


class RunsCode:
    """A pickle that calls a function when loaded, as a hostile CIFAR-10 batch would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def cifar_tar_with_batch(path, batch_bytes):
    """A CIFAR-10 tar whose first training batch is `batch_bytes`; the rest are the demo's."""
    import pickle
    import tarfile

    cifar10_tar.write_cifar10_tar(path.with_suffix(".good.tar.gz"), images_per_class=1, seed=1)
    with tarfile.open(path.with_suffix(".good.tar.gz")) as good, tarfile.open(path, "w:gz") as archive:
        for member in good.getmembers():
            data = good.extractfile(member).read()
            if member.name.endswith("data_batch_1"):
                data = batch_bytes
                if not isinstance(batch_bytes, bytes):
                    data = pickle.dumps(batch_bytes, protocol=2)
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_cifar_batch_that_would_run_code_is_refused_without_running_it(tmp_path):
    import pickle

    marker = tmp_path / "the-pickle-ran"
    hostile = pickle.dumps({b"data": RunsCode(marker), b"labels": [0]}, protocol=2)
    archive = cifar_tar_with_batch(tmp_path / "cifar.tar.gz", hostile)
    with pytest.raises(DatasetError, match=r"cifar\.tar\.gz: member data_batch_1 is not a CIFAR-10 batch"):
        preprocess_dataset(CIFAR, {"archive": archive}, size=32)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("batch", "says"),
    [
        ([1, 2, 3], "it holds a list, not a dict"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "no labels entry"),
        ({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, "rows hold 3000 bytes, not 3072"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "1 labels for 2 images"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}, "labels run from 12 to 12"),
        ({b"data": np.zeros((1, 3072), np.float32), b"labels": [1]}, "not a two-dimensional uint8 array"),
        (b"\x80\x02not a pickle at all", "it does not load"),
    ],
    ids=["list", "no-labels", "short-rows", "label-count", "label-range", "float-data", "garbage"],
)
def test_a_malformed_cifar_batch_is_an_error_naming_the_archive_member_and_the_problem(tmp_path, batch, says):
    archive = cifar_tar_with_batch(tmp_path / "cifar.tar.gz", batch)
    with pytest.raises(DatasetError) as error:
        preprocess_dataset(CIFAR, {"archive": archive}, size=32)
    assert "member data_batch_1 is not a CIFAR-10 batch" in str(error.value) and says in str(error.value)
    assert str(archive) in str(error.value)


def test_a_test_archive_whose_members_sit_under_train_is_refused(tmp_path):
    archives = small_beans(tmp_path)
    members = [(f"{label}/{label}_0.jpg", _jpeg((10, 200, 10))) for label in demo.BEANS_CLASSES]
    archives["test"] = beans_zip(tmp_path / "test.zip", "train", members)  # the training layout
    with pytest.raises(
        DatasetError,
        match=r"test\.zip: member 'train/.*' sits under train/, but this archive is read as the test split",
    ):
        preprocess_dataset(BEANS, archives, size=16)


def test_a_wrapper_folder_and_macos_metadata_are_read_as_before(tmp_path):
    archives = small_beans(tmp_path)
    members = [
        (f"{label}/{label}_w.jpg", _jpeg((30 * index, 90, 10)))
        for index, label in enumerate(demo.BEANS_CLASSES)
    ]
    with zipfile.ZipFile(tmp_path / "wrapped.zip", "w") as archive:
        for name, data in members:
            archive.writestr(f"beans/test/{name}", data)  # the split folder inside a wrapper folder
            archive.writestr(f"__MACOSX/beans/test/._{name.split('/')[-1]}", b"resource fork")
    archives["test"] = tmp_path / "wrapped.zip"
    arrays, stats = preprocess_dataset(BEANS, archives, size=16)
    assert len(arrays["y_test"]) == 3
    assert [s["reason"] for s in stats["skipped"] if s["archive"] == "wrapped.zip"] == ["macOS metadata"] * 3


def test_identical_images_across_splits_are_counted(tmp_path):
    shared = _jpeg((90, 30, 160))
    archives = small_beans(tmp_path)
    extra = [("healthy/copy_a.jpg", shared), ("bean_rust/copy_b.jpg", _jpeg((1, 2, 250)))]
    archives["train"] = beans_zip(tmp_path / "train.zip", "train", [
        (f"{label}/{label}_{i}.jpg", _jpeg((40 * index, 100, 20 * i)))
        for index, label in enumerate(demo.BEANS_CLASSES) for i in range(3)
    ] + extra)  # fmt: skip
    test_members = [
        (f"{label}/{label}_t.jpg", _jpeg((40 * index, 100, 0)))
        for index, label in enumerate(demo.BEANS_CLASSES)
    ]
    archives["test"] = beans_zip(tmp_path / "test.zip", "test", test_members + [("healthy/copy.jpg", shared)])
    _, stats = preprocess_dataset(BEANS, archives, size=16)
    # small_beans draws train and validation from the same nine images; three test images repeat
    # training colours, and the copy makes a fourth.
    assert stats["duplicates_across_splits"] == {"train-validation": 9, "train-test": 4, "validation-test": 3}


def _png_16bit_grey(value: int) -> bytes:
    return _encoded(Image.fromarray(np.full((8, 8), value, dtype=np.uint16)), "PNG")


def _float_tiff(value: float) -> bytes:
    return _encoded(Image.fromarray(np.full((8, 8), value, dtype=np.float32), mode="F"), "TIFF")


def _turned_jpeg() -> bytes:
    """Top half red, bottom half blue as stored; EXIF orientation 3 says a viewer shows it upside down."""
    pixels = np.zeros((40, 40, 3), dtype=np.uint8)
    pixels[:20, :, 0] = 255
    pixels[20:, :, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 3
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def _transparent_png() -> bytes:
    return _encoded(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: _png_16bit_grey(30000), 30000 * 255 / 65535),  # 16-bit grey, not clipped to white
        (lambda: _png_16bit_grey(65535), 255),
        (lambda: _float_tiff(0.5), 127.5),  # floats in 0..1, not rounded down to black
        (_transparent_png, 255),  # transparent over white, as a viewer shows it
    ],
    ids=["16-bit grey 30000", "16-bit grey white", "float TIFF 0.5", "transparent PNG"],
)
def test_images_are_decoded_as_a_viewer_shows_them(make, expected):
    from transfer_study.data.datasets import decode_image

    image = decode_image(make(), 8)
    assert image.shape == (8, 8, 3)
    assert np.abs(image.astype(float) - expected).max() <= 1


def test_the_exif_orientation_is_applied():
    from transfer_study.data.datasets import decode_image

    image = decode_image(_turned_jpeg(), 16).astype(int)
    top, bottom = image[:4].mean(axis=(0, 1)), image[-4:].mean(axis=(0, 1))
    assert top[2] > 200 and top[0] < 50  # blue on top once turned
    assert bottom[0] > 200 and bottom[2] < 50


def test_an_image_of_too_many_pixels_is_refused_from_its_header(monkeypatch):
    from transfer_study.data import datasets as data

    encoded = _jpeg((10, 120, 30), size=64)
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self) or None)
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 63 * 63)
    with pytest.raises(ValueError, match=r"too large to decode safely \(64 x 64 pixels, more than 3,969\)"):
        data.decode_image(encoded, 16)
    assert decoded == []  # refused before any pixel was decoded


def test_decoding_on_several_processes_gives_the_same_images_and_the_same_failures():
    """Forked workers writing into shared memory: the images equal one process's bit for bit, in order,
    and a blob that does not decode is reported at its index wherever it falls."""
    from transfer_study.data import datasets

    rng = np.random.default_rng(3)
    blobs = [
        _encoded(Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)), ("PNG", "JPEG")[i % 2])
        for i in range(datasets.PARALLEL_FROM + 40)
    ]
    blobs[5] = b"not an image"
    blobs[-1] = b""
    one, one_reasons = datasets.decode_into(blobs, 16, workers=1)
    two, two_reasons = datasets.decode_into(blobs, 16, workers=2)
    assert one.shape == two.shape == (len(blobs), 16, 16, 3)
    np.testing.assert_array_equal(one, two)
    assert sorted(one_reasons) == sorted(two_reasons) == [5, len(blobs) - 1]
    assert one_reasons == two_reasons
    assert one[5].max() == 0 and one[6].max() > 0


def _pool_folder(root: Path, per_class: int) -> Path:
    """A pooled image_folder source: three class folders of small PNGs, one file that does not decode."""
    rng = np.random.default_rng(11)
    for label in ("a", "b", "c"):
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
            (root / label / f"{index:03d}.png").write_bytes(_encoded(Image.fromarray(pixels), "PNG"))
    (root / "b" / "broken.png").write_bytes(b"not an image")
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_images_kept_on_disk_are_those_kept_in_memory_and_leave_no_file_behind(tmp_path, workers):
    """Preprocessing with a scratch folder (as the preprocess job runs it) decodes, drops the failures
    and splits into files mapped in place of memory: the same arrays, the same stats, bit for bit, on one
    process or forked ones, and no file is left in the folder."""
    from transfer_study.data import datasets

    source = _pool_folder(tmp_path / "photos", per_class=(datasets.PARALLEL_FROM // 3) + 10)
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    in_memory, memory_stats = preprocess_dataset(dataset, {"pool": source}, 16, workers=workers)
    on_disk, disk_stats = preprocess_dataset(dataset, {"pool": source}, 16, workers=workers, scratch=scratch)
    assert disk_stats == memory_stats
    assert [skip["member"] for skip in disk_stats["skipped"]] == ["b/broken.png"]
    assert sorted(on_disk) == sorted(in_memory)
    for key, array in in_memory.items():
        np.testing.assert_array_equal(on_disk[key], array, err_msg=key)
    for split in ("train", "validation", "test"):
        assert isinstance(on_disk[f"x_{split}"], np.memmap), split  # mapped, not held in memory
        assert not isinstance(in_memory[f"x_{split}"], np.memmap), split
    assert list(scratch.iterdir()) == []  # each file unlinked once mapped
    save_arrays(tmp_path / "pool.npz", on_disk, ["a", "b", "c"])
    loaded = load_arrays(tmp_path / "pool.npz")
    np.testing.assert_array_equal(loaded["x_test"], in_memory["x_test"])


def test_rows_taken_a_chunk_at_a_time_equal_numpys_fancy_indexing(tmp_path, monkeypatch):
    from transfer_study.data import datasets

    images = np.random.default_rng(2).integers(0, 255, (50, 4, 4, 3), dtype=np.uint8)
    rows = np.array([49, 0, 7, 7, 31, 12, 3])
    monkeypatch.setattr(datasets, "ROWS_CHUNK_BYTES", 2 * 4 * 4 * 3)  # two images a chunk
    np.testing.assert_array_equal(datasets.take_rows(images, rows), images[rows])
    with datasets.images_on_disk(tmp_path):
        taken = datasets.take_rows(images, rows)
    assert isinstance(taken, np.memmap)
    np.testing.assert_array_equal(taken, images[rows])
    assert datasets.take_rows(images, []).shape == (0, 4, 4, 3)


def test_a_folders_file_too_large_for_an_image_is_skipped_unread_with_its_reason(tmp_path, monkeypatch):
    """A folder's files are read one at a time as they are decoded; one larger than any image could be
    is skipped from its size, never read, and listed with the reason."""
    from transfer_study.data import datasets

    source = _pool_folder(tmp_path / "photos", per_class=6)
    largest = max(path.stat().st_size for path in source.rglob("*.png"))
    (source / "c" / "huge.png").write_bytes(b"\x89PNG" + bytes(largest + 100))
    monkeypatch.setattr(datasets, "MAX_IMAGE_FILE_BYTES", largest)
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    arrays, stats = preprocess_dataset(dataset, {"pool": source}, 8)
    reasons = {skip["member"]: skip["reason"] for skip in stats["skipped"]}
    assert reasons["c/huge.png"] == f"a file of more than {largest:,} bytes, too large for an image"
    assert "b/broken.png" in reasons
    assert sum(len(arrays[f"y_{split}"]) for split in ("train", "validation", "test")) == 18


def test_rows_kept_in_place_equal_numpys_fancy_indexing_and_need_increasing_rows(monkeypatch):
    """keep_rows moves rows down inside the array a chunk at a time: the result is images[rows] for any
    chunk size, and rows out of order (which would overwrite rows still to move) are refused."""
    from transfer_study.data import datasets

    images = np.random.default_rng(4).integers(0, 255, (40, 3, 3, 3), dtype=np.uint8)
    rows = np.array([1, 2, 5, 6, 7, 20, 21, 39])
    for chunk_images in (1, 3, 100):
        monkeypatch.setattr(datasets, "ROWS_CHUNK_BYTES", chunk_images * 3 * 3 * 3)
        spent = images.copy()
        kept = datasets.keep_rows(spent, rows)
        np.testing.assert_array_equal(kept, images[rows])
        assert np.shares_memory(kept, spent)  # in place: nothing copied elsewhere
    with pytest.raises(ValueError, match="increasing"):
        datasets.keep_rows(images.copy(), [3, 2])
    assert datasets.keep_rows(images.copy(), []).shape == (0, 3, 3, 3)


def _zipped(folder: Path, path: Path, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_a_zip_source_is_read_a_member_at_a_time_into_the_images_of_its_folder(tmp_path, workers):
    """A zip's members are named, not read, when the zip is listed (ZipMember), and read one at a time
    by the process that decodes them: the same arrays and skips as the same files in a folder, bit for
    bit, on one process or forked ones (sharing the zip opened before they fork)."""
    from transfer_study.data import datasets
    from transfer_study.data.archives import ZipMember, close_zips
    from transfer_study.data.members import read_source_files

    folder = _pool_folder(tmp_path / "photos", per_class=(datasets.PARALLEL_FROM // 3) + 10)
    archive = _zipped(folder, tmp_path / "photos.zip")
    listed = read_source_files(archive).files
    assert [name for name, _ in listed] == [name for name, _ in read_source_files(folder).files]
    assert all(isinstance(member, ZipMember) for _, member in listed)
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    from_folder, folder_stats = preprocess_dataset(dataset, {"pool": folder}, 16, workers=workers)
    from_zip, zip_stats = preprocess_dataset(dataset, {"pool": archive}, 16, workers=workers)
    assert sorted(from_zip) == sorted(from_folder)
    for key, array in from_folder.items():
        if not key.startswith("source_"):  # the source's name: photos.zip and photos
            np.testing.assert_array_equal(from_zip[key], array, err_msg=key)
    assert [(s["member"], s["reason"]) for s in zip_stats["skipped"]] == [
        (s["member"], s["reason"]) for s in folder_stats["skipped"]
    ]
    assert zip_stats["skipped"][0]["archive"] == "photos.zip"
    close_zips()
    from transfer_study.data import archives

    assert str(archive) not in archives._OPEN_ZIPS  # none left open


def test_an_archive_of_images_is_no_longer_bound_by_the_in_memory_limit_and_a_damaged_member_is_skipped(
    tmp_path, monkeypatch
):
    """The 1 GiB limit of what an archive may put in memory holds only for the CIFAR-10 python tar, read
    whole; a zip or a tar of images, read a member at a time, passes it. A member that fails its CRC is
    skipped with the reason, as a folder's unreadable file is, and one declared larger than any image is
    skipped unread."""
    from transfer_study.data import datasets
    from transfer_study.data.archives import UnsafeArchiveError

    folder = _pool_folder(tmp_path / "photos", per_class=6)
    largest = max(path.stat().st_size for path in folder.rglob("*.png"))
    (folder / "c" / "huge.png").write_bytes(b"\x89PNG" + bytes(largest + 100))
    archive = _zipped(folder, tmp_path / "photos.zip", zipfile.ZIP_STORED)
    with zipfile.ZipFile(archive) as listing:
        damaged = listing.getinfo("a/002.png")
    data = bytearray(archive.read_bytes())
    data[damaged.header_offset + 30 + len(damaged.filename) + 40] ^= 0xFF  # a byte of its stored pixels
    archive.write_bytes(bytes(data))
    monkeypatch.setattr(datasets, "MAX_ARCHIVE_BYTES", 100)
    monkeypatch.setattr(datasets, "MAX_IMAGE_FILE_BYTES", largest)
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    arrays, stats = preprocess_dataset(dataset, {"pool": archive}, 8)
    reasons = {skip["member"]: skip["reason"] for skip in stats["skipped"]}
    assert reasons["a/002.png"].startswith("could not be read from its zip (BadZipFile: Bad CRC-32")
    assert reasons["c/huge.png"] == f"a member of {largest + 104:,} bytes, over the limit of {largest:,}"
    assert "b/broken.png" in reasons
    assert sum(len(arrays[f"y_{split}"]) for split in ("train", "validation", "test")) == 17
    tar = tmp_path / "photos.tar.gz"
    import tarfile

    with tarfile.open(tar, "w:gz") as packed:
        packed.add(folder, arcname=".")
    arrays, stats = preprocess_dataset(dataset, {"pool": tar}, 8)
    reasons = {skip["member"]: skip["reason"] for skip in stats["skipped"]}
    assert reasons["./c/huge.png"] == f"a member of {largest + 104:,} bytes, over the limit of {largest:,}"
    assert sum(len(arrays[f"y_{split}"]) for split in ("train", "validation", "test")) == 18
    with pytest.raises(UnsafeArchiveError, match="over the limit of 100 bytes"):
        cifar10_tar.read_cifar10(tar, 8)


def test_a_damaged_compressed_member_of_a_zip_is_skipped_with_the_reason(tmp_path):
    # A broken deflate stream (zlib's error, not a CRC mismatch) is as much a damaged member.
    folder = _pool_folder(tmp_path / "photos", per_class=6)
    archive = _zipped(folder, tmp_path / "photos.zip", zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(archive) as listing:
        damaged = listing.getinfo("a/001.png")
    data = bytearray(archive.read_bytes())
    data[damaged.header_offset + 30 + len(damaged.filename)] = 0xFF  # its first byte of deflate data
    archive.write_bytes(bytes(data))
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    arrays, stats = preprocess_dataset(dataset, {"pool": archive}, 8)
    reasons = {skip["member"]: skip["reason"] for skip in stats["skipped"]}
    assert reasons["a/001.png"].startswith("could not be read from its zip (error: Error -3")
    assert sum(len(arrays[f"y_{split}"]) for split in ("train", "validation", "test")) == 17


def _tarred(folder: Path, path: Path, mode: str) -> Path:
    import tarfile

    with tarfile.open(path, mode) as packed:
        for file in sorted(folder.rglob("*")):
            packed.add(file, arcname=str(file.relative_to(folder)), recursive=False)
    return path


@pytest.mark.parametrize(("suffix", "mode"), [(".tar", "w"), (".tar.gz", "w:gz"), (".tar.xz", "w:xz")])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_tar_of_images_preprocesses_as_its_folder_a_member_at_a_time(
    tmp_path, monkeypatch, suffix, mode, workers
):
    """A tar source, compressed or not, gives the folder's arrays and skips, bit for bit, on one process
    or forked ones. Its members are handed to the decoders unread (TarMembers); a compressed tar's are
    copied to an unnamed file in the job's scratch folder, so nothing is left there afterwards."""
    import tempfile

    from transfer_study.data import archives, datasets

    folder = _pool_folder(tmp_path / "photos", per_class=(datasets.PARALLEL_FROM // 3) + 10)
    archive = _tarred(folder, tmp_path / f"photos{suffix}", mode)
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    spools, handed = [], []
    real_temporary_file, real_decode = tempfile.TemporaryFile, datasets._decode_or_reason

    def recorded_spool(*args, **kwargs):
        spools.append(kwargs.get("dir"))
        return real_temporary_file(*args, **kwargs)

    def recorded_decode(job):
        handed.append(type(job[0]))
        return real_decode(job)

    monkeypatch.setattr(archives.tempfile, "TemporaryFile", recorded_spool)
    monkeypatch.setattr(datasets, "_decode_or_reason", recorded_decode)
    from_folder, folder_stats = preprocess_dataset(dataset, {"pool": folder}, 16, workers=workers)
    handed.clear()
    from_tar, tar_stats = preprocess_dataset(dataset, {"pool": archive}, 16, workers=workers, scratch=scratch)
    assert spools == ([scratch] if suffix != ".tar" else [])
    if workers == 1:  # forked decoders record in their own memory
        assert set(handed) == {archives.TarMember}
    for key, array in from_folder.items():
        if not key.startswith("source_"):
            np.testing.assert_array_equal(from_tar[key], array, err_msg=key)
    assert [(s["member"], s["reason"]) for s in tar_stats["skipped"]] == [
        ("b/broken.png", "not a decodable image (unknown format)")
    ]
    assert tar_stats["splits"] == folder_stats["splits"]
    assert list(scratch.iterdir()) == []


def test_a_compressed_tar_is_read_once(tmp_path, monkeypatch):
    """A compressed tar can only be read from its start: its bytes are read (and decompressed) once, not
    once to check every member and again to read them. Counted at the file, in tarfile's random-access
    mode (a file object) and its stream mode (a file descriptor) alike."""
    import tarfile

    from transfer_study.data import archives
    from transfer_study.data.members import read_source_files

    folder = _pool_folder(tmp_path / "photos", per_class=200)
    archive = _tarred(folder, tmp_path / "photos.tar.gz", "w:gz")
    read = []
    real_open, real_low_read = tarfile.bltn_open, tarfile._LowLevelFile.read

    class Counted:
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            data = self.handle.read(size)
            read.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self.handle, name)

    def counted_low_read(self, size):
        data = real_low_read(self, size)
        read.append(len(data))
        return data

    monkeypatch.setattr(tarfile, "bltn_open", lambda *args, **kwargs: Counted(real_open(*args, **kwargs)))
    monkeypatch.setattr(
        archives, "open", lambda *args, **kwargs: Counted(real_open(*args, **kwargs)), raising=False
    )
    monkeypatch.setattr(tarfile._LowLevelFile, "read", counted_low_read)
    files, unread, left_out = read_source_files(archive)
    assert len(files) == 601 and unread == [] and left_out == 0
    size = archive.stat().st_size
    assert size > 500_000
    # tarfile.is_tarfile, which tells a tar from what it is not, reads the first blocks once more.
    assert size <= sum(read) < 1.2 * size


def test_an_unsafe_member_at_the_end_of_a_compressed_tar_refuses_it_before_any_image_is_decoded(
    tmp_path, monkeypatch
):
    import tarfile

    from transfer_study.data import datasets
    from transfer_study.data.archives import UnsafeArchiveError

    folder = _pool_folder(tmp_path / "photos", per_class=4)
    archive = _tarred(folder, tmp_path / "photos.tar.gz", "w:gz")
    with tarfile.open(archive) as packed:
        members = [
            (member, packed.extractfile(member).read()) for member in packed.getmembers() if member.isfile()
        ]
    link = tarfile.TarInfo("c/elsewhere.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with tarfile.open(archive, "w:gz") as packed:
        for member, data in members:
            packed.addfile(member, io.BytesIO(data))
        packed.addfile(link)
    decoded = []
    monkeypatch.setattr(datasets, "decode_image", lambda *args: decoded.append(args))
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    with pytest.raises(
        UnsafeArchiveError, match=r"photos\.tar\.gz: member 'c/elsewhere\.png' is a symbolic link"
    ):
        preprocess_dataset(dataset, {"pool": archive}, 8, scratch=tmp_path)
    assert decoded == []


def test_a_full_scratch_disk_while_copying_a_compressed_tar_says_where_and_what_to_do(tmp_path, monkeypatch):
    import errno
    import tempfile

    from transfer_study.data import archives
    from transfer_study.data.disk import DiskSpaceError

    folder = _pool_folder(tmp_path / "photos", per_class=4)
    archive = _tarred(folder, tmp_path / "photos.tar.gz", "w:gz")
    real_temporary_file = tempfile.TemporaryFile

    class FullDisk:
        def __init__(self, *args, **kwargs):
            self.handle = real_temporary_file(*args, **kwargs)

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(archives.tempfile, "TemporaryFile", FullDisk)
    (tmp_path / "scratch").mkdir()
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    with pytest.raises(DiskSpaceError) as raised:
        preprocess_dataset(dataset, {"pool": archive}, 8, scratch=tmp_path / "scratch")
    message = str(raised.value)
    assert str(archive) in message and str(tmp_path / "scratch") in message
    assert "No space left on device" in message and "as a plain .tar or as a zip" in message
    assert "write the results to a larger disk" in message


def test_a_write_refused_part_way_through_small_members_is_the_same_error(tmp_path):
    """Members of a few hundred bytes: the copy is unbuffered, so the write that fails is the one that
    says so (a file-size limit stands in for a full disk), not a later flush with a bare OSError."""
    import subprocess
    import sys

    folder = tmp_path / "photos"
    for index in range(400):
        (folder / "abc"[index % 3]).mkdir(parents=True, exist_ok=True)
        (folder / "abc"[index % 3] / f"{index:03d}.bin").write_bytes(bytes([index % 251]) * 700)
    archive = _tarred(folder, tmp_path / "photos.tar.gz", "w:gz")
    script = (
        "import resource, sys\n"
        "from transfer_study.data.archives import list_tar_files\n"
        "from transfer_study.data.disk import DiskSpaceError\n"
        # Just short of the whole copy: where the copy was buffered, the last write to fail was a flush.
        "resource.setrlimit(resource.RLIMIT_FSIZE, (400 * 700 - 300, 400 * 700 - 300))\n"
        "try:\n"
        f"    list_tar_files({str(archive)!r}, scratch={str(tmp_path)!r})\n"
        "except DiskSpaceError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "photos.tar.gz: copying member" in done.stdout and "File too large" in done.stdout


def test_copying_a_compressed_tar_stops_short_of_filling_the_scratch_disk(tmp_path, monkeypatch):
    """A compressed tar's members are copied uncompressed: however much it declares (a tar bomb, whose
    members the 1 TiB bound still lets through), the copy stops before a member that would leave the
    scratch disk with less than COPY_RESERVE_BYTES free. The room is measured again as the copy goes
    on (here before every member), so space another job takes meanwhile counts."""
    import shutil

    from transfer_study.data import archives, disk
    from transfer_study.data.disk import DiskSpaceError

    folder = _pool_folder(tmp_path / "photos", per_class=4)
    archive = _tarred(folder, tmp_path / "photos.tar.gz", "w:gz")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(archives, "COPY_RESERVE_BYTES", 10**6)
    monkeypatch.setattr(archives, "ROOM_RECHECK_BYTES", 1)
    real_usage, measured = shutil.disk_usage, []

    def another_job_writing(folder):
        measured.append(folder)
        usage = real_usage(folder)
        free = 10**6 + 10_000 if len(measured) < 3 else 10**6 + 100  # two members' room, then less
        return usage._replace(free=free)

    monkeypatch.setattr(disk.shutil, "disk_usage", another_job_writing)
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    with pytest.raises(
        DiskSpaceError,
        match=r"copying member 'a/002\.png' \([\d,]+ bytes\): [\d,]+ bytes wanted in .*, keeping 1,000,000",
    ):
        preprocess_dataset(dataset, {"pool": archive}, 8, scratch=scratch)
    assert len(measured) == 3 and list(scratch.iterdir()) == []


def test_a_disk_without_room_for_the_decoded_images_is_an_error_not_a_crash(tmp_path, monkeypatch):
    """The decoded images go to a sparse file, mapped: on a disk without room for them the job would die
    of SIGBUS as they are written. The room is checked when the file is made."""
    from transfer_study.data import disk
    from transfer_study.data.disk import DiskSpaceError

    folder = _pool_folder(tmp_path / "photos", per_class=6)
    real_usage = disk.shutil.disk_usage
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda folder: real_usage(folder)._replace(free=1000))
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "test_fraction": 0.2, "split_seed": 1}
    wanted = 19 * 16 * 16 * 3  # every file of the folder, the one that will not decode too
    with pytest.raises(
        DiskSpaceError, match=rf"19 decoded images \(16x16x3 bytes each\): {wanted:,} bytes wanted in"
    ):
        preprocess_dataset(dataset, {"pool": folder}, 16, scratch=tmp_path)


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_a_compressed_tar_of_several_streams_is_read_whole(tmp_path, mode):
    """pbzip2 and bgzip (or `cat` joining one tar's gzipped parts) write a compressed tar as several
    streams one after another, which gzip, bzip2 and xz read as one: every member is read, from the
    CIFAR-10 format's reader and from a source of images alike."""
    import bz2
    import gzip
    import lzma

    from transfer_study.data.archives import iter_tar_files
    from transfer_study.data.members import read_source_files

    folder = _pool_folder(tmp_path / "photos", per_class=6)
    plain = _tarred(folder, tmp_path / "photos.tar", "w").read_bytes()
    half = (len(plain) // 2) // 512 * 512
    compress = {"w:gz": gzip.compress, "w:bz2": bz2.compress, "w:xz": lzma.compress}[mode]
    archive = tmp_path / f"photos.tar.{mode[2:]}"
    archive.write_bytes(compress(plain[:half]) + compress(plain[half:]))
    files, _, _ = read_source_files(archive)
    assert [name for name, _ in files] == [name for name, _ in read_source_files(folder).files]
    assert len(dict(iter_tar_files(archive))) == 19


def test_an_uncompressed_tar_with_a_sparse_member_is_read_through_a_copy(tmp_path):
    """GNU tar's --sparse stores a file with holes as its data and a map: such members cannot be read
    where they lie, so the tar is read as a compressed one is, through a copy; its images decode."""
    import shutil
    import subprocess

    if (
        shutil.which("tar") is None
        or "GNU" not in subprocess.run(["tar", "--version"], capture_output=True, text=True).stdout
    ):
        pytest.skip("GNU tar is not installed; it writes the sparse member")
    from transfer_study.data import archives
    from transfer_study.data.members import read_source_files

    folder = _pool_folder(tmp_path / "photos", per_class=4)
    holed = folder / "a" / "holed.png"
    holed.write_bytes((folder / "a" / "000.png").read_bytes())
    with open(holed, "r+b") as handle:
        handle.truncate(4 * 1024**2)  # a hole after the PNG's end, which decoders ignore
    archive = tmp_path / "photos.tar"
    subprocess.run(
        ["tar", "--sparse", "--format=gnu", "-cf", str(archive), "-C", str(folder), "."], check=True
    )
    assert archive.stat().st_size < 1024**2  # the hole was not stored
    files = dict(read_source_files(archive).files)
    member = files["./a/holed.png"]
    assert member.file is not None and member.offset < 4 * 1024**2
    assert archives.read_tar_member(member, 8 * 1024**2) == holed.read_bytes()


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_an_archive_changed_in_place_after_it_was_listed_stops_the_job(tmp_path, kind):
    """Members are read where the listing found them: were the archive rewritten in its place meanwhile,
    those places would hold other images (another class's, even). Reading stops with an error instead."""
    import os

    from transfer_study.data.archives import ArchiveChangedError, close_zips
    from transfer_study.data.members import read_source_files

    folder = _pool_folder(tmp_path / "photos", per_class=4)
    archive = (
        _tarred(folder, tmp_path / "photos.tar", "w")
        if kind == "tar"
        else _zipped(folder, tmp_path / "photos.zip")
    )
    files = read_source_files(archive).files
    data = archive.read_bytes()
    with open(archive, "r+b") as handle:  # the same file, rewritten in place
        handle.write(data)
    stat = archive.stat()
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    from transfer_study.data.archives import read_member

    try:
        with pytest.raises(
            ArchiveChangedError, match=r"photos\.(tar|zip): changed on disk while its images were being read"
        ):
            read_member(files[0][1], 10**6)
    finally:
        close_zips()


def test_a_tar_replaced_after_it_was_listed_is_still_read_as_listed(tmp_path):
    from transfer_study.data.archives import read_tar_member
    from transfer_study.data.members import read_source_files

    folder = _pool_folder(tmp_path / "photos", per_class=4)
    archive = _tarred(folder, tmp_path / "photos.tar", "w")
    files = dict(read_source_files(archive).files)
    other = _tarred(_pool_folder(tmp_path / "other", per_class=5), tmp_path / "other.tar", "w")
    other.replace(archive)  # a new file in its place; the listing holds the old one open
    assert read_tar_member(files["a/001.png"], 10**6) == (folder / "a" / "001.png").read_bytes()


def test_a_zip_replaced_after_it_was_listed_stops_the_job_even_where_it_was_closed_between(tmp_path):
    """The splits of a dataset, or a table and its images, may be read after the zip was closed and
    opened again by its path: a new file there is told from the one listed by the listing's stamp."""
    from transfer_study.data.archives import ArchiveChangedError, close_zips, read_member
    from transfer_study.data.members import read_source_files

    folder = _pool_folder(tmp_path / "photos", per_class=4)
    archive = _zipped(folder, tmp_path / "photos.zip")
    files = read_source_files(archive).files
    close_zips()
    _zipped(_pool_folder(tmp_path / "other", per_class=4), tmp_path / "other.zip").replace(archive)
    try:
        with pytest.raises(ArchiveChangedError, match=r"photos\.zip: changed on disk"):
            read_member(files[0][1], 10**6)
    finally:
        close_zips()


@pytest.mark.parametrize("workers", [1, 2])
def test_the_splits_of_one_zip_share_its_directory_parsed_once(tmp_path, monkeypatch, workers):
    import os

    from transfer_study.data import datasets

    root = tmp_path / "photos"
    for split, count in (("train", (datasets.PARALLEL_FROM // 3) + 10), ("test", 4)):
        _pool_folder(root / split, per_class=count)
    archive = _zipped(root, tmp_path / "photos.zip")
    opened = tmp_path / "opened.txt"
    real_zip_file = zipfile.ZipFile

    class Counted(real_zip_file):
        def __init__(self, file, *args, **kwargs):
            super().__init__(file, *args, **kwargs)
            descriptor = os.open(opened, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(descriptor, b"x")
            os.close(descriptor)

    monkeypatch.setattr(zipfile, "ZipFile", Counted)
    dataset = {"format": "image_folder", "validation_fraction": 0.2, "split_seed": 1}
    arrays, _ = preprocess_dataset(dataset, {"presplit": archive}, 16, workers=workers, scratch=tmp_path)
    assert len(arrays["y_test"]) == 12 and len(arrays["y_train"]) > 0
    assert opened.read_text() == "x"


def test_a_damaged_compressed_tar_names_where_the_damage_was_found(tmp_path):
    from transfer_study.data.archives import UnreadableArchiveError, iter_tar_files

    folder = _pool_folder(tmp_path / "photos", per_class=30)
    archive = _tarred(folder, tmp_path / "photos.tar.gz", "w:gz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(
        UnreadableArchiveError, match=r"photos\.tar\.gz, at or after member '[abc]/\d{3}\.png'"
    ):
        list(iter_tar_files(archive))


def test_an_empty_zip_lists_no_member(tmp_path):
    from transfer_study.data.archives import close_zips, list_zip_files

    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w"):
        pass
    assert archive.stat().st_size == 22
    assert list_zip_files(archive) == []
    close_zips()
