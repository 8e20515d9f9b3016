"""Archive safety checks on small zips and tars made here, hostile ones included."""

import io
import stat
import tarfile
import zipfile

import pytest

from transfer_study.data.archives import (
    UnsafeArchiveError,
    extract_archive,
    iter_tar_files,
    list_zip_files,
    read_zip_member,
)

GOOD_FILES = {
    "train/healthy/healthy_train.0.jpg": b"first image",
    "train/bean_rust/bean_rust_train.0.jpg": b"second image" * 100,
    "README": b"",
}


def zip_contents(path, max_total_bytes=None) -> list[tuple[str, bytes]]:
    """(name, content) of every file of a zip, listed, then read a member at a time as preprocessing does."""
    return [
        (name, read_zip_member(member, 1 << 30)) for name, member in list_zip_files(path, max_total_bytes)
    ]


# --- writing archives ---------------------------------------------------------------------------


def make_zip(path, members):
    """`members`: (name, bytes) for files, or (ZipInfo, bytes) for anything else."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def zip_special(name, file_type, data=b""):
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so the mode in the high bits means what it says
    info.external_attr = (file_type | 0o644) << 16
    return info, data


def make_tar(path, members):
    """`members`: (name, bytes) for files, or (TarInfo, None) for anything else."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members:
            if isinstance(name, tarfile.TarInfo):
                tf.addfile(name)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def tar_special(name, file_type, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = file_type, linkname
    return info, None


def tar_directory(name):
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, None


# --- hostile members ----------------------------------------------------------------------------

ZIP_HOSTILE = {
    "parent": (("../evil", b"x"), "'..'"),
    "nested parent": (("train/../../evil", b"x"), "'..'"),
    "backslash parent": (("..\\evil", b"x"), "'..'"),
    "absolute": (("/etc/x", b"x"), "absolute"),
    "windows drive": (("C:\\windows\\x", b"x"), "absolute"),
    "windows unc": (("\\\\server\\share\\x", b"x"), "absolute"),
    "symlink": (zip_special("link", stat.S_IFLNK, b"/etc/passwd"), "symbolic link"),
    "fifo": (zip_special("pipe", stat.S_IFIFO), "device, fifo"),
    "device": (zip_special("disk", stat.S_IFBLK), "device, fifo"),
}

TAR_HOSTILE = {
    "parent": (("../evil", b"x"), "'..'"),
    "absolute": (("/etc/x", b"x"), "absolute"),
    "symlink": (tar_special("link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    "hardlink": (tar_special("hard", tarfile.LNKTYPE, "/etc/passwd"), "hard link"),
    "fifo": (tar_special("pipe", tarfile.FIFOTYPE), "device, fifo"),
    "device": (tar_special("tty", tarfile.CHRTYPE), "device, fifo"),
}


def member_name(member):
    name = member[0]
    return name if isinstance(name, str) else getattr(name, "filename", None) or name.name


@pytest.mark.parametrize("case", ZIP_HOSTILE, ids=str)
def test_hostile_zip_member_is_refused_before_anything_is_read(tmp_path, case):
    member, why = ZIP_HOSTILE[case]
    # The hostile member comes last: the good one before it must not be listed either.
    archive = make_zip(tmp_path / "beans.zip", [("train/good.jpg", b"fine"), member])
    with pytest.raises(UnsafeArchiveError) as caught:
        list_zip_files(archive)
    message = str(caught.value)
    assert "beans.zip" in message and repr(member_name(member)) in message and why in message
    what_to_do = "rebuild the archive with every file stored as itself (no links or special files)"
    assert message.endswith(f"; refused: {what_to_do} at a path inside it")
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("case", TAR_HOSTILE, ids=str)
def test_hostile_tar_member_is_refused_before_anything_is_read(tmp_path, case):
    member, why = TAR_HOSTILE[case]
    archive = make_tar(tmp_path / "cifar.tar.gz", [("batches/good", b"fine"), member])
    with pytest.raises(UnsafeArchiveError) as caught:
        next(iter_tar_files(archive))
    message = str(caught.value)
    assert "cifar.tar.gz" in message and repr(member_name(member)) in message and why in message
    assert "; refused: rebuild the archive with every file stored as itself" in message
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_zip_bomb_is_refused_by_declared_size(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(5_000_000))])
    assert archive.stat().st_size < 100_000  # small on disk, large once inflated
    with pytest.raises(UnsafeArchiveError, match="5,000,000 bytes.*limit of 1,000,000 bytes") as caught:
        list_zip_files(archive, max_total_bytes=1_000_000)
    assert str(caught.value).startswith(f"{archive}: ")
    assert str(caught.value).endswith(
        "if the archive is genuine, make it smaller (fewer images, or smaller ones)"
    )
    with pytest.raises(UnsafeArchiveError, match="5,000,000"):
        extract_archive(archive, tmp_path / "out", max_total_bytes=1_000_000)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_tar_bomb_is_refused_by_declared_size(tmp_path):
    members = [(f"zeros{i}.bin", bytes(400_000)) for i in range(3)]
    archive = make_tar(tmp_path / "bomb.tar.gz", members)
    with pytest.raises(UnsafeArchiveError, match="1,200,000 bytes.*limit of 1,000,000 bytes"):
        next(iter_tar_files(archive, max_total_bytes=1_000_000))


def test_size_within_the_limit_is_read(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", [("zeros.bin", bytes(1000))])
    assert zip_contents(archive, max_total_bytes=1000) == [("zeros.bin", bytes(1000))]


# --- good archives ------------------------------------------------------------------------------


def good_zip(path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.mkdir("train")
        zf.mkdir("train/healthy")
        for name, data in GOOD_FILES.items():
            zf.writestr(name, data)
    return path


def good_tar(path):
    return make_tar(
        path,
        [tar_directory("train"), tar_directory("train/healthy"), *GOOD_FILES.items()],
    )


def test_good_zip_yields_every_regular_file(tmp_path):
    assert dict(zip_contents(good_zip(tmp_path / "train.zip"))) == GOOD_FILES


def test_good_tar_gz_yields_every_regular_file(tmp_path):
    assert dict(iter_tar_files(good_tar(tmp_path / "cifar.tar.gz"))) == GOOD_FILES


@pytest.mark.parametrize("make, name", [(good_zip, "train.zip"), (good_tar, "cifar-data.bin")])
def test_extract_archive_writes_files_below_dest_only(tmp_path, make, name):
    # The tar has a name that says nothing: the format is read from the content.
    archive = make(tmp_path / name)
    dest = tmp_path / "out" / "extracted"
    written = extract_archive(archive, dest)
    assert sorted(written) == sorted(dest / member for member in GOOD_FILES)
    for member, data in GOOD_FILES.items():
        assert (dest / member).read_bytes() == data
    everything = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert sorted(everything) == sorted([archive, *written])


def test_extract_archive_refuses_other_files(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an archive")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        extract_archive(path, tmp_path / "out")


def _encrypted_member_zip(path):
    """A zip whose one member carries the encryption flag, as a password-protected zip does."""
    make_zip(path, [("test/healthy/healthy_test.0.jpg", b"an image")])
    data = bytearray(path.read_bytes())
    data[6] |= 1  # general-purpose flags of the local header
    data[data.find(b"PK\x01\x02") + 8] |= 1  # and of the central directory entry
    path.write_bytes(bytes(data))


def _tar_named_zip(path):
    make_tar(path.with_suffix(".tar.gz"), list(GOOD_FILES.items()))
    path.write_bytes(path.with_suffix(".tar.gz").read_bytes())


@pytest.mark.parametrize(
    ("write", "says"),
    [
        (lambda path: path.write_bytes(b""), "cannot be read as a zip archive (BadZipFile"),
        (lambda path: (make_zip(path, list(GOOD_FILES.items())), path.write_bytes(path.read_bytes()[:60])),
         "cannot be read as a zip archive"),
        (_tar_named_zip, "cannot be read as a zip archive (BadZipFile"),
        (_encrypted_member_zip, "member 'test/healthy/healthy_test.0.jpg': cannot be read as a zip archive"),
    ],
    ids=["zero bytes", "truncated", "a tar named .zip", "encrypted member"],
)  # fmt: skip
def test_an_unreadable_zip_is_an_error_naming_the_archive_and_what_to_do(tmp_path, write, says):
    # Listing reads only the zip's directory, and refuses these archives before any image is decoded.
    from transfer_study.data.archives import UnreadableArchiveError

    path = tmp_path / "test.zip"
    write(path)
    with pytest.raises(UnreadableArchiveError) as error:
        list_zip_files(path)
    assert str(error.value).startswith(f"{path}") and says in str(error.value)
    assert "fetch it again" in str(error.value)


def test_an_unreadable_tar_is_an_error_naming_the_archive(tmp_path):
    from transfer_study.data.archives import UnreadableArchiveError

    path = tmp_path / "cifar-10-python.tar.gz"
    make_tar(path, list(GOOD_FILES.items()))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(
        UnreadableArchiveError, match=r"cifar-10-python\.tar\.gz.*cannot be read as a tar archive"
    ):
        list(iter_tar_files(path))


class RawNameInfo(zipfile.ZipInfo):
    """A member whose name is written as these bytes with the UTF-8 flag unset, as macOS's Archive
    Utility and old Windows archivers write names."""

    def __init__(self, raw: bytes):
        super().__init__(raw.decode("cp437"))
        self.raw = raw

    def _encodeFilenameFlags(self):
        return self.raw, self.flag_bits & ~0x800


def test_member_names_are_read_as_the_archiver_meant_them(tmp_path):
    members = [
        (RawNameInfo("fotos/cão/001.jpg".encode()), b"utf-8 without the flag"),
        (RawNameInfo("fotos/\x82t\x82/002.jpg".encode("latin-1")), b"code page 437 proper"),
        (RawNameInfo(b"fotos\\gato\\003.jpg"), b"a Windows separator"),
        ("fotos/vaca/004.jpg", b"ascii"),
    ]
    path = make_zip(tmp_path / "names.zip", members)
    names = [name for name, _ in list_zip_files(path)]
    assert names == ["fotos/cão/001.jpg", "fotos/été/002.jpg", "fotos/gato/003.jpg", "fotos/vaca/004.jpg"]


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_a_member_name_that_appears_twice_is_refused_naming_it(tmp_path, kind):
    members = [("train/cat/001.jpg", b"one"), ("train/cat/002.jpg", b"two"), ("train/cat/001.jpg", b"three")]
    if kind == "zip":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate, and writes it
            path = make_zip(tmp_path / "twice.zip", members)
        read = list_zip_files
    else:
        path, read = make_tar(tmp_path / "twice.tar.gz", members), iter_tar_files
    with pytest.raises(UnsafeArchiveError, match=r"member 'train/cat/001.jpg' appears twice in the archive"):
        list(read(path))
    with pytest.raises(UnsafeArchiveError, match=r"; refused: rebuild the archive with each file once$"):
        list(read(path))


def test_a_member_compressed_in_a_way_zipfile_cannot_undo_is_refused_when_the_zip_is_listed(tmp_path):
    # Deflate64 (method 9, which Windows writes for large files) would fail every member it holds.
    import struct

    from transfer_study.data.archives import UnreadableArchiveError

    path = make_zip(tmp_path / "photos.zip", [("cat/001.jpg", b"an image" * 50)])
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 8, 9)  # the local header's compression method
    struct.pack_into("<H", data, data.find(b"PK\x01\x02") + 10, 9)  # and the central directory's
    path.write_bytes(bytes(data))
    with pytest.raises(
        UnreadableArchiveError, match=r"member 'cat/001.jpg'.*compression method 9 is not supported"
    ):
        list_zip_files(path)


def test_members_whose_raw_names_coincide_are_each_read_as_themselves(tmp_path):
    # One name without the UTF-8 flag (read as code page 437) and one with it whose text is that reading:
    # two members, told apart by their names as we read them, one name to zipfile's lookup by name.
    import struct

    path = tmp_path / "names.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("c/caf\u00e9.png", b"first")
        archive.writestr("c/caf\u251c\u2310.png", b"second")
    data = bytearray(path.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the first member's flags
        where = data.find(signature) + flags_at
        struct.pack_into("<H", data, where, struct.unpack_from("<H", data, where)[0] & ~0x800)
    path.write_bytes(bytes(data))
    assert zip_contents(path) == [("c/caf\u00e9.png", b"first"), ("c/caf\u251c\u2310.png", b"second")]
