"""Shared start of every script: make the package importable and send all output to the job's log."""

import logging
import sys
from pathlib import Path


def start(snakemake) -> logging.Logger:
    """Route stdout, stderr and logging to snakemake.log[0]; return the job's logger."""
    # Snakemake runs a copy of the script from .snakemake/scripts, so the workflow's own package is found
    # from the original script's folder: this workflow's code wins over any installed copy of the package.
    source = str(Path(snakemake.scriptdir).resolve().parent / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
    from transfer_study.runtime import prepare_environment

    prepare_environment()
    stream = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stdout = sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )
    return logging.getLogger(f"transfer_study.{snakemake.rule}")
