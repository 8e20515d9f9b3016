# What the rules of every stage need, the checked config and its plan (transfer_study/planning.py), the
# paths of the results, the experiments and their runs. The rest of the set-up is in rules/inputs/: the
# Snakefile includes it next, and each stage's rules include their own input functions.
import functools
import os
import re
import shutil
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod, ExecMode
import yaml
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from transfer_study import config as study_config  # noqa: E402
from transfer_study import planning  # noqa: E402
from transfer_study.imports import module_file, reached_modules  # noqa: E402
from transfer_study.training.runtime import JOB_ENVIRONMENT  # noqa: E402
from transfer_study.data.verified import verify_present_sources  # noqa: E402
from transfer_study.data.directories import record_directory  # noqa: E402
from transfer_study.data.formats import registry as formats  # noqa: E402
from transfer_study.models import registry as model_registry  # noqa: E402
from transfer_study.models import memory as model_memory  # noqa: E402

# Inherited by every job this Snakemake starts.
for _name, _value in JOB_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
from transfer_study.training import accelerator  # noqa: E402
from transfer_study import console  # noqa: E402
from transfer_study.report import pdf as report_pdf  # noqa: E402

# The code inputs name this checkout's files: planning must run the same ones. A package imported
# before the Snakefile ran (by a plugin, say) would come from wherever it was installed from instead.
if (
    Path(study_config.__file__).resolve().parent
    != (Path(workflow.basedir) / "src/transfer_study").resolve()
):
    raise WorkflowError(
        f"transfer_study was imported from {Path(study_config.__file__).parent} before this workflow's "
        f"own {Path(workflow.basedir) / 'src/transfer_study'}: run Snakemake from a checkout without "
        "another copy of the package imported first (a plugin importing it at load time does)"
    )


def config_error(lines):
    """One error for every problem found, naming the config files, before any job is planned."""
    files = ", ".join(map(str, workflow.configfiles)) or "none"
    return WorkflowError(
        "invalid config:\n  " + "\n  ".join(lines) + f"\n(config files: {files})"
    )


def say(line):
    """One line on the console from the process the user started (not from jobs that re-read this)."""
    if workflow.exec_mode == ExecMode.DEFAULT:
        print(line, file=sys.stderr)


# The config checked (grids expanded, defaults filled in by Snakemake's validation), the PDF decided,
# the runs not retried and the claims checked, before any job is planned (transfer_study/planning.py).
with open(Path(workflow.basedir) / "config/schema.yaml") as handle:
    SCHEMA = yaml.safe_load(handle)
CLAIMS = "config/claims.yaml"
try:
    PLAN = planning.plan_study(
        config,
        SCHEMA,
        lambda checked: validate(
            checked, schema="../config/schema.yaml", set_default=True
        ),
        in_main_process=workflow.exec_mode == ExecMode.DEFAULT,
        latexmk=shutil.which("latexmk"),
        uses_conda=DeploymentMethod.CONDA
        in workflow.deployment_settings.deployment_method,
        claims_path=CLAIMS,
    )
except planning.PlanningError as error:
    raise config_error(error.problems)
GRIDS, PDF, FAILED_RUNS = PLAN.grids, PLAN.pdf, PLAN.failed_runs
for line in PLAN.messages:
    say(line)
# The HTML's provenance says whether the PDF was built. Scripts see the config, but it is no rerun
# trigger: TeX appearing later builds the PDF alone, without rendering the HTML again.
config["_pdf_plan"] = {"build": PDF.build, "reason": PDF.reason}

RESULTS = config["results"]
RESOURCES = config["resources"]
LOGS = f"{RESULTS}/logs"
REPORT = f"{RESULTS}/report"
BENCHMARKS = f"{RESULTS}/benchmarks"
SEEDS = config["seeds"]
EXPERIMENTS = list(config["experiments"])
GRID_SPECS = {name: grid.spec() for name, grid in GRIDS.items()}
# The report's study sections and figures show the experiments written by hand, set against the
# write-ups; a grid's experiments have a section and a figure of their own.
WRITTEN = [
    n for n in EXPERIMENTS if not any(n in grid.points for grid in GRIDS.values())
]


def any_of(values):
    """A wildcard constraint matching exactly these strings (or nothing for an empty list)."""
    return "|".join(re.escape(str(value)) for value in values) or "(?!)"


def dataset_file(dataset, size, suffix):
    return f"{RESULTS}/data/{dataset}-{size}px.{suffix}"


def experiment(name):
    return study_config.resolved_experiment(config, name)


def run_dir(name, seed):
    return planning.run_folder(RESULTS, name, seed)


# One run's folder as a rule's pattern: the train, evaluate and export rules' files are named in it.
RUN = run_dir("{experiment}", "{seed}")


def data_file_of(name):
    spec = experiment(name)
    return dataset_file(spec["dataset"], spec["image_size"], "npz")


def experiment_data(wildcards):
    return data_file_of(wildcards.experiment)


def runs(names=None):
    """(experiment, seed) of every run to train and report, known failures left out."""
    return [
        (name, seed)
        for name in names or EXPERIMENTS
        for seed in SEEDS
        if (name, seed) not in FAILED_RUNS
    ]


def run_files(name):
    """The file `name` of every run, in the order of runs()."""
    return [
        f"{run_dir(experiment_name, seed)}/{name}" for experiment_name, seed in runs()
    ]
