"""The write-ups' claims as data, judged from the seeds: the statistics, every claim form and verdict,
and the planning-time warning when a claim names an experiment the config lacks."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
import yaml
from conftest import snakemake
from workflow_copy import REPO

from transfer_study.report import claims, statistics
from transfer_study.report.claims import ClaimsError, judge_claim, load_claims, planning_warning
from transfer_study.report.context import tally
from transfer_study.report.results import experiment_entry, judge_reported, run_row
from transfer_study.report.statistics import (
    ABOVE,
    BELOW,
    CONTRADICTED,
    HOLDS,
    NOT_CHECKED,
    ONE_SEED,
    UNRESOLVED,
    WITHIN,
    Sample,
)

CLAIMS = REPO / "config/claims.yaml"


@pytest.mark.parametrize("probability", [0.6, 0.9, 0.95, 0.975, 0.995])
def test_t_quantiles_match_the_closed_forms(probability):
    # One degree of freedom is the Cauchy distribution, two have a closed form, many approach the normal.
    assert statistics.t_quantile(probability, 1) == pytest.approx(math.tan(math.pi * (probability - 0.5)))
    two = (2 * probability - 1) / math.sqrt(2 * probability * (1 - probability))
    assert statistics.t_quantile(probability, 2) == pytest.approx(two)
    assert statistics.t_quantile(probability, 1e7) == pytest.approx(NormalDist().inv_cdf(probability))
    assert statistics.t_quantile(1 - probability, 3.7) == pytest.approx(
        -statistics.t_quantile(probability, 3.7)
    )
    assert statistics.t_cdf(statistics.t_quantile(probability, 2.6), 2.6) == pytest.approx(probability)


def test_welch_interval_with_equal_spreads_is_the_pooled_one():
    # Equal sizes and spreads give Welch's df = 2(n - 1), the pooled t interval's.
    a, b = statistics.sample([0.80, 0.82, 0.84]), statistics.sample([0.70, 0.72, 0.74])
    interval = statistics.difference_interval(a, b)
    half = statistics.t_quantile(0.975, 4) * math.sqrt(2 * 0.02**2 / 3)
    assert interval.estimate == pytest.approx(0.10)
    assert (interval.low, interval.high) == (pytest.approx(0.10 - half), pytest.approx(0.10 + half))


def runs_of(**values: list[float]) -> dict[str, list[dict]]:
    """Run rows (as results.run_row makes them) with one metric per experiment and seed."""
    return {name: [{"test_accuracy": v, "train_minutes": v} for v in seeds] for name, seeds in values.items()}


def claim(form: str, terms, **more) -> dict:
    return {"id": "c", "en": "words", "pt": "palavras", "metric": "test_accuracy", form: terms, **more}


def verdict(form, terms, runs, **more) -> str:
    return judge_claim(claim(form, terms, **more), runs, {}, "en")["verdict"]


APART = runs_of(high=[0.90, 0.91, 0.92], low=[0.60, 0.62, 0.61])
OVERLAP = runs_of(high=[0.70, 0.90, 0.80], low=[0.75, 0.65, 0.85])


def test_greater_and_less_hold_are_contradicted_or_stay_open():
    assert verdict("greater", ["high", "low"], APART) == HOLDS
    assert verdict("greater", ["low", "high"], APART) == CONTRADICTED
    assert verdict("less", ["low", "high"], APART) == HOLDS
    assert verdict("less", ["high", "low"], APART) == CONTRADICTED
    assert verdict("greater", ["high", "low"], OVERLAP) == UNRESOLVED


def test_one_seed_gives_a_difference_but_no_interval_and_no_verdict():
    runs = runs_of(high=[0.9], low=[0.6, 0.61])
    judged = judge_claim(claim("greater", ["high", "low"]), runs, {}, "en")
    assert judged["verdict"] == ONE_SEED
    (comparison,) = judged["comparisons"]
    assert comparison["difference"] == pytest.approx(0.9 - 0.605)
    assert comparison["low"] is None and comparison["high"] is None


def test_an_accuracy_difference_is_shown_within_its_bounds_and_minutes_are_not_cut():
    # Two seeds each, far apart: Welch's interval on one degree of freedom reaches past +-100 points.
    runs = runs_of(a=[0.9, 0.3], b=[0.2, 0.6])
    (shown,) = judge_claim(claim("greater", ["a", "b"]), runs, {}, "en")["comparisons"]
    raw = statistics.difference_interval(statistics.sample([0.9, 0.3]), statistics.sample([0.2, 0.6]))
    assert raw.low < -1 and raw.high > 1
    assert (shown["low"], shown["high"]) == (-1.0, 1.0) and shown["verdict"] == UNRESOLVED
    minutes = judge_claim(claim("greater", ["a", "b"], metric="train_minutes"), runs, {}, "en")
    assert minutes["comparisons"][0]["low"] == pytest.approx(raw.low)


def test_a_tie():
    # Equal means with spread: nothing decided. The same number on every seed: not greater.
    assert verdict("greater", ["a", "b"], runs_of(a=[0.7, 0.8, 0.9], b=[0.9, 0.7, 0.8])) == UNRESOLVED
    assert verdict("greater", ["a", "b"], runs_of(a=[0.8, 0.8], b=[0.8, 0.8])) == CONTRADICTED
    assert verdict("equivalent", ["a", "b"], runs_of(a=[0.8, 0.8], b=[0.8, 0.8]), margin=0.01) == HOLDS


def test_equivalence_uses_the_margin():
    close = runs_of(a=[0.950, 0.952, 0.951], b=[0.945, 0.947, 0.946])
    assert verdict("equivalent", ["a", "b"], close, margin=0.02) == HOLDS
    assert verdict("equivalent", ["a", "b"], close, margin=0.001) == CONTRADICTED
    assert verdict("equivalent", ["high", "low"], OVERLAP, margin=0.02) == UNRESOLVED
    three = runs_of(a=[0.95, 0.951], b=[0.946, 0.947], c=[0.80, 0.81])
    assert verdict("equivalent", ["a", "b", "c"], three, margin=0.02) == CONTRADICTED  # c is far


def test_a_chain_holds_only_when_every_link_does():
    rising = runs_of(a=[0.38, 0.39, 0.37], b=[0.50, 0.51, 0.49], c=[0.74, 0.75, 0.73])
    assert verdict("ordered", ["a", "b", "c"], rising) == HOLDS
    assert verdict("ordered", ["a", "c", "b"], rising) == CONTRADICTED
    open_link = runs_of(a=[0.38, 0.39, 0.37], b=[0.50, 0.70, 0.60], c=[0.62, 0.55, 0.66])
    assert verdict("ordered", ["a", "b", "c"], open_link) == UNRESOLVED
    judged = judge_claim(claim("ordered", ["a", "b", "c"]), rising, {"a": "A", "b": "B", "c": "C"}, "en")
    assert [(c["label_a"], c["label_b"]) for c in judged["comparisons"]] == [("B", "A"), ("C", "B")]


def test_best_of_and_groups():
    rising = runs_of(a=[0.38, 0.39, 0.37], b=[0.50, 0.51, 0.49], c=[0.74, 0.75, 0.73])
    assert verdict("best_of", ["c", "a", "b"], rising) == HOLDS
    assert verdict("best_of", ["b", "a", "c"], rising) == CONTRADICTED
    assert verdict("greater", [["b", "c"], "a"], rising) == HOLDS
    assert verdict("greater", [["a", "c"], "b"], rising) == CONTRADICTED  # a is below b


def test_two_metrics_of_one_experiment():
    runs = {"s3": [{"test_accuracy": t, "validation_accuracy": v} for t, v in
                   ((0.748, 0.743), (0.751, 0.745), (0.746, 0.744))]}  # fmt: skip
    close = claim("equivalent", ["s3", "s3"], metrics=["test_accuracy", "validation_accuracy"], margin=0.02)
    del close["metric"]
    assert judge_claim(close, runs, {}, "en")["verdict"] == HOLDS


def test_missing_experiments_and_runs_are_reported_not_dropped():
    judged = judge_claim(claim("greater", ["high", "renamed"]), APART, {}, "pt")
    assert judged["verdict"] == NOT_CHECKED and judged["missing"] == ["renamed"]
    assert judged["text"] == "palavras"
    judged = judge_claim(claim("greater", ["high", "low"]), {**APART, "low": []}, {}, "en")
    assert judged["verdict"] == NOT_CHECKED and judged["no_runs"] == ["low"] and not judged["missing"]


def test_reported_numbers_against_the_prediction_interval():
    ours = statistics.prediction_interval(Sample(0.80, 0.01, 3))
    assert ours.low < 0.80 < ours.high
    assert statistics.reported_verdict(0.80, ours) == WITHIN
    assert statistics.reported_verdict(ours.high + 0.001, ours) == ABOVE
    assert statistics.reported_verdict(ours.low - 0.001, ours) == BELOW
    assert statistics.reported_verdict(0.80, statistics.prediction_interval(Sample(0.8, None, 1))) == ONE_SEED


def test_a_reported_accuracy_inside_an_interval_wider_than_its_range_is_not_resolved():
    # Two seeds: Student's t on one degree of freedom is 12.7, so a 10-point spread gives an interval
    # wider than 0..100 %.
    judged = judge_reported("test_accuracy", 0.65, [0.60, 0.70])
    assert judged["verdict"] == UNRESOLVED
    assert (judged["low"], judged["high"]) == (0.0, 1.0)  # shown within the range
    raw = statistics.prediction_interval(statistics.sample([0.60, 0.70]))
    assert raw.low < 0 and raw.high > 1
    # Three seeds with the same spread: t is 4.3 and the interval fits inside the range.
    judged = judge_reported("test_accuracy", 0.65, [0.60, 0.70, 0.65])
    assert judged["verdict"] == WITHIN and 0 < judged["low"] < judged["high"] < 1
    assert judge_reported("test_accuracy", 0.95, [0.60, 0.70, 0.65])["verdict"] == ABOVE


def test_a_number_outside_even_a_too_wide_interval_is_still_above_or_below():
    ours = statistics.prediction_interval(statistics.sample([0.10, 0.16]))
    assert ours.high - ours.low >= 1
    assert statistics.reported_verdict(ours.high + 0.01, ours, 1.0) == ABOVE
    assert statistics.reported_verdict(0.13, ours, 1.0) == UNRESOLVED


def test_a_loss_interval_is_measured_against_the_largest_loss_of_the_runs():
    # An interval of width about 0.9 is narrow against losses that reached 2.3, and says nothing where
    # no run's loss passed 0.5.
    values = [0.30, 0.32, 0.34]
    width = (lambda i: i.high - i.low)(statistics.prediction_interval(statistics.sample(values)))
    assert 0.1 < width < 2.3
    assert judge_reported("test_loss", 0.31, values, loss_ceiling=2.3)["verdict"] == WITHIN
    assert judge_reported("test_loss", 0.31, values, loss_ceiling=width / 2)["verdict"] == UNRESOLVED
    shown = judge_reported("test_loss", 0.31, [0.05, 0.30], loss_ceiling=2.3)
    assert shown["low"] == 0.0  # a loss below 0 is never shown


def test_every_seed_the_same_gives_a_point_interval_and_says_so():
    judged = judge_reported("test_accuracy", 0.75, [0.75, 0.75, 0.75])
    assert (judged["low"], judged["high"], judged["verdict"], judged["no_spread"]) == (
        0.75,
        0.75,
        WITHIN,
        True,
    )
    assert judge_reported("test_accuracy", 0.76, [0.75, 0.75])["verdict"] == ABOVE
    assert judge_reported("test_accuracy", 0.76, [0.74, 0.75, 0.76])["no_spread"] is False


def test_a_reported_number_at_the_edge_of_the_range():
    # 100 % reported, our seeds near it: the interval is cut at 100 % and the number is within it.
    judged = judge_reported("train_accuracy", 1.0, [0.995, 1.0, 0.998])
    assert judged["high"] == 1.0 and judged["verdict"] == WITHIN
    # 0 % loss reported where our seeds never reach 0: below ours.
    assert judge_reported("train_loss", 0.0, [0.02, 0.03, 0.025], loss_ceiling=1.0)["verdict"] == BELOW


def test_the_at_a_glance_table_counts_no_within_wider_than_the_range():
    runs = [
        {"seed": s, "train": {"accuracy": a, "loss": 0.5}, "validation": {}, "test": {}}
        for s, a in ((0, 0.4), (1, 0.9))
    ]
    entry = experiment_entry("x", {"label": "x"}, [run_row(r) for r in runs], {"train_accuracy": 0.6})
    assert entry["judged"]["train_accuracy"]["verdict"] == UNRESOLVED
    counts = tally({"x": entry}, [])["numbers"]
    assert counts[UNRESOLVED] == 1 and counts[WITHIN] == 0


def test_bad_claims_are_named(tmp_path):
    path = tmp_path / "claims.yaml"
    bad = [
        claim("greater", ["a", "b"], less=["a", "b"]),
        {**claim("greater", ["a", "b"]), "id": "d", "metric": "speed"},
        {**claim("equivalent", ["a", "b"]), "id": "e"},
    ]
    path.write_text(yaml.safe_dump({"beans": {"claims": bad}}))
    with pytest.raises(ClaimsError) as error:
        load_claims(path)
    text = str(error.value)
    assert "beans/c: give exactly one form of greater, less" in text
    assert "beans/d: unknown metric speed" in text
    assert "beans/e: a margin belongs to, and only to, an equivalent claim" in text


def test_a_claims_file_that_is_no_yaml_or_missing_is_an_error_naming_the_file_and_line(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("beans:\n  claims:\n    - id: a\n    greater: [a, b\n")
    with pytest.raises(ClaimsError) as error:
        load_claims(path)
    (problem,) = error.value.problems
    assert problem.startswith(f"{path}, line 4: not valid YAML (") and problem.endswith("; correct it there")
    with pytest.raises(ClaimsError) as error:
        load_claims(tmp_path / "gone.yaml")
    assert error.value.problems == [
        f"{tmp_path / 'gone.yaml'}: cannot be read (No such file or directory); the report judges the "
        "claims it holds: put the file back (an empty file holds no claims)"
    ]


def test_every_key_of_a_claim_is_typed_at_loading(tmp_path):
    path = tmp_path / "claims.yaml"
    bad = [
        {**claim("equivalent", ["a", "b"]), "id": "text-margin", "margin": "2%"},
        {**claim("equivalent", ["a", "b"]), "id": "negative-margin", "margin": -0.02},
        {**claim("equivalent", ["a", "b"]), "id": "true-margin", "margin": True},
        {key: value for key, value in claim("greater", ["a", "b"]).items() if key != "id"},
        {**claim("greater", ["a", "b"]), "id": 7},
        {**claim("greater", ["a", "b"]), "id": "typo", "margn": 0.02},
        {**claim("greater", ["a", {"b": 1}]), "id": "odd-term"},
        {**claim("greater", ["a", "b"]), "id": "no-words", "pt": ["palavras"]},
        "just a sentence",
    ]
    path.write_text(yaml.safe_dump({"beans": {"claims": bad}, "cifar10": [claim("greater", ["a", "b"])]}))
    with pytest.raises(ClaimsError) as error:
        load_claims(path)
    lines = [line.strip() for line in str(error.value).splitlines()[1:]]
    expected = [
        "beans/text-margin: margin '2%' is not a positive number; write it in the metric's unit",
        "beans/negative-margin: margin -0.02 is not a positive number",
        "beans/true-margin: margin True is not a positive number",
        "beans/claims.3: give the claim an id (a name of its own, as text)",
        "beans/claims.4: give the claim an id",
        "beans/typo: unknown key 'margn'; allowed keys: ",
        "beans/odd-term: greater lists experiments by their names in the config",
        "beans/no-words: no words in pt (text)",
        "beans/claims.8: expected a mapping (id, words, form)",
        "cifar10: expected a mapping with the study's claims as a list under 'claims:'",
    ]
    for part in expected:
        assert sum(part in line and line.startswith(str(path)) for line in lines) == 1, (part, lines)
    assert len(lines) == len(expected)


def test_a_claim_naming_a_grid_experiment_is_judged():
    from test_report import make_context, study_config

    config = study_config()
    point = {**config["experiments"]["beans-3a"], "label": "lr 0.0001", "group": "g"}
    config["experiments"]["g--learning_rate-0.0001"] = point
    shipped = {"beans": [claim("greater", ["beans-3a", "g--learning_rate-0.0001"], metric="test_accuracy")]}
    written = [name for name in config["experiments"] if "--" not in name]
    context, _ = make_context(config=config, claims=shipped, order=written)
    assert "g--learning_rate-0.0001" not in {e["name"] for e in context["studies"]["beans"]["experiments"]}
    (judged,) = context["studies"]["beans"]["claims"]
    assert judged["verdict"] != NOT_CHECKED and judged["comparisons"][0]["label_b"] == "lr 0.0001"


def test_the_shipped_claims_cover_the_write_ups_and_match_both_configs():
    shipped = load_claims(CLAIMS)
    forms = {claims.claim_form(c) for study in shipped.values() for c in study}
    assert forms == {"greater", "less", "equivalent", "ordered", "best_of"}
    for name in ("config.yaml", "demo.yaml"):
        experiments = yaml.safe_load((REPO / "config" / name).read_text())["experiments"]
        assert planning_warning(shipped, experiments, "config/claims.yaml") is None, name
    warning = planning_warning(shipped, ["beans-1-softmax", "beans-1-relu"], "config/claims.yaml")
    assert "beans-extraction-below-scratch (lacks beans-2)" in warning
    assert "beans-softmax-over-relu-test" not in warning
    # A config of one study (config/cifar10-jpeg.yaml) renamed nothing of the other.
    cifar = yaml.safe_load((REPO / "config/cifar10-jpeg.yaml").read_text())["experiments"]
    assert planning_warning(shipped, cifar, "config/claims.yaml", studies={"cifar10"}) is None
    assert "beans-" in planning_warning(shipped, cifar, "config/claims.yaml")


@pytest.mark.workflow
def test_renaming_an_experiment_warns_at_planning(workflow_dir):
    path = workflow_dir / "config/demo.yaml"
    path.write_text(path.read_text().replace("  beans-2:\n", "  beans-extract:\n"))
    result = snakemake(workflow_dir, "-n", "--cores", "1", "--configfile", "config/demo.yaml")
    message = result.stdout + result.stderr
    assert "Claims not checked with this config" in message
    assert "beans-extraction-below-scratch (lacks beans-2)" in message
    assert "rename them in config/claims.yaml" in message


def test_a_claim_may_judge_balanced_accuracy_and_macro_f1_from_the_runs(tmp_path):
    """Balanced accuracy and macro F1 are claim metrics: loaded without a problem, judged from run_row's
    columns (made here from metrics.json as evaluation writes it), and shown within [-1, 1]."""
    path = tmp_path / "claims.yaml"
    written = [
        {**claim("greater", ["weighted", "plain"]), "id": "f1", "metric": "test_macro_f1"},
        {**claim("greater", ["weighted", "plain"]), "id": "bal", "metric": "validation_balanced_accuracy"},
    ]
    path.write_text(yaml.safe_dump({"mine": {"claims": written}}))
    loaded = load_claims(path)["mine"]

    def run(seed: int, score: float) -> dict:
        scores = {"accuracy": 0.9, "loss": 0.3, "balanced_accuracy": score, "macro_f1": score}
        return run_row(
            {"seed": seed, "train": None, "validation": scores, "test": scores, "train_seconds": 60}
        )

    runs = {
        "weighted": [run(seed, 0.80 + 0.01 * seed) for seed in range(3)],
        "plain": [run(seed, 0.50 + 0.01 * seed) for seed in range(3)],
    }
    for judged in (judge_claim(item, runs, {}, "en") for item in loaded):
        assert judged["verdict"] == HOLDS
        assert judged["comparisons"][0]["difference"] == pytest.approx(0.30)
