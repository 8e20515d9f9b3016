#!/usr/bin/env bash
# System packages the tests use beyond Python: TeX (the PDF report) and a one-node SLURM (the cluster test).
# Installs only what is missing, and only where apt-get can run as root; elsewhere the tests that need
# these tools skip themselves and say why.
set -euo pipefail
needed=()
command -v latexmk >/dev/null || needed+=(latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended lmodern)
command -v slurmctld >/dev/null || needed+=(slurm-wlm munge)
if [ ${#needed[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "system-packages: cannot install ${needed[*]} (needs apt-get as root); the tests that need them will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
