"""Whether a run builds the PDF report, decided when the workflow is planned, before any job runs.

The PDF needs `latexmk` and a TeX installation, which a fresh machine rarely has. `report.pdf` in the
config chooses: `auto` builds the PDF where `latexmk` can run and otherwise leaves it out (the HTML and
the `.tex` are still written, and a later run on a machine with TeX builds just the PDF); `true` makes a
missing `latexmk` a config error; `false` never builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

HOW_TO_GET_TEX = (
    "install TeX (Debian/Ubuntu: apt-get install latexmk texlive-latex-base texlive-latex-recommended "
    "texlive-fonts-recommended lmodern) or run with --use-conda (envs/latex.yaml), then run the same "
    "command again: only the PDF is built"
)


@dataclass(frozen=True)
class PdfPlan:
    build: bool
    # Why the PDF is or is not built, in a phrase the console and the report's provenance both use.
    reason: str


class PdfUnavailable(ValueError):
    """`report.pdf: true` on a machine that cannot build the PDF."""


def plan_pdf(setting, latexmk: str | None, conda: bool = False) -> PdfPlan:
    """Build the PDF or not, from the config's `report.pdf`, the path of `latexmk` (None when absent),
    and whether jobs run in their conda environments (envs/latex.yaml brings latexmk)."""
    if setting != "auto" and not isinstance(setting, bool):
        raise ValueError(f"report.pdf must be auto, true or false; got {setting!r}")
    if setting is False:
        return PdfPlan(False, "report.pdf is false in the config")
    if conda:
        return PdfPlan(True, "latexmk from the conda environment envs/latex.yaml")
    if latexmk:
        return PdfPlan(True, f"latexmk found at {latexmk}")
    if setting is True:
        raise PdfUnavailable(
            "report.pdf: true, but latexmk is not on PATH, so the PDF report cannot be built; "
            f"{HOW_TO_GET_TEX}, or set report.pdf to auto (skip the PDF where TeX is missing) or false"
        )
    return PdfPlan(False, "latexmk is not on PATH")


def skipped_message(plan: PdfPlan) -> str:
    """The one line a run prints, at its start and at its end, when it leaves the PDF out."""
    if plan.reason.startswith("report.pdf is false"):
        return "PDF report: not built (report.pdf: false in the config)."
    return f"PDF report: skipped, {plan.reason}; to get it, {HOW_TO_GET_TEX}."
