"""Checksummed downloads that never leave a partial or unverified file where a good one belongs.

`fetch` streams a url to a temporary file beside its destination, hashing on the way, checks the
size and every configured checksum, and only then moves the file into place with `os.replace`, an
atomic rename. Any failure, Ctrl-C included, removes the temporary file, so `dest` either holds a
verified file or does not exist.

Urls may be `http://`, `https://` or `file://`. A `file://` url must name an absolute path, as in
`file:///data/mirror/train.zip` (three slashes: an empty host, then the path). `file://data/x.zip`
is refused rather than guessed at: by the url standard it names a host called `data`, not a
path relative to the working directory.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

CHUNK_BYTES = 1 << 20
MIB = 1 << 20
# Short pauses: the Snakemake rule retries whole jobs as well, so the library only rides out blips.
RETRY_PAUSE_SECONDS = 0.5
MAX_RETRY_PAUSE_SECONDS = 5.0
# Status codes that may succeed on a second try; other HTTP errors (404, 403...) will not.
TRANSIENT_HTTP_CODES = {408, 425, 429, 500, 502, 503, 504}

Progress = Callable[[int, "int | None"], None]


class DownloadError(RuntimeError):
    """A file could not be fetched. `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class ChecksumError(DownloadError):
    """A file's size or checksum differs from the configured one."""


# --- checksums ----------------------------------------------------------------------------------


def _new_digests(algorithms) -> dict:
    digests = {}
    for algorithm in algorithms:
        try:
            # usedforsecurity=False: md5 stays usable on FIPS systems, as the CIFAR-10 md5 needs.
            digests[algorithm] = hashlib.new(algorithm.lower(), usedforsecurity=False)
        except ValueError as error:
            raise ValueError(f"unknown checksum algorithm {algorithm!r}") from error
    return digests


def _file_digests(path, algorithms) -> dict[str, str]:
    """Every requested digest of one file, reading it once."""
    digests = _new_digests(algorithms)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            for digest in digests.values():
                digest.update(chunk)
    return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}


def file_digest(path, algorithm: str) -> str:
    """The hex digest of a file by any hashlib algorithm name, read in chunks."""
    return _file_digests(path, [algorithm])[algorithm]


def _require_checksums(checksums: dict[str, str]) -> None:
    # A file checked against nothing would be trusted blindly, which is what this module prevents.
    if not checksums:
        raise ValueError("at least one checksum (e.g. {'sha256': '...'}) is required")


def _check_size(path, expected: int | None, actual: int) -> None:
    if expected is not None and actual != expected:
        raise ChecksumError(f"{path}: size is {actual:,} bytes, expected {expected:,} bytes")


def _check_digests(path, checksums: dict[str, str], actual: dict[str, str]) -> None:
    for algorithm, expected in checksums.items():
        if actual[algorithm].lower() != expected.strip().lower():
            raise ChecksumError(f"{path}: {algorithm} mismatch: expected {expected}, got {actual[algorithm]}")


def verify_file(path, checksums: dict[str, str], size: int | None = None) -> None:
    """Raise ChecksumError unless the file has `size` bytes (if given) and every checksum matches.

    `checksums` maps hashlib names to hex digests, e.g. {"sha256": "...", "md5": "..."}.
    """
    _require_checksums(checksums)
    # The size first: it is free, and a wrong size makes hashing a large file pointless.
    _check_size(path, size, os.path.getsize(path))
    _check_digests(path, checksums, _file_digests(path, checksums))


# --- progress and logging -----------------------------------------------------------------------


def _line_writer(log) -> Callable[[str], None]:
    """One line of text to a logging.Logger, a file-like object, or nowhere (None)."""
    if log is None:
        return lambda text: None
    if isinstance(log, logging.Logger | logging.LoggerAdapter):
        return log.info

    def write(text: str) -> None:
        log.write(text + "\n")
        log.flush()

    return write


def _progress_line(label: str, done: int, total: int | None) -> str:
    if total:
        return f"{label}: {done / MIB:.1f} MiB / {total / MIB:.1f} MiB ({100 * done / total:.0f}%)"
    return f"{label}: {done / MIB:.1f} MiB"


def log_progress(log, label: str, every_fraction: float = 0.1, every_bytes: int = 16 * MIB) -> Progress:
    """A `progress` callable for `fetch` writing lines like `train.zip: 14.2 MiB / 137.2 MiB (10%)`.

    `log` is a logging.Logger or a file-like object. A line is written at most every
    `every_fraction` of the total, or every `every_bytes` when the total is unknown, plus one at
    the end when the total is known.
    """
    write = _line_writer(log)
    next_report = 0

    def report(done: int, total: int | None) -> None:
        nonlocal next_report
        if done < next_report and done != total:
            return
        write(_progress_line(label, done, total))
        step = int(total * every_fraction) if total else every_bytes
        next_report = done + max(1, step)

    return report


# --- urls and network failures ------------------------------------------------------------------


def _check_url(url: str) -> None:
    """Refuse schemes other than http(s) and file, and `file://` urls that are not absolute."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https", "file"}:
        raise DownloadError(f"{url}: only http(s):// and file:// urls are supported", retryable=False)
    if parts.scheme == "file" and (parts.netloc not in {"", "localhost"} or not parts.path.startswith("/")):
        raise DownloadError(
            f"{url}: a file:// url needs an absolute path, as in file:///abs/path/to/file (three "
            "slashes); in file://name/... the name is a host, not a folder relative to here",
            retryable=False,
        )


def _by_hand_hint(dest: Path) -> str:
    return (
        f"You can also place the file by hand at {dest}; it is verified against the configured "
        "checksum before it is used."
    )


def _network_failure(url: str, dest: Path, error: BaseException) -> DownloadError:
    reason = getattr(error, "reason", error)
    if urllib.parse.urlsplit(url).scheme == "file":
        # A missing or unreadable local source will not appear on retry; no network involved.
        return DownloadError(
            f"could not read {url} for {dest}: {reason}. {_by_hand_hint(dest)}", retryable=False
        )
    if isinstance(reason, TimeoutError):
        reason = "the server sent nothing for the timeout period (stalled or unreachable)"
    return DownloadError(
        f"could not fetch {url} for {dest}: {reason}. The network may be unavailable. Either run "
        "the offline demo configuration (snakemake --configfile config/demo.yaml), or place the "
        f"file by hand at {dest}; it is verified against the configured checksum before use."
    )


def _http_failure(url: str, dest: Path, error: urllib.error.HTTPError) -> DownloadError:
    return DownloadError(
        f"HTTP {error.code} {error.reason} for {url} (fetching {dest}). {_by_hand_hint(dest)}",
        retryable=error.code in TRANSIENT_HTTP_CODES,
    )


def _open_url(url: str, dest: Path, timeout: float):
    # The timeout applies to every socket operation, so a stalled server raises instead of hanging.
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise _http_failure(url, dest, error) from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _network_failure(url, dest, error) from error


def _read_chunks(response, url: str, dest: Path) -> Iterator[bytes]:
    """The body in chunks; only reading errors count as network failures, not local disk errors."""
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except (OSError, http.client.HTTPException) as error:
            raise _network_failure(url, dest, error) from error
        if not chunk:
            return
        yield chunk


def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


# --- fetching -----------------------------------------------------------------------------------


def _stream(url: str, dest: Path, out: IO[bytes], checksums, size, timeout, progress):
    """Copy the url's body into `out`; returns (hex digests, bytes received)."""
    digests = _new_digests(checksums)
    received = 0
    with _open_url(url, dest, timeout) as response:
        announced = _content_length(response)
        for chunk in _read_chunks(response, url, dest):
            out.write(chunk)
            for digest in digests.values():
                digest.update(chunk)
            received += len(chunk)
            if progress is not None:
                progress(received, announced or size)
    # http.client returns an empty read, not an error, when a connection closes early.
    if announced is not None and received < announced:
        raise DownloadError(
            f"{url}: the connection closed after {received:,} of {announced:,} bytes (fetching {dest})"
        )
    return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}, received


def _open_partial(dest: Path) -> tuple[Path, IO[bytes]]:
    """A new temporary file beside `dest` (same file system, so the final rename is atomic)."""
    partial = dest.with_name(f"{dest.name}.{secrets.token_hex(4)}.part")
    # O_EXCL: never write into someone else's file; mode 0o666 lets the umask decide, as for dest.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return partial, os.fdopen(descriptor, "wb")


def _download_once(url: str, dest: Path, checksums, size, timeout, progress) -> int:
    partial, out = _open_partial(dest)
    try:
        with out:
            actual, received = _stream(url, dest, out, checksums, size, timeout, progress)
        _check_size(f"{url} (for {dest})", size, received)
        _check_digests(f"{url} (for {dest})", checksums, actual)
        os.replace(partial, dest)
    except BaseException:
        # BaseException: Ctrl-C and SystemExit must not leave a partial file either.
        partial.unlink(missing_ok=True)
        raise
    return received


def _present_and_verified(dest: Path, checksums, size, say) -> bool:
    if not dest.exists():
        return False
    try:
        verify_file(dest, checksums, size)
    except ChecksumError as error:
        # Not trusted, and not left in place either should the new download fail.
        say(f"{dest} is present but does not verify ({error}); removing it and fetching it again")
        dest.unlink()
        return False
    say(f"{dest} is present and verified; not fetching it again")
    return True


def _download_and_report(url, dest, checksums, size, timeout, progress, say) -> str:
    received = _download_once(url, dest, checksums, size, timeout, progress)
    say(f"downloaded {url} to {dest} ({received:,} bytes, verified)")
    return "downloaded"


def _checksum_hint(dest: Path, source: str | None) -> str:
    """What to do when the file a url serves is not the one the config describes."""
    key = f"sources.{source}" if source else "the source"
    return (
        f"The url serves another file than the size and checksums of {key} in the config describe: if it "
        "now serves a new version on purpose, put that file's checksums (and size) in the config; "
        f"otherwise try again later, or place the file by hand at {dest}."
    )


def _retry_pause(attempt: int) -> float:
    return min(RETRY_PAUSE_SECONDS * attempt, MAX_RETRY_PAUSE_SECONDS)


def fetch(
    url: str,
    dest,
    checksums: dict[str, str],
    size: int | None = None,
    *,
    timeout: float = 60,
    attempts: int = 1,
    progress: Progress | None = None,
    log=None,
    source: str | None = None,
) -> str:
    """Make `dest` a verified copy of `url`; returns "present" if it already was, else "downloaded".

    `checksums` maps hashlib names to hex digests; `size` is the expected size in bytes. Network
    errors, transient HTTP errors (5xx, 429) and corrupted transfers are tried up to `attempts`
    times; the last error is raised (a ChecksumError if the last transfer was corrupted).
    `progress(bytes_done, total_or_None)` is called after every chunk; `log` is a logging.Logger
    or a file-like object. `source`, the source's name in the config, is named by a checksum error.
    """
    dest = Path(dest)
    say = _line_writer(log)
    _require_checksums(checksums)
    _check_url(url)
    if _present_and_verified(dest, checksums, size, say):
        return "present"
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts):
        try:
            return _download_and_report(url, dest, checksums, size, timeout, progress, say)
        except DownloadError as error:
            if not error.retryable:
                raise
            say(f"attempt {attempt} of {attempts} failed: {error}")
            time.sleep(_retry_pause(attempt))
    # The last (or only) attempt: its error, if any, is the one the caller sees.
    try:
        return _download_and_report(url, dest, checksums, size, timeout, progress, say)
    except ChecksumError as error:
        raise ChecksumError(f"{error}. {_checksum_hint(dest, source)}") from None
