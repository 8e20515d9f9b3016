"""Peak memory of this process, as the memory benchmarks sample it: /proc/self/status read every 20 ms
on a thread. Imports nothing of the workflow, so that a child process measuring another checkout's code
keeps that checkout first on its path."""

from __future__ import annotations

import threading
import time
from pathlib import Path


def status_kb(*fields: str) -> int:
    """The sum of these fields of /proc/self/status (RssAnon, RssShmem, VmHWM...), in kB."""
    total = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            total += int(value.split()[0])
    return total


class PeakSampler:
    """The largest sum of `fields` seen while the job runs (by default RssAnon: what the job holds)."""

    def __init__(self, fields: tuple[str, ...] = ("RssAnon",), every: float = 0.02):
        self.fields, self.every = fields, every
        self.peak_kb, self.running = 0, True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while self.running:
            self.peak_kb = max(self.peak_kb, status_kb(*self.fields))
            time.sleep(self.every)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return max(self.peak_kb, status_kb(*self.fields))
