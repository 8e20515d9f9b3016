"""What the workflow settles before Snakemake plans a job: the config checked (grids expanded, defaults
filled in), the PDF built or not, the runs not retried, the claims file checked, the backups set aside
counted, and the lines the console shows about all of it.

rules/common.smk calls `plan_study` once per parse and reads the Plan; everything here is plain Python
on the config and the files it names, so the tests run it without Snakemake. A problem of the user's
config (or claims file) raises PlanningError with one line per problem, each naming its key; the
Snakefile turns them into one WorkflowError that also names the config files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from transfer_study import config as study_config
from transfer_study import grids as study_grids
from transfer_study.failures import known_failure
from transfer_study.report import claims as report_claims
from transfer_study.report import pdf as report_pdf
from transfer_study.training import set_aside as training_set_aside


class PlanningError(ValueError):
    """The config or the claims file cannot be planned; `problems` holds one line per problem, the text
    of each Problem (transfer_study/problems.py) made here, at the edge."""

    def __init__(self, problems: list):
        self.problems = [str(problem) for problem in problems]
        super().__init__("invalid config:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class Plan:
    """grids: the config's grids by name (their experiments already in config["experiments"]);
    config_digest: of the config as written, without the run settings; pdf: whether the PDF is built and
    why; failed_runs: (experiment, seed) of the runs that failed before with the same experiment, which
    are reported as failed rather than retried; messages: what the console says before any job."""

    grids: dict
    config_digest: str
    pdf: report_pdf.PdfPlan
    failed_runs: list[tuple[str, int]]
    messages: list[str] = field(default_factory=list)


def checked_config(config: dict, schema: dict, fill_defaults: Callable[[dict], None]) -> dict:
    """Expand the grids into `config`, check it, fill its defaults in (`fill_defaults`, Snakemake's
    validation with set_default); the grids by name, or PlanningError listing every problem.

    Every schema violation comes first, each with its key path and the allowed keys or values; only
    then are the defaults filled in (filling them in crashes on a value of the wrong type). A grid's
    experiments go through the same checks as those written by hand, and their problems are named by
    the grid's key."""
    grids, problems = study_grids.expand_grids(config, schema)
    problems += study_config.schema_errors(config, schema)
    if problems:
        raise PlanningError(problems)
    fill_defaults(config)
    try:
        study_config.check_config(config)
    except study_config.ConfigError as error:
        raise PlanningError(study_grids.blame(error.problems, grids)) from None
    return grids


def pdf_plan(config: dict, in_main_process: bool, latexmk: str | None, uses_conda: bool):
    """Build the PDF or not (report/pdf.py), decided only where the user started the workflow: a job
    parsing the Snakefile again on a node without TeX builds no PDF anyway (compile_pdf is local)."""
    if not in_main_process:
        return report_pdf.PdfPlan(False, "not planned inside a job")
    try:
        return report_pdf.plan_pdf(config["report"]["pdf"], latexmk, uses_conda)
    except report_pdf.PdfUnavailable as error:
        raise PlanningError([str(error)]) from None


def run_folder(results: str, name: str, seed) -> str:
    """The folder of one run (experiment `name`, `seed`): its model, history, metrics and exports."""
    return f"{results}/runs/{name}/seed{seed}"


def train_log(results: str, name: str, seed) -> str:
    """The log of one run's training job (rules/train.smk writes it; failures.py reads it back)."""
    return f"{results}/logs/train/{name}/seed{seed}.log"


def failed_runs(config: dict) -> list[tuple[str, int]]:
    """Runs whose last training attempt failed with this very experiment (failures.py)."""
    found = []
    for name in config["experiments"]:
        spec = study_config.training_spec(config, name)
        for seed in config["seeds"]:
            log = Path(train_log(config["results"], name, seed))
            if known_failure(log, Path(run_folder(config["results"], name, seed)) / "model.keras", spec):
                found.append((name, seed))
    return found


def claims_warning(config: dict, claims_path: str) -> str | None:
    """The claims file checked against the config: PlanningError for a file the report cannot judge,
    and a warning naming the claims whose experiments the config does not have (one renamed, say)."""
    experiments = list(config["experiments"])
    studies = {study_config.resolved_experiment(config, name)["study"] for name in experiments}
    try:
        claims = report_claims.load_claims(claims_path)
    except report_claims.ClaimsError as error:
        raise PlanningError(error.problems) from None
    return report_claims.planning_warning(claims, experiments, claims_path, studies=studies)


def plan_study(
    config: dict,
    schema: dict,
    fill_defaults: Callable[[dict], None],
    *,
    in_main_process: bool,
    latexmk: str | None,
    uses_conda: bool,
    claims_path: str,
) -> Plan:
    """Everything above, in order; `config` is changed in place (grids expanded, defaults filled in)."""
    grids = checked_config(config, schema, fill_defaults)
    # Of the config as the user wrote it (defaults filled in), before the workflow adds to it.
    digest = study_config.digest(study_config.without_run_settings(config))
    pdf = pdf_plan(config, in_main_process, latexmk, uses_conda)
    messages = [] if pdf.build else [report_pdf.skipped_message(pdf)]
    messages += study_grids.plan_lines(grids, config["seeds"])
    failed = failed_runs(config)
    messages += [
        f"Not retried: {name} seed {seed} failed with this config before (see "
        f"{train_log(config['results'], name, seed)}); the report lists it as failed. Change the "
        "experiment or delete that log to train it again."
        for name, seed in failed
    ]
    # Where the user started the workflow only: a job parsing the Snakefile again has no console.
    set_aside = training_set_aside.planning_line(config["results"]) if in_main_process else None
    messages += [set_aside] if set_aside else []
    warning = claims_warning(config, claims_path)
    messages += [warning] if warning else []
    return Plan(grids, digest, pdf, failed, messages)
