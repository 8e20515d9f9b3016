"""Files that operating systems, photo tools, sync clients and NAS software leave among people's photos.

None of them is an image of the data set, though several are JPEGs (a NAS's thumbnails, a Windows
thumbnail cache): read as photos they would be counted twice, possibly in another split than their
originals. A member is metadata when any part of its path is one of these names, wherever it sits, so a
`@eaDir/` inside a class folder is skipped as surely as one at the top. Names that start with a dot are
skipped as hidden by the readers themselves.
"""

from __future__ import annotations

from pathlib import PurePosixPath

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


def metadata_reason(name: str) -> str | None:
    """Why a member (a relative POSIX path) is metadata rather than a photo, or None."""
    parts = PurePosixPath(name).parts
    if not parts:
        return None
    for folder in parts[:-1]:
        if folder.casefold() in FOLDERS:
            return FOLDERS[folder.casefold()]
    last = parts[-1]
    if last.startswith("._"):
        return "macOS metadata"  # a resource fork, beside the file it belongs to
    if last.casefold() in FILES:
        return FILES[last.casefold()]
    return None
