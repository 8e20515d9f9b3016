"""Files that operating systems, photo tools, sync clients and NAS software leave among people's photos.

None of them is an image of the data set, though several are JPEGs (a NAS's thumbnails, a Windows
thumbnail cache): read as photos they would be counted twice, possibly in another split than their
originals. A member is metadata when any part of its path is one of these names, wherever it sits, so a
`@eaDir/` inside a class folder is skipped as surely as one at the top. Names that start with a dot are
skipped as hidden by the readers themselves.
"""

from __future__ import annotations

# Folder names, matched without regard to case (Windows and macOS file systems ignore it), each with
# the software that writes it.
FOLDERS = {
    "__macosx": "macOS metadata",
    "@eadir": "Synology NAS thumbnails and index (@eaDir)",
    "#recycle": "Synology NAS recycle bin (#recycle)",
    "#snapshot": "Synology NAS snapshots (#snapshot)",
    "@recycle": "QNAP NAS recycle bin (@Recycle)",
    "@recently-snapshot": "QNAP NAS snapshots (@Recently-Snapshot)",
    ".@__thumb": "QNAP NAS thumbnails (.@__thumb)",
    "@__thumb": "QNAP NAS thumbnails (@__thumb)",
    "$recycle.bin": "Windows recycle bin ($RECYCLE.BIN)",
    "system volume information": "Windows volume metadata (System Volume Information)",
    "lost+found": "file system recovery folder (lost+found)",
}
# File names, matched without regard to case.
FILES = {
    "thumbs.db": "Windows thumbnail cache",
    "ehthumbs.db": "Windows thumbnail cache",
    "ehthumbs_vista.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings",
    "picasa.ini": "Picasa album settings",
    "icon\r": "macOS folder icon",
    "zbthumbnail.info": "Zoner Photo Studio thumbnails",
}


def path_parts(name: str) -> tuple[str, ...]:
    """The folders and file name of a relative POSIX path, as PurePosixPath(name).parts gives them
    (empty and "." parts dropped), with string operations: planning splits every file of a folder."""
    parts = name.split("/")
    if "" in parts or "." in parts:
        return tuple(part for part in parts if part and part != ".")
    return tuple(parts)


def folder_metadata_reason(folders) -> str | None:
    """The software whose folder one of these (the folders a member sits in) is, or None."""
    for folder in folders:
        if folder.casefold() in FOLDERS:
            return FOLDERS[folder.casefold()]
    return None


def file_metadata_reason(file_name: str) -> str | None:
    """The software that writes files of this name among photos, or None."""
    if file_name.startswith("._"):
        return "macOS metadata"  # a resource fork, beside the file it belongs to
    return FILES.get(file_name.casefold())


def metadata_reason(name: str, parts: tuple[str, ...] | None = None) -> str | None:
    """Why a member (a relative POSIX path; `parts`, its path_parts, where known) is metadata rather
    than a photo, or None."""
    parts = path_parts(name) if parts is None else parts
    if not parts:
        return None
    return folder_metadata_reason(parts[:-1]) or file_metadata_reason(parts[-1])
