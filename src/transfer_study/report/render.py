"""Filling the templates: number formats, LaTeX escaping, embedded figures.

One context feeds both templates (HTML and LaTeX), so the two formats cannot disagree.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import jinja2

from transfer_study.report.results import BALANCE_METRICS, COLUMN_GROUPS, COLUMNS, METRICS, is_fraction


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value, digits: int = 4, signed: bool = False) -> str:
    """NaN- and None-safe decimal formatting for both templates."""
    if missing(value):
        return "–"
    # Rounded first, so a difference that rounds to nothing shows as +0.00, never as -0.00.
    return f"{round(value, digits) + 0.0:+.{digits}f}" if signed else f"{value:.{digits}f}"


def percent(value, digits: int = 2) -> str:
    """A fraction as the write-ups show accuracies: 0.7477 -> '74.77 %'."""
    return "–" if missing(value) else f"{100 * value:.{digits}f} %"


def metric(value, column: str) -> str:
    """A value of one results column: accuracies and F1 in percent, minutes with two decimals, losses four."""
    if is_fraction(column):
        return percent(value)
    return number(value, 2 if column == "train_minutes" else 4)


def metric_difference(value, column: str, points: str) -> str:
    """A difference in a column's unit; accuracies in percentage points (`points`: 'pp')."""
    if is_fraction(column):
        return "–" if missing(value) else f"{number(100 * value, 2, signed=True)} {points}"
    return number(value, 2 if column == "train_minutes" else 4, signed=True)


# LaTeX uses braces and percent signs itself, so its template marks its code differently.
LATEX_DELIMITERS = {
    "block_start_string": "((*",
    "block_end_string": "*))",
    "variable_start_string": "(((",
    "variable_end_string": ")))",
    "comment_start_string": "((#",
    "comment_end_string": "#))",
}


def environment(templates: Path, latex: bool = False) -> jinja2.Environment:
    options = LATEX_DELIMITERS if latex else {}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=not latex,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )
    env.filters.update(
        number=number, percent=percent, metric=metric, difference=metric_difference, latex=latex_escape
    )
    return env


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "±": r"$\pm$", "–": "--", "−": "--",
    "≈": r"$\approx$", "<": r"$<$", ">": r"$>$",
}  # fmt: skip


def latex_escape(text) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in str(text))


def data_uri(path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def render(
    context: dict,
    strings: dict,
    templates: Path,
    template: str,
    figures: dict[str, str],
    latex: bool = False,
    pdf: dict | None = None,
) -> str:
    """One template filled from the context; figures are embedded (HTML) or referenced by path (LaTeX).

    `pdf` ({"build": bool, "reason": str}) says in the HTML whether the run builds the PDF beside it.
    """
    images = figures if latex else {key: data_uri(path) for key, path in figures.items()}
    return (
        environment(templates, latex)
        .get_template(template)
        .render(
            context=context,
            t=strings,
            figures=images,
            metrics=METRICS,
            columns=COLUMNS,
            balance_columns=BALANCE_METRICS,
            column_groups=COLUMN_GROUPS,
            pdf=pdf,
        )
    )
