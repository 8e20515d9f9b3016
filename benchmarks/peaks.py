"""Peak memory of this process, as the memory benchmarks sample it: /proc/self/status read every 20 ms
on a thread; and the proportional memory of a process tree, read from outside it. Imports nothing of
the workflow, so that a child process measuring another checkout's code keeps that checkout first on
its path."""

from __future__ import annotations

import os
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


def tree_pss_kb(root: int) -> int:
    """Proportional anonymous and shared memory (Pss_Anon + Pss_Shmem) of a process and its descendants:
    the forked decoders' own memory, which the job's /proc/self/status does not show, with each page
    they share with the job counted once in all."""
    total, waiting, seen = 0, [root], set()
    while waiting:
        pid = waiting.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Pss_Anon:", "Pss_Shmem:")):
                    total += int(line.split()[1])
            for task in os.listdir(f"/proc/{pid}/task"):
                waiting += [
                    int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                ]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass  # a process that ended meanwhile
    return total
