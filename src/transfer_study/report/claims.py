"""The write-ups' conclusions as data (config/claims.yaml), each judged from this run's seeds.

A claim names experiments by their config keys and has one testable form:

- greater: [A, B]   A's mean is above B's (A or B may be a list: every pair of the two lists)
- less: [A, B]      A's mean is below B's
- equivalent: [A, B, ...] with a margin: every pair within +-margin (two one-sided tests)
- ordered: [A, B, C]  A < B < C: every neighbouring pair
- best_of: [A, B, C]  A is above each of the others

on one `metric` (or, for a two-term form, `metrics: [metric of A, metric of B]`). Each form becomes a
list of pairwise comparisons; the claim holds when every comparison holds (statistics.combined_verdict).
Imported at planning time, to warn about claims whose experiments the config lacks.
"""

from __future__ import annotations

import math

import yaml

from transfer_study.report import statistics
from transfer_study.report.results import CLAIMABLE, is_fraction

FORMS = ("greater", "less", "equivalent", "ordered", "best_of")
LANGUAGES = ("en", "pt")


class ClaimsError(ValueError):
    """A claims file the report cannot judge: one line per problem in `problems`, each naming the file
    and the claim (the message lists them all under a heading)."""

    def __init__(self, problems: list[str]):
        super().__init__("invalid claims:\n  " + "\n  ".join(problems))
        self.problems = list(problems)


KEYS = {"id", "section", "metric", "metrics", "margin", *LANGUAGES, *FORMS}


def load_claims(path) -> dict[str, list[dict]]:
    """The claims of each study; raises ClaimsError naming the file and claim for every problem, so that
    a mistake is found at planning rather than by the report job after all the training."""
    try:
        with open(path) as handle:
            studies = yaml.safe_load(handle) or {}
    except OSError as error:
        message = (
            f"{path}: cannot be read ({error.strerror or error}); the report judges the claims it holds: "
            "put the file back (an empty file holds no claims)"
        )
        raise ClaimsError([message]) from None
    except yaml.YAMLError as error:
        place = getattr(error, "problem_mark", None)
        line = f", line {place.line + 1}" if place is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise ClaimsError([f"{path}{line}: not valid YAML ({reason}); correct it there"]) from None
    if not isinstance(studies, dict):
        raise ClaimsError([f"{path}: expected a mapping of studies to their claims"])
    problems, seen = [], set()
    for study, block in studies.items():
        if not isinstance(block, dict) or not isinstance(block.get("claims", []), list):
            problems.append(
                f"{path}: {study}: expected a mapping with the study's claims as a list under 'claims:' "
                "(and optionally its 'source')"
            )
            continue
        for index, claim in enumerate(block.get("claims", [])):
            if not isinstance(claim, dict):
                problems.append(f"{path}: {study}/claims.{index}: expected a mapping (id, words, form)")
                continue
            name = claim.get("id")
            where = f"{path}: {study}/{name if isinstance(name, str) and name else f'claims.{index}'}"
            if not isinstance(name, str) or not name.strip():
                problems.append(f"{where}: give the claim an id (a name of its own, as text)")
            elif name in seen:
                problems.append(f"{where}: the id is used twice; give every claim its own")
            seen.add(name)
            problems += [f"{where}: {problem}" for problem in claim_problems(claim)]
    if problems:
        raise ClaimsError(problems)
    return {study: block.get("claims", []) for study, block in studies.items()}


def claim_form(claim: dict) -> str | None:
    forms = [form for form in FORMS if form in claim]
    return forms[0] if len(forms) == 1 else None


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_term(term) -> bool:
    """An experiment's name, or (in greater and less) a list of names."""
    names = term if isinstance(term, list) else [term]
    return bool(names) and all(isinstance(name, str) and name for name in names)


def claim_problems(claim: dict) -> list[str]:
    problems = [
        f"unknown key {key!r}; allowed keys: {', '.join(sorted(KEYS))}" for key in claim if key not in KEYS
    ]
    form = claim_form(claim)
    if form is None:
        return [*problems, f"give exactly one form of {', '.join(FORMS)}"]
    problems += [
        f"no words in {language} (text)"
        for language in LANGUAGES
        if not isinstance(claim.get(language), str) or not claim[language].strip()
    ]
    terms = claim[form]
    if not isinstance(terms, list) or len(terms) < 2:
        problems.append(f"{form} needs a list of at least two experiments")
    elif not all(_is_term(term) if form in ("greater", "less") else isinstance(term, str) for term in terms):
        nested = " (or, in greater and less, lists of names)" if form in ("greater", "less") else ""
        problems.append(f"{form} lists experiments by their names in the config{nested}")
    metrics = claim.get("metrics") or [claim.get("metric")]
    if not isinstance(metrics, list):
        metrics = [metrics]
    unknown = [metric for metric in metrics if not isinstance(metric, str) or metric not in CLAIMABLE]
    if unknown:
        problems.append(f"unknown metric {', '.join(map(str, unknown))}; known: {', '.join(CLAIMABLE)}")
    if "metrics" in claim and (form not in ("greater", "less", "equivalent") or len(metrics) != 2):
        problems.append("metrics (one per side) needs a two-term greater, less or equivalent")
    if (form == "equivalent") != ("margin" in claim):
        problems.append("a margin belongs to, and only to, an equivalent claim")
    elif "margin" in claim and not (_is_number(claim["margin"]) and claim["margin"] > 0):
        problems.append(
            f"margin {claim['margin']!r} is not a positive number; write it in the metric's unit "
            "(0.02 for 2 points of accuracy)"
        )
    return problems


def _names(term) -> list[str]:
    return term if isinstance(term, list) else [term]


def claim_experiments(claim: dict) -> list[str]:
    """Every experiment a claim names, in order, once."""
    names = [name for term in claim[claim_form(claim)] for name in _names(term)]
    return list(dict.fromkeys(names))


def comparisons(claim: dict) -> list[dict]:
    """The claim as pairwise comparisons: `a` above `b` (greater) or within the margin (equivalent)."""
    form, terms = claim_form(claim), claim[claim_form(claim)]
    metrics = claim.get("metrics") or [claim["metric"]] * 2
    if form == "less":
        terms, metrics = terms[::-1], metrics[::-1]
    if form in ("greater", "less"):
        pairs = [(a, b) for a in _names(terms[0]) for b in _names(terms[1])]
    elif form == "ordered":
        pairs = [(later, earlier) for earlier, later in zip(terms, terms[1:], strict=False)]
    elif form == "best_of":
        pairs = [(terms[0], other) for other in terms[1:]]
    else:
        pairs = [(a, b) for index, a in enumerate(terms) for b in terms[index + 1 :]]
    relation = "equivalent" if form == "equivalent" else "greater"
    return [
        {"a": a, "b": b, "metric_a": metrics[0], "metric_b": metrics[1], "relation": relation}
        for a, b in pairs
    ]


def missing_experiments(claim: dict, experiments) -> list[str]:
    return [name for name in claim_experiments(claim) if name not in experiments]


def planning_warning(claims: dict[str, list[dict]], experiments, path: str, studies=None) -> str | None:
    """One line naming every claim the config cannot check, or None when it can check them all.

    With `studies` (those the config has experiments of), the claims of a study the config leaves out
    altogether are not warned about: the report has no part for that study, and nothing was renamed.
    """
    unchecked = [
        f"{claim['id']} (lacks {', '.join(missing)})"
        for study, study_claims in claims.items()
        if studies is None or study in studies
        for claim in study_claims
        if (missing := missing_experiments(claim, experiments))
    ]
    if not unchecked:
        return None
    return (
        f"Claims not checked with this config, the report lists them as such: {'; '.join(unchecked)}. "
        f"If you renamed those experiments, rename them in {path} as well."
    )


def judge_claim(claim: dict, runs: dict[str, list[dict]], labels: dict[str, str], language: str) -> dict:
    """The claim's verdict from the seeds: `runs` holds the run rows of every experiment of the config
    (an empty list where none finished); `labels` the experiments' names in the report."""
    judged = {
        "id": claim["id"],
        "text": claim.get(language) or claim["en"],
        "section": claim.get("section", ""),
        "form": claim_form(claim),
        "margin": claim.get("margin"),
        "missing": missing_experiments(claim, runs),
        "no_runs": [name for name in claim_experiments(claim) if name in runs and not runs[name]],
        "comparisons": [],
    }
    if judged["missing"] or judged["no_runs"]:
        judged["verdict"] = statistics.NOT_CHECKED
        return judged
    for pair in comparisons(claim):
        judged["comparisons"].append(_compare(pair, runs, labels, claim.get("margin")))
    judged["verdict"] = statistics.combined_verdict([c["verdict"] for c in judged["comparisons"]])
    return judged


def _compare(pair: dict, runs: dict, labels: dict, margin: float | None) -> dict:
    a = statistics.sample([run.get(pair["metric_a"]) for run in runs[pair["a"]]])
    b = statistics.sample([run.get(pair["metric_b"]) for run in runs[pair["b"]]])
    if pair["relation"] == "equivalent":
        interval = statistics.difference_interval(a, b, statistics.EQUIVALENCE_CONFIDENCE)
        verdict = statistics.equivalence_verdict(interval, margin)
    else:
        interval = statistics.difference_interval(a, b)
        verdict = statistics.greater_verdict(interval)
    return {
        **pair,
        "label_a": labels.get(pair["a"], pair["a"]),
        "label_b": labels.get(pair["b"], pair["b"]),
        "difference": interval.estimate,
        "low": _within_bounds(interval.low, pair),
        "high": _within_bounds(interval.high, pair),
        "verdict": verdict,
    }


def _within_bounds(value, pair: dict):
    """A difference of two accuracies (or F1s) lies in [-1, 1]; with two or three seeds the t interval can
    reach past that, and is shown cut at the bounds (the verdict, taken before, does not change)."""
    fractions = is_fraction(pair["metric_a"]) and is_fraction(pair["metric_b"])
    return min(1.0, max(-1.0, value)) if fractions and value is not None else value
