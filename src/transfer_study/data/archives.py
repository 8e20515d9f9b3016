"""Reading archives safely: every member is checked before any byte of any member is used.

Refused outright, naming the archive, the member and the reason: absolute paths (POSIX, Windows
drives and UNC shares), `..` components, symbolic and hard links, device files, fifos and sockets,
and archives whose members declare more uncompressed bytes than a limit (zip bombs).

The declared sizes are a real bound: zipfile stops decompressing a member at its declared
`file_size` (and then fails its CRC check), and a tar member's data is exactly its header's size.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import lzma
import os
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, NamedTuple

from transfer_study.data.disk import COPY_RESERVE_BYTES, DiskSpaceError, require_room


class UnsafeArchiveError(ValueError):
    """A member that could write outside its folder, or an archive that could fill a disk."""


# What to do about a refused member, unless its refusal says otherwise.
REBUILD = (
    "rebuild the archive with every file stored as itself (no links or special files) at a path inside it"
)


def _refuse(archive_name: str, member: str, why: str, fix: str = REBUILD) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{archive_name}: member {member!r} {why}; refused: {fix}")


def _check_name(name: str, archive_name: str) -> None:
    # Checked the Windows way as well, so an archive that is safe here is safe on any system.
    windows = PureWindowsPath(name)
    if name.startswith(("/", "\\")) or windows.drive or windows.root:
        raise _refuse(archive_name, name, "has an absolute path")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise _refuse(archive_name, name, "has a '..' component that points outside the archive")


def _check_total(total: int, limit: int | None, archive_name: str) -> None:
    if limit is not None and total > limit:
        raise UnsafeArchiveError(
            f"{archive_name}: members declare {total:,} bytes uncompressed, over the limit of "
            f"{limit:,} bytes; refused as a possible zip bomb: if the archive is genuine, make it smaller "
            "(fewer images, or smaller ones)"
        )


def _check_zip_mode(member: zipfile.ZipInfo, archive_name: str) -> None:
    # Unix zips keep the file type in the high 16 bits; 0 there (e.g. Windows zips) means a file.
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise _refuse(archive_name, member.filename, "is a symbolic link")
    if stat.S_IFMT(mode) not in {0, stat.S_IFREG, stat.S_IFDIR}:
        raise _refuse(archive_name, member.filename, "is a device, fifo or socket")


def _check_tar_type(member: tarfile.TarInfo, archive_name: str) -> None:
    if member.issym():
        raise _refuse(archive_name, member.name, f"is a symbolic link (to {member.linkname!r})")
    if member.islnk():
        raise _refuse(archive_name, member.name, f"is a hard link (to {member.linkname!r})")
    if not (member.isfile() or member.isdir()):
        raise _refuse(archive_name, member.name, "is a device, fifo or other special file")


UTF8_NAME_FLAG = 0x800  # general purpose bit 11: the member's name is UTF-8


def member_name(member: zipfile.ZipInfo) -> str:
    """A zip member's name as the archiver that wrote it meant it.

    Without the UTF-8 flag, zipfile reads a name as IBM code page 437, the format's old default; but
    macOS's Archive Utility and many other tools write UTF-8 names without setting the flag, which
    code page 437 turns into mojibake (`fotos/cÃ£o.jpg`). A name that is valid UTF-8 is read as such.
    Windows tools that wrote `\\` as the folder separator get `/`, the one the format defines.
    """
    name = member.filename
    if not member.flag_bits & UTF8_NAME_FLAG and not name.isascii():
        # Not UTF-8: really code page 437 (or another DOS code page), kept as zipfile read it.
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("utf-8")
    return name.replace("\\", "/")


def _refuse_repeated_names(names: list[str], archive_name: str) -> None:
    """Two members under one name would be one file once unpacked, and which one is meant is unknown."""
    seen = set()
    for name in names:
        if name in seen:
            raise _refuse(
                archive_name,
                name,
                "appears twice in the archive (which copy is meant is ambiguous)",
                "rebuild the archive with each file once",
            )
        seen.add(name)


def check_zip_members(
    zf: zipfile.ZipFile, archive_name: str, max_total_bytes: int | None = None
) -> list[zipfile.ZipInfo]:
    """Every member of the zip, after all have passed the checks; raises UnsafeArchiveError."""
    members = zf.infolist()
    for member in members:
        _check_name(member.filename, archive_name)
        _check_zip_mode(member, archive_name)
    _refuse_repeated_names([member_name(m) for m in members if not m.is_dir()], archive_name)
    _check_total(sum(member.file_size for member in members), max_total_bytes, archive_name)
    return members


def check_tar_members(
    tf: tarfile.TarFile, archive_name: str, max_total_bytes: int | None = None
) -> list[tarfile.TarInfo]:
    """Every member of the tar, after all have passed the checks; raises UnsafeArchiveError."""
    members = tf.getmembers()
    for member in members:
        _check_name(member.name, archive_name)
        _check_tar_type(member, archive_name)
    _refuse_repeated_names([m.name for m in members if m.isfile()], archive_name)
    _check_total(sum(member.size for member in members), max_total_bytes, archive_name)
    return members


class UnreadableArchiveError(ValueError):
    """An archive (or one of its members) that cannot be read: empty, truncated, of another format,
    or encrypted."""


# What zipfile, tarfile and their decompressors raise for a damaged or encrypted archive.
_READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, RuntimeError, OSError, ValueError)


def _unreadable(
    path: Path, expected: str, error: BaseException, member: str | None = None, about: str = "member"
):
    where = f"{path}" + (f", {about} {member!r}" if member else "")
    size = path.stat().st_size if path.exists() else 0
    return UnreadableArchiveError(
        f"{where}: cannot be read as {expected} ({type(error).__name__}: {error}; the file has {size:,} "
        "bytes). It may be empty, truncated, encrypted or of another format: fetch it again or check "
        "the source in the config"
    )


class ZipMember(NamedTuple):
    """A zip member named but not yet read: its archive, its name there, its declared size and where its
    entry starts (which tells it apart even from a member whose raw name is the same), and the stamp of
    the zip it was listed from, which every read compares with the file it reads. What
    list_zip_files gives in place of the content, so that a zip of any size is read one image at a
    time, as it is decoded (read_zip_member), and never whole."""

    archive: str
    name: str
    size: int
    offset: int
    stamp: tuple[int, int, int]  # the zip's (inode, size, modification time) when it was listed


# The compression methods zipfile decompresses; another (Deflate64, which Windows writes for large
# files, say) fails every member it compresses, so the archive is refused when it is listed.
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


class _OwnOffsetFile:
    """A file opened for reading whose offset lives in this object rather than in the kernel: every
    read is an os.pread at it. A process forked after it was opened reads through its own copy of the
    object, at its own offset, so one zip opened (and its directory parsed) before the decoders fork
    serves them all without their reads mixing, where a shared file's offset would mix them."""

    def __init__(self, path: str) -> None:
        self.name = path
        self._fd = os.open(path, os.O_RDONLY)
        self._offset = 0

    def fileno(self) -> int:
        return self._fd

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, os.fstat(self._fd).st_size - self._offset)
        data = os.pread(self._fd, size, self._offset)
        self._offset += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        start = {os.SEEK_SET: 0, os.SEEK_CUR: self._offset, os.SEEK_END: os.fstat(self._fd).st_size}
        if start[whence] + offset < 0:  # as a file refuses it; zipfile relies on that for tiny zips
            raise OSError(errno.EINVAL, "Invalid argument: a position before the start of the file")
        self._offset = start[whence] + offset
        return self._offset

    def tell(self) -> int:
        return self._offset

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


# The zips this process has open for reading members, by path, each with its entries by offset: opened
# once, by the listing (or by the first read), and inherited by the decoders forked afterwards, whose
# reads through _OwnOffsetFile do not mix. close_zips closes them.
_OPEN_ZIPS: dict[str, tuple[zipfile.ZipFile, dict[int, zipfile.ZipInfo]]] = {}


def _open_zip(path: str) -> tuple[zipfile.ZipFile, dict[int, zipfile.ZipInfo]]:
    """The zip at `path` opened (its directory parsed) and kept in _OPEN_ZIPS, in place of any copy
    opened before, which may be of an older file."""
    if path in _OPEN_ZIPS:
        _close_zip(path)
    handle = _OwnOffsetFile(path)
    try:
        opened = zipfile.ZipFile(handle)
    except BaseException:
        handle.close()
        raise
    _OPEN_ZIPS[path] = opened, {entry.header_offset: entry for entry in opened.infolist()}
    return _OPEN_ZIPS[path]


def _close_zip(path: str) -> None:
    opened, _ = _OPEN_ZIPS.pop(path)
    handle = opened.fp  # a file given to ZipFile is not closed by it
    opened.close()
    if handle is not None:
        handle.close()


def list_zip_files(path, max_total_bytes: int | None = None) -> list[tuple[str, ZipMember]]:
    """(member name, ZipMember) of every regular file, in archive order; only the zip's directory is
    read. Every member is checked first (check_zip_members); an encrypted member, or one compressed in a
    way zipfile cannot undo, is refused here, before anything is decoded, as is a damaged or non-zip
    file. The zip stays open, its directory parsed once, for read_zip_member (close_zips closes it)."""
    path = Path(path)
    try:
        zf, _ = _open_zip(str(path))
    except _READ_ERRORS as error:
        raise _unreadable(path, "a zip archive", error) from None
    try:
        members = [
            member for member in check_zip_members(zf, str(path), max_total_bytes) if not member.is_dir()
        ]
        for member in members:
            if member.flag_bits & 0x1:
                error = RuntimeError(f"File {member.filename!r} is encrypted, password required")
                raise _unreadable(path, "a zip archive", error, member.filename)
            if member.compress_type not in _ZIP_METHODS:
                error = NotImplementedError(f"compression method {member.compress_type} is not supported")
                raise _unreadable(path, "a zip archive", error, member.filename)
    except BaseException:
        _close_zip(str(path))
        raise
    stamp = _stamp(zf.fp)
    return [
        (member_name(m), ZipMember(str(path), m.filename, m.file_size, m.header_offset, stamp))
        for m in members
    ]


def open_zips(members) -> None:
    """Open (once) the zips of these ZipMembers that are not open yet, before the processes that decode
    them are forked: each then inherits the parsed directory instead of parsing it again."""
    for archive in {member.archive for member in members if isinstance(member, ZipMember)}:
        if archive not in _OPEN_ZIPS:
            with contextlib.suppress(Exception):  # a damaged zip: each member's read says why
                _open_zip(archive)


def read_zip_member(member: ZipMember, limit: int) -> bytes:
    """A member's content, through the ZipFile kept open for its archive (opened here if it is not).
    Raises ValueError, with the reason, where the member cannot be read (a damaged archive or
    compressed stream, a failed CRC) or declares or holds more than `limit` bytes: the caller skips it,
    as it skips a folder's unreadable file, or names it in its own error."""
    if member.size > limit:
        raise ValueError(f"a member of {member.size:,} bytes, over the limit of {limit:,}")
    try:
        opened, entries = _OPEN_ZIPS.get(member.archive) or _open_zip(member.archive)
        # Against the listing's stamp: a zip closed and opened again by its path since may be another file.
        changed = _stamp(opened.fp) != member.stamp
    except Exception as error:
        raise ValueError(f"could not be read from its zip ({type(error).__name__}: {error})") from None
    if changed:
        raise _changed(member.archive)
    try:
        with opened.open(entries[member.offset]) as handle:
            content = handle.read(limit + 1)
    except Exception as error:  # whatever a damaged member makes zipfile or its decompressor raise
        raise ValueError(f"could not be read from its zip ({type(error).__name__}: {error})") from None
    if len(content) > limit:
        raise ValueError(f"a member of more than {limit:,} bytes")
    return content


def close_zips() -> None:
    """Close the zips kept open to read members."""
    for path in list(_OPEN_ZIPS):
        _close_zip(path)


def _compression(head: bytes) -> str | None:
    """The compression a tar's first bytes show (gz, bz2, xz), or None: an uncompressed tar (whose first
    member's name may begin with any bytes, so each signature is matched whole)."""
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] == b"1AY&SY":
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def _decompressed(source: BinaryIO, compression: str | None):
    """The tar in `source` as its decompressor reads it (a context that leaves `source` open). gzip's,
    bz2's and lzma's files read on past the end of a compressed stream into the next, as pbzip2 and
    bgzip write a tar, where tarfile's own stream mode stops at the first."""
    if compression == "gz":
        return gzip.GzipFile(fileobj=source)
    if compression == "bz2":
        return bz2.BZ2File(source)
    if compression == "xz":
        return lzma.LZMAFile(source)
    return contextlib.nullcontext(source)


# What a decompressor raises for damaged data, besides _READ_ERRORS.
_DECOMPRESS_ERRORS = (*_READ_ERRORS, zlib.error, lzma.LZMAError)


class ArchiveChangedError(RuntimeError):
    """An archive that changed on disk after it was listed, while its members were being read: what is
    read is no longer what was checked, so the job stops rather than skipping or mislabelling images."""


def _changed(archive: str) -> ArchiveChangedError:
    return ArchiveChangedError(
        f"{archive}: changed on disk while its images were being read (it is not the file that was "
        "listed and checked); run the job again once nothing is writing to it"
    )


def _stamp(handle: BinaryIO) -> tuple[int, int, int]:
    status = os.fstat(handle.fileno())
    return status.st_ino, status.st_size, status.st_mtime_ns


def _stream_tar(path: Path, source: BinaryIO, max_total_bytes: int | None, on_file) -> None:
    """One pass over the tar open in `source`, compressed or not, in tarfile's stream mode, so that each
    byte is read (and decompressed) once: every member is checked as it comes (check_tar_members'
    checks, the total as it grows), and on_file(member, handle) is called for each regular file, whose
    data the handle reads. Two files under one name are refused at the end, before the caller uses
    either. A damaged or non-tar file is an UnreadableArchiveError naming the archive and the member
    being read when the damage was found (it may lie in a later one, as tarfile reads ahead)."""
    names, total, current = [], 0, None
    try:
        source.seek(0)
        compression = _compression(source.read(10))
        source.seek(0)
        with _decompressed(source, compression) as data, tarfile.open(fileobj=data, mode="r|") as tf:
            for member in tf:
                current = member.name
                _check_name(member.name, str(path))
                _check_tar_type(member, str(path))
                total += member.size
                _check_total(total, max_total_bytes, str(path))
                if member.isfile():
                    names.append(member.name)
                    on_file(member, tf.extractfile(member))
    except (UnsafeArchiveError, DiskSpaceError):
        raise
    except _DECOMPRESS_ERRORS as error:
        # tarfile reads a stream some blocks ahead, so a damaged spot may lie in a member after this one.
        raise _unreadable(path, "a tar archive", error, current, about="at or after member") from None
    _refuse_repeated_names(names, str(path))


def iter_tar_files(path, max_total_bytes: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(member name, content) of every regular file of a tar (.gz, .bz2, .xz), read in memory in one pass.

    Every member is checked before the first one is yielded; directories are skipped. A damaged or
    non-tar file is an UnreadableArchiveError naming the archive (and the member).
    """
    files = []

    def keep_in_memory(member: tarfile.TarInfo, handle) -> None:
        files.append((member.name, handle.read()))

    with open(path, "rb") as source:
        _stream_tar(Path(path), source, max_total_bytes, keep_in_memory)
    yield from files


class TarMember(NamedTuple):
    """A tar member named but not yet read: its archive, its name there, its size, and where its bytes
    lie in `file`, an open file its listing shares among its members: the tar itself where it is not
    compressed, else the copy its members were written to in the one pass that decompressed it
    (list_tar_files); `stamp` is the tar's (inode, size, modification time) when it was listed (None for
    a copy, which nothing else can change). What list_tar_files gives in place of the content, so that
    a tar of any size is read one image at a time, as it is decoded (read_tar_member), and never whole
    in memory."""

    archive: str
    name: str
    size: int
    offset: int
    file: BinaryIO
    stamp: tuple[int, int, int] | None


COPY_CHUNK_BYTES = 1024**2
# How much is copied between two measures of the scratch disk's free space (statvfs, a round trip to
# the server on a network file system).
ROOM_RECHECK_BYTES = 64 * 1024**2


def list_tar_files(
    path,
    keep=None,
    max_total_bytes: int | None = None,
    scratch: Path | None = None,
    member_limit: int | None = None,
) -> tuple[list[tuple[str, TarMember]], int]:
    """(member name, TarMember) of every regular file `keep` keeps (all by default), in archive order,
    and how many regular files the tar holds. Every member is checked first, as check_tar_members does.

    An uncompressed tar is read for its headers alone; its members' bytes are read where they lie,
    through the file listed (so a tar put in its place meanwhile is not read). A compressed one can only
    be read from its start, so it is read once, start to end, and the members kept are copied as they
    come to an unnamed file in `scratch` (the system's temporary folder when None), which is gone once
    the last TarMember of the listing is, even after a crash; so are an uncompressed tar's where a
    member kept is stored sparse. A member of more than `member_limit` bytes is not copied
    (read_tar_member refuses it by its size, as it would anyway). The copy stops before a member that
    its disk, measured again every ROOM_RECHECK_BYTES, has no room for while keeping COPY_RESERVE_BYTES
    free (DiskSpaceError naming the folder); an archive refused part way leaves nothing."""
    path = Path(path)
    keep = keep or (lambda name: True)
    source = open(path, "rb")  # noqa: SIM115 - shared by the TarMembers, closed with the last of them
    try:
        if _compression(source.read(10)) is None:
            source.seek(0)
            try:
                with tarfile.open(fileobj=source, mode="r:") as tf:
                    members = check_tar_members(tf, str(path), max_total_bytes)
            except UnsafeArchiveError:
                raise
            except _READ_ERRORS as error:
                raise _unreadable(path, "a tar archive", error) from None
            files = [member for member in members if member.isfile()]
            kept = [member for member in files if keep(member.name)]
            if not kept:
                source.close()
                return [], len(files)
            if not any(member.issparse() for member in kept):
                stamp = _stamp(source)
                return [
                    (m.name, TarMember(str(path), m.name, m.size, m.offset_data, source, stamp)) for m in kept
                ], len(files)
        return _copied_tar_files(path, source, keep, max_total_bytes, scratch, member_limit)
    except BaseException:
        source.close()
        raise


def _copied_tar_files(path, source, keep, max_total_bytes, scratch, member_limit):
    """list_tar_files for a tar read from its start: its members kept copied to a file in `scratch`."""
    folder = Path(scratch or tempfile.gettempdir())
    # Unbuffered: what a write could not put on the disk fails that write, not a later flush.
    spool = tempfile.TemporaryFile(prefix=".tar-members-", dir=scratch, buffering=0)  # noqa: SIM115
    kept, count, room, since_measured = [], 0, 0, 0
    # The preprocess job copies beside its output; a caller that gives no folder, to the system's.
    elsewhere = "point TMPDIR at a larger disk" if scratch is None else "write the results to a larger disk"
    fix = (
        "the members of a compressed tar (or of one with sparse members) are copied there uncompressed, "
        f"one by one, to be read an image at a time: free space there, {elsewhere}, or give the archive "
        "as a plain .tar or as a zip"
    )

    def copy(member: tarfile.TarInfo, handle) -> None:
        nonlocal count, room, since_measured
        count += 1
        if not keep(member.name):
            return
        offset = spool.tell()
        if member_limit is None or member.size <= member_limit:
            what = f"{path}: copying member {member.name!r} ({member.size:,} bytes)"
            # The disk is measured again every ROOM_RECHECK_BYTES copied (so that another job's writes
            # count), and for any member the last measure does not cover.
            if since_measured >= ROOM_RECHECK_BYTES or member.size > room:
                room = require_room(folder, member.size, what, fix, reserve=COPY_RESERVE_BYTES)
                room -= COPY_RESERVE_BYTES
                since_measured = 0
            room -= member.size
            since_measured += member.size
            while chunk := handle.read(COPY_CHUNK_BYTES):
                view = memoryview(chunk)
                while view:
                    try:
                        written = spool.write(view)
                    except OSError as error:
                        raise DiskSpaceError(
                            f"{what} to {folder} failed ({error.strerror or error}): {fix}"
                        ) from None
                    view = view[written:]
        # No stamp: nothing but this listing can change an unnamed file.
        kept.append((member.name, TarMember(str(path), member.name, member.size, offset, spool, None)))

    try:
        _stream_tar(path, source, max_total_bytes, copy)
    except BaseException:
        spool.close()
        raise
    finally:
        source.close()
    return kept, count


def read_tar_member(member: TarMember, limit: int) -> bytes:
    """A member's content, read where it lies in its file. Raises ValueError, with the reason, where it
    cannot be read or declares more than `limit` bytes: the caller skips it, or names it in its error;
    ArchiveChangedError where the file is not the one listed any more."""
    if member.size > limit:
        raise ValueError(f"a member of {member.size:,} bytes, over the limit of {limit:,}")
    try:
        changed = member.stamp is not None and _stamp(member.file) != member.stamp
        content = b"" if changed else os.pread(member.file.fileno(), member.size, member.offset)
    except (OSError, ValueError) as error:
        raise ValueError(f"could not be read from its tar ({type(error).__name__}: {error})") from None
    if changed:
        raise _changed(member.archive)
    if len(content) != member.size:
        raise ValueError(f"cut short in its tar ({len(content):,} of {member.size:,} bytes)")
    return content


def read_member(member: ZipMember | TarMember, limit: int) -> bytes:
    """A zip's or a tar's member read now (read_zip_member, read_tar_member), within `limit` bytes."""
    if isinstance(member, ZipMember):
        return read_zip_member(member, limit)
    return read_tar_member(member, limit)


def _extract_zip(path: Path, dest: Path, max_total_bytes: int | None) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        members = check_zip_members(zf, str(path), max_total_bytes)
        zf.extractall(dest, members)
    return [member.filename for member in members if not member.is_dir()]


def _extract_tar(path: Path, dest: Path, max_total_bytes: int | None) -> list[str]:
    with tarfile.open(path) as tf:
        members = check_tar_members(tf, str(path), max_total_bytes)
        # The "data" filter checks every member again as it writes and drops unsafe permissions. Python
        # before 3.11.4 (Debian 12's 3.11.2) has no filters; check_tar_members has refused every link,
        # device and path outside `dest` already.
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members, filter="data")
        else:
            tf.extractall(dest, members)
    return [member.name for member in members if member.isfile()]


def extract_archive(path, dest, max_total_bytes: int | None = None) -> list[Path]:
    """Extract a zip or a tar (.gz, .bz2, .xz) below `dest`; returns the regular files written.

    The format is read from the file's content, not its name. Nothing is written unless every
    member passes the checks.
    """
    path, dest = Path(path), Path(dest)
    if zipfile.is_zipfile(path):
        extract = _extract_zip
    elif tarfile.is_tarfile(path):
        extract = _extract_tar
    else:
        raise ValueError(f"{path}: neither a zip nor a tar archive")
    dest.mkdir(parents=True, exist_ok=True)
    return [dest / name for name in extract(path, dest, max_total_bytes)]
