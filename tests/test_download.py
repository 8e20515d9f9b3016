"""Checksummed downloads from file:// urls and from an HTTP server on 127.0.0.1 started here."""

import hashlib
import http.server
import io
import logging
import socket
import threading
import time

import pytest

from transfer_study.data import download
from transfer_study.data.download import ChecksumError, DownloadError, fetch, log_progress, verify_file

BODY = bytes(range(256)) * 1200  # 300 KiB, several chunks once CHUNK_BYTES is made small
SHA256 = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()
WRONG = "0" * 64
SHORT_TIMEOUT = 0.3


@pytest.fixture(autouse=True)
def small_chunks_and_short_pauses(monkeypatch):
    # Many chunks from a small body, so progress and mid-body failures are exercised cheaply.
    monkeypatch.setattr(download, "CHUNK_BYTES", 16 * 1024)
    monkeypatch.setattr(download, "RETRY_PAUSE_SECONDS", 0.01)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source" / "train.zip"
    path.parent.mkdir()
    path.write_bytes(BODY)
    return path


@pytest.fixture
def dest(tmp_path):
    """The destination in a folder of its own, so leftovers are easy to spot."""
    return tmp_path / "resources" / "data" / "train.zip"


def leftovers(dest):
    return sorted(path.name for path in dest.parent.iterdir()) if dest.parent.exists() else []


# --- the HTTP server ----------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves BODY in the way a test asks for by path; counts requests per path."""

    def do_GET(self):
        server = self.server
        with server.lock:
            server.requests[self.path] = server.requests.get(self.path, 0) + 1
            count = server.requests[self.path]
        behaviour = ROUTES.get(self.path.split("?")[0])
        if behaviour is None:
            self.send_error(404, "no such file")
        else:
            behaviour(self, count)

    def log_message(self, *args):
        pass  # keep the test output clean

    def send_body(self, body, length=None):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)


def _good(handler, count):
    handler.send_body(BODY)


def _truncated(handler, count):
    # Announce the whole body, send half, and close: what a dropped connection looks like.
    handler.send_body(BODY[: len(BODY) // 2], length=len(BODY))
    handler.close_connection = True


def _stall_before_headers(handler, count):
    handler.server.release.wait(10)


def _stall_mid_body(handler, count):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(BODY)))
    handler.end_headers()
    handler.wfile.write(BODY[:1000])
    handler.wfile.flush()
    handler.server.release.wait(10)


def _unavailable_then_good(handler, count):
    if count == 1:
        handler.send_error(503, "try again")
    else:
        handler.send_body(BODY)


def _hang_up_then_good(handler, count):
    if count == 1:
        handler.close_connection = True  # no response at all
    else:
        handler.send_body(BODY)


def _corrupt_then_good(handler, count):
    handler.send_body(BODY[:-1] + b"!" if count == 1 else BODY)


def _always_corrupt(handler, count):
    handler.send_body(BODY[:-1] + b"!")


def _no_length(handler, count):
    handler.send_response(200)
    handler.end_headers()
    handler.wfile.write(BODY)
    handler.close_connection = True


ROUTES = {
    "/good": _good,
    "/truncated": _truncated,
    "/stall-headers": _stall_before_headers,
    "/stall-body": _stall_mid_body,
    "/unavailable-then-good": _unavailable_then_good,
    "/hang-up-then-good": _hang_up_then_good,
    "/corrupt-then-good": _corrupt_then_good,
    "/always-corrupt": _always_corrupt,
    "/no-length": _no_length,
}


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.requests, httpd.lock, httpd.release = {}, threading.Lock(), threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.release.set()  # wake stalled handlers so nothing outlives the test
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def closed_port():
    """A port nothing listens on: bound, read and closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- verify_file and file_digest ----------------------------------------------------------------


def test_file_digest_matches_hashlib(source):
    assert download.file_digest(source, "sha256") == SHA256
    assert download.file_digest(source, "md5") == MD5


def test_verify_file_checks_every_algorithm_and_size(source):
    verify_file(source, {"sha256": SHA256.upper(), "md5": MD5}, size=len(BODY))
    with pytest.raises(ChecksumError) as caught:
        verify_file(source, {"sha256": SHA256, "md5": "f" * 32})
    message = str(caught.value)
    assert "train.zip" in message and "md5" in message and "f" * 32 in message and MD5 in message
    with pytest.raises(ChecksumError, match="size is 307,200 bytes, expected 307,201"):
        verify_file(source, {"sha256": SHA256}, size=len(BODY) + 1)


def test_verify_file_needs_a_known_checksum(source):
    with pytest.raises(ValueError, match="at least one checksum"):
        verify_file(source, {})
    with pytest.raises(ValueError, match="unknown checksum algorithm 'sha7'"):
        verify_file(source, {"sha7": "00"})


# --- file:// urls -------------------------------------------------------------------------------


def test_file_url_lands_verified_at_dest(source, dest):
    assert fetch(source.as_uri(), dest, {"sha256": SHA256}, len(BODY)) == "downloaded"
    assert dest.read_bytes() == BODY
    assert leftovers(dest) == ["train.zip"]


def test_wrong_checksum_leaves_nothing(source, dest):
    with pytest.raises(ChecksumError) as caught:
        fetch(source.as_uri(), dest, {"sha256": WRONG})
    message = str(caught.value)
    assert "train.zip" in message and "sha256" in message
    assert WRONG in message and SHA256 in message
    # What to do, and where: the config key of the source and the place to put the file by hand.
    assert "checksums of the source in the config" in message and f"by hand at {dest}" in message
    assert leftovers(dest) == []


def test_a_checksum_error_names_the_source_s_key_in_the_config(source, dest):
    with pytest.raises(ChecksumError) as caught:
        fetch(source.as_uri(), dest, {"sha256": WRONG}, source="beans_train")
    assert "size and checksums of sources.beans_train in the config" in str(caught.value)


def test_present_verified_file_is_not_fetched_again(source, dest):
    fetch(source.as_uri(), dest, {"sha256": SHA256})
    source.unlink()
    assert fetch(source.as_uri(), dest, {"sha256": SHA256}, len(BODY)) == "present"
    assert dest.read_bytes() == BODY


def test_present_corrupt_file_is_reported_and_replaced(source, dest):
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"half a file")
    log = io.StringIO()
    assert fetch(source.as_uri(), dest, {"sha256": SHA256}, log=log) == "downloaded"
    assert dest.read_bytes() == BODY
    assert "does not verify" in log.getvalue()


def test_present_corrupt_file_is_not_kept_when_the_download_fails(tmp_path, dest):
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"half a file")
    with pytest.raises(DownloadError):
        fetch((tmp_path / "missing.zip").as_uri(), dest, {"sha256": SHA256})
    assert leftovers(dest) == []


def test_missing_local_source_is_reported_without_retries(tmp_path, dest):
    missing = tmp_path / "missing.zip"
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        fetch(missing.as_uri(), dest, {"sha256": SHA256}, attempts=5)
    assert time.monotonic() - started < 1
    assert "missing.zip" in str(caught.value) and "by hand" in str(caught.value)


@pytest.mark.parametrize("url", ["file://relative/train.zip", "file:relative/train.zip"])
def test_relative_file_urls_are_refused(url, dest):
    with pytest.raises(DownloadError, match="absolute path"):
        fetch(url, dest, {"sha256": SHA256})


def test_other_schemes_are_refused(dest):
    with pytest.raises(DownloadError, match="only http"):
        fetch("ftp://example.org/train.zip", dest, {"sha256": SHA256})


def test_interrupt_removes_the_partial_file(source, dest):
    def interrupt(done, total):
        if done > 50_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(source.as_uri(), dest, {"sha256": SHA256}, progress=interrupt)
    assert leftovers(dest) == []


# --- HTTP ---------------------------------------------------------------------------------------


def test_http_good_file(server, dest):
    assert fetch(f"{server.url}/good", dest, {"sha256": SHA256, "md5": MD5}, len(BODY)) == ("downloaded")
    assert dest.read_bytes() == BODY
    assert leftovers(dest) == ["train.zip"]


def test_http_without_content_length(server, dest):
    fetch(f"{server.url}/no-length", dest, {"sha256": SHA256}, len(BODY))
    assert dest.read_bytes() == BODY


def test_http_404_names_status_and_url_and_is_not_retried(server, dest):
    url = f"{server.url}/nowhere.zip"
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest, {"sha256": SHA256}, attempts=3)
    assert "404" in str(caught.value) and url in str(caught.value)
    assert server.requests["/nowhere.zip"] == 1
    assert leftovers(dest) == []


def test_http_truncated_body_leaves_nothing(server, dest):
    with pytest.raises(DownloadError, match="closed after 153,600 of 307,200 bytes"):
        fetch(f"{server.url}/truncated", dest, {"sha256": SHA256})
    assert leftovers(dest) == []


@pytest.mark.parametrize("path", ["/stall-headers", "/stall-body"])
def test_http_stall_raises_within_bounded_time(server, dest, path):
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        fetch(f"{server.url}{path}", dest, {"sha256": SHA256}, timeout=SHORT_TIMEOUT)
    assert time.monotonic() - started < 5
    assert "stalled" in str(caught.value)
    assert leftovers(dest) == []


def test_connection_refused_explains_the_offline_options(closed_port, dest):
    url = f"http://127.0.0.1:{closed_port}/train.zip"
    with pytest.raises(DownloadError) as caught:
        fetch(url, dest, {"sha256": SHA256}, timeout=SHORT_TIMEOUT)
    message = str(caught.value)
    assert url in message and str(dest) in message
    assert "network may be unavailable" in message
    assert "snakemake --configfile config/demo.yaml" in message
    assert "by hand" in message
    assert leftovers(dest) == []


@pytest.mark.parametrize("path", ["/unavailable-then-good", "/hang-up-then-good"])
def test_http_retries_after_a_failed_request(server, dest, path):
    log = io.StringIO()
    assert fetch(f"{server.url}{path}", dest, {"sha256": SHA256}, attempts=2, log=log) == ("downloaded")
    assert dest.read_bytes() == BODY
    assert server.requests[path] == 2
    assert "attempt 1 of 2 failed" in log.getvalue()


def test_http_without_retries_fails_on_the_first_error(server, dest):
    with pytest.raises(DownloadError, match="503"):
        fetch(f"{server.url}/unavailable-then-good", dest, {"sha256": SHA256})
    assert leftovers(dest) == []


def test_corrupted_transfer_is_retried(server, dest):
    fetch(f"{server.url}/corrupt-then-good", dest, {"sha256": SHA256}, attempts=2)
    assert dest.read_bytes() == BODY


def test_corruption_on_every_attempt_ends_in_a_checksum_error(server, dest):
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetch(f"{server.url}/always-corrupt", dest, {"sha256": SHA256}, attempts=2)
    assert server.requests["/always-corrupt"] == 2
    assert leftovers(dest) == []


# --- progress -----------------------------------------------------------------------------------


def test_progress_counts_up_to_the_total(server, dest):
    calls = []
    fetch(f"{server.url}/good", dest, {"sha256": SHA256}, progress=lambda *call: calls.append(call))
    done = [bytes_done for bytes_done, _ in calls]
    assert len(calls) > 5
    assert done == sorted(set(done)) and done[-1] == len(BODY)
    assert {total for _, total in calls} == {len(BODY)}


def test_progress_total_falls_back_to_the_configured_size(server, dest):
    calls = []
    record = lambda *call: calls.append(call)  # noqa: E731
    fetch(f"{server.url}/no-length", dest, {"sha256": SHA256}, len(BODY), progress=record)
    assert calls[-1] == (len(BODY), len(BODY))


def test_log_progress_writes_at_most_every_tenth(source, dest):
    out = io.StringIO()
    fetch(source.as_uri(), dest, {"sha256": SHA256}, progress=log_progress(out, "train.zip"))
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 11
    assert lines[-1] == "train.zip: 0.3 MiB / 0.3 MiB (100%)"


def test_log_progress_without_a_total_reports_by_bytes(caplog):
    logger = logging.getLogger("test_download")
    report = log_progress(logger, "x.bin", every_bytes=1 << 20)
    with caplog.at_level(logging.INFO, logger="test_download"):
        for done in range(0, 5 << 20, 256 << 10):
            report(done, None)
    assert [record.getMessage() for record in caplog.records] == [f"x.bin: {mib:.1f} MiB" for mib in range(5)]
