"""Shared by the benchmark scripts: where results go, what machine they ran on, how they are written.

Each script writes benchmarks/results/<name>.json (every number, the machine, the date, the versions)
and benchmarks/results/<name>.md (the same as a table to paste into docs/performance.md).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "src"))

from transfer_study.training.runtime import prepare_environment  # noqa: E402

prepare_environment()


def load_study(path: Path = REPO / "config" / "config.yaml") -> dict:
    """The study's config as the workflow sees it: validated, with the schema's defaults filled in."""
    import yaml
    from snakemake.utils import validate

    config = yaml.safe_load(path.read_text())
    validate(config, str(REPO / "config" / "schema.yaml"), set_default=True)
    return config


def study_spec(name: str) -> dict:
    """What the training job of the study's experiment `name` gets (transfer_study.config.training_spec)."""
    from transfer_study.config import training_spec

    return training_spec(load_study(), name)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def machine(with_keras: bool = True) -> dict:
    """The machine, the date and the software: what every result file starts with."""
    info = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other jobs on the machine skew timings; the load before the run says whether there were any.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if with_keras:
        import keras

        from transfer_study.training.runtime import device_name, library_versions

        info.update(backend=keras.backend.backend(), device=device_name(), versions=library_versions())
    else:
        from importlib.metadata import PackageNotFoundError, version

        info["versions"] = {"python": platform.python_version()}
        for name in ("numpy", "pillow", "snakemake"):
            try:
                info["versions"][name] = version(name)
            except PackageNotFoundError:
                continue
    return info


def median(values) -> float:
    return float(statistics.median(values))


class EpochClock:
    """Wall time of whole epochs, callbacks included: from one epoch's start to the next one's."""

    def __new__(cls):
        import keras

        class _Clock(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.starts: list[tuple[float, float]] = []
                self.end = (0.0, 0.0)

            def on_epoch_begin(self, epoch, logs=None):
                self.starts.append((time.perf_counter(), time.process_time()))

            def on_train_end(self, logs=None):
                self.end = (time.perf_counter(), time.process_time())

            def seconds(self) -> list[float]:
                """Wall seconds per epoch."""
                marks = [*self.starts, self.end]
                return [b[0] - a[0] for a, b in zip(marks, marks[1:], strict=False)]

            def cpu_seconds(self) -> list[float]:
                """CPU seconds of this process (all its threads) per epoch: less swayed by other jobs."""
                marks = [*self.starts, self.end]
                return [b[1] - a[1] for a, b in zip(marks, marks[1:], strict=False)]

        return _Clock()


def write_results(name: str, results: dict, table: str, notes: list[str] = ()) -> Path:
    """benchmarks/results/<name>.json and .md; returns the markdown path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    header = results["machine"]
    versions = header.get("versions", {})
    lines = [
        f"### {results['title']}",
        "",
        f"Machine: {header['cpu']}, {header['cores']} cores, {header['memory_gib']} GiB; "
        f"device: {header.get('device', 'n/a')}; backend: {header.get('backend', 'n/a')}; "
        f"date: {header['date']}; 1-minute load average at start: {header.get('load_average_1min')}.",
        "Versions: "
        + (", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or f"python {header['python']}")
        + ".",
        "",
        table.rstrip(),
        "",
        *[f"{note}" for note in notes],
    ]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    print(path.read_text())
    return path


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value):
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
