"""Shared start of every script: make the package importable and send all output to the job's log."""

import logging
import os
import sys
import time
from pathlib import Path


def start(snakemake) -> logging.Logger:
    """Route stdout, stderr (Python's and the C++ libraries') and logging to snakemake.log[0]."""
    started = time.time()
    # Snakemake runs a copy of the script from .snakemake/scripts and appends the workflow's folders to
    # sys.path; the workflow's own src/ goes first, so an installed copy of the package (another
    # checkout's, say) never shadows the code this workflow declares as its jobs' inputs.
    source = str(Path(snakemake.scriptdir).resolve().parent / "src")
    sys.path[:] = [source] + [entry for entry in sys.path if entry != source]
    stream = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    # The console, kept before it is pointed at the log: the package's warnings (a backup set aside)
    # are for the person running the workflow, not only for its log.
    console = os.fdopen(os.dup(2), "w", buffering=1)
    # TensorFlow, XLA and oneDNN log from C++ straight to file descriptors 1 and 2; pointing those at
    # the log keeps the console to Snakemake's progress lines.
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(stream.fileno(), 1)
    os.dup2(stream.fileno(), 2)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )
    to_console = logging.StreamHandler(console)
    to_console.setLevel(logging.WARNING)
    to_console.setFormatter(logging.Formatter(f"{snakemake.rule} ({snakemake.log[0]}): %(message)s"))
    logging.getLogger("transfer_study").addHandler(to_console)
    import transfer_study
    from transfer_study.training.runtime import (
        prepare_environment,
        seconds_since_process_start,
        skip_final_garbage_collection,
    )

    prepare_environment(snakemake.threads)
    skip_final_garbage_collection()
    log = logging.getLogger(f"transfer_study.{snakemake.rule}")
    log.info(
        "%s: started %.1f s after its process, %d thread(s); package %s",
        snakemake.rule,
        seconds_since_process_start(started),
        snakemake.threads,
        Path(transfer_study.__file__).parent,
    )
    return log
