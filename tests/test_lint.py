"""The linters the project promises to pass: snakemake --lint, snakefmt, ruff."""

import subprocess
import sys
from pathlib import Path

from conftest import REPO, SNAKEMAKE

BIN = Path(sys.executable).parent


def run(*command):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_snakemake_lint_is_clean():
    for config in ("config/config.yaml", "config/demo.yaml"):
        result = run(SNAKEMAKE, "--lint", "--configfile", config)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "Lints for" not in output, output[-4000:]


def test_snakefmt_is_clean():
    result = run(str(BIN / "snakefmt"), "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean():
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
