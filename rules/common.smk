# Helpers shared by all the .smk files (config validation, paths, the params each job depends on).
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

for (
    _name,
    _value,
) in JOB_ENVIRONMENT.items():  # inherited by every job this Snakemake starts
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
GRIDS, PDF, FAILED_RUNS, CONFIG_DIGEST = (
    PLAN.grids,
    PLAN.pdf,
    PLAN.failed_runs,
    PLAN.config_digest,
)
for line in PLAN.messages:
    say(line)
# The HTML's provenance says whether the PDF was built. Scripts see the config, but it is no rerun
# trigger: TeX appearing later builds the PDF alone, without rendering the HTML again.
config["_pdf_plan"] = {"build": PDF.build, "reason": PDF.reason}

# The jobs that run a model (training, evaluation, backbone pretraining) take the one `gpu` token of the
# default profile where a GPU is visible, so two never share it, and always on a cluster (where it asks
# the scheduler for a GPU). Without a GPU on this machine there is nothing to share: every core trains,
# and jobs run side by side with one thread each, which gets about twice the work done on two cores
# that one job with two threads does (docs/performance.md). Cluster profiles set threads per rule.
GPU_VISIBLE = accelerator.gpu_visible()
MODEL_THREADS = 4 if GPU_VISIBLE else 1
# Preprocessing decodes on every core it is given (data/datasets.py, decode_into), and every job after
# it waits for it; where no total is set (a cluster's executor), cluster profiles set it per rule.
try:
    DATA_THREADS = max(1, int(workflow.cores))
except (WorkflowError, TypeError):
    DATA_THREADS = 4
# The demo's VGG16 pretraining is the one model job that two threads speed up almost twice on a CPU,
# and two thirds of the demo's beans runs wait for it.
PRETRAIN_THREADS = 4 if GPU_VISIBLE else 2


def gpu_token(wildcards):
    """1 where the job needs the GPU to itself; evaluated once the executor is known."""
    return 1 if GPU_VISIBLE or workflow.non_local_exec else 0


# Memory: each model job declares `mem_mb` from its model, image size and batch (models/memory.py), not
# from the data set, which it reads a batch at a time. A run on this machine without
# `--resources mem_mb=N` takes the machine's memory as the limit, so jobs run side by side only while
# their sum fits; a job that alone asks for more than the limit is given the limit (it runs alone).
if "mem_mb" not in workflow.global_resources and not workflow.non_local_exec:
    if machine_mb := model_memory.machine_memory_mb():
        workflow.register_resource("mem_mb", machine_mb)


def model_job_memory(trains=False, batch_size=None, exports=False, experiment_of=None):
    """The `mem_mb` of a job that trains, runs or exports (`exports`) the experiment of its wildcards
    (or the one `experiment_of(wildcards)` names)."""

    def mem_mb(wildcards):
        name = experiment_of(wildcards) if experiment_of else wildcards.experiment
        spec = study_config.training_spec(config, name)
        if exports:
            needed = model_memory.export_job_mb(spec)
        else:
            needed = model_memory.model_job_mb(spec, trains, batch_size)
        limit = workflow.global_resources.get("mem_mb").value
        return min(needed, limit) if isinstance(limit, int) else needed

    return mem_mb


RESULTS = config["results"]
RESOURCES = config["resources"]
LOGS = f"{RESULTS}/logs"
REPORT = f"{RESULTS}/report"

# A file below `resources` that no download wrote (placed or replaced by hand) is checked against the
# config before anything reads it; one that does not verify is set aside and fetched again.
if workflow.exec_mode == ExecMode.DEFAULT:
    verify_present_sources(
        Path(RESOURCES),
        {
            name: source
            for name, source in config["sources"].items()
            if study_config.source_kind(source) == "download"
        },
        say,
    )
# A `directory:` source is read where it is; its input is a record of its files (paths, sizes, hashes),
# rewritten here only when they change, so that exactly the jobs reading the folder run again then.
DIRECTORY_RECORDS = {
    name: f"{RESULTS}/data/directories/{name}.json"
    for name, source in config["sources"].items()
    if "directory" in source
}
if workflow.exec_mode == ExecMode.DEFAULT:
    for _name, _record in DIRECTORY_RECORDS.items():
        record_directory(Path(config["sources"][_name]["directory"]), Path(_record))
BENCHMARKS = f"{RESULTS}/benchmarks"
# Relative to the working folder, so that moving the checkout does not look like new inputs.
PACKAGE = Path(os.path.relpath(Path(workflow.basedir) / "src" / "transfer_study"))
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


SCRIPTS = Path(os.path.relpath(Path(workflow.basedir) / "scripts"))


def script_code(script):
    """The code a rule's script runs beyond the script itself, as inputs: the scripts' shared start and
    every package module the script reaches through its imports (transfer_study/imports.py). Editing
    any of them reruns exactly the jobs whose code reaches it."""
    return list(_script_code(script))


@functools.lru_cache(maxsize=None)
def _script_code(script):
    # Once per script and planning: the input functions ask for every job, and the sources do not
    # change while Snakemake plans.
    scripts = [SCRIPTS / f"{script}.py", SCRIPTS / "_workflow.py"]
    modules = reached_modules(scripts, PACKAGE)
    return (str(SCRIPTS / "_workflow.py"), *(str(module) for module in modules))


def declaring_file(entry, attribute):
    """The file of the module that declares a registry entry as its `attribute` (a dataset format's
    FORMAT, a model family's FAMILY), relative like script_code's paths; None where no module does.
    """
    return _declaring_files(attribute).get(id(entry))


@functools.lru_cache(maxsize=None)
def _declaring_files(attribute):
    # {id of the entry: its module's file}, once per planning: the registries are complete by now.
    # The file is found from the module's name in this workflow's package, as script_code names it,
    # whichever copy of the package Python loaded.
    found = {}
    for name, loaded in list(sys.modules.items()):
        if name.startswith("transfer_study.") and hasattr(loaded, attribute):
            found[id(getattr(loaded, attribute))] = str(module_file(PACKAGE, name))
    return found


def registry_code(script, dataset_formats=None, models=None):
    """script_code without the modules of the dataset formats and model families the job does not use.

    Each registry imports all of its entries, so every script that reaches one reaches them all; a job
    runs only the functions of the formats and families named here (None: all of that registry), so
    editing another entry reruns nothing of it.
    """
    unused = set()
    if dataset_formats is not None:
        unused |= {
            declaring_file(formats.get(name), "FORMAT")
            for name in formats.names()
            if name not in dataset_formats
        }
    if models is not None:
        unused |= {
            declaring_file(model_registry.get(name), "FAMILY")
            for name in model_registry.names()
            if name not in models
        }
    return [code for code in script_code(script) if code not in unused]


# --- sources ---------------------------------------------------------------------------------------


def source_path(name):
    if name in DIRECTORY_RECORDS:
        return DIRECTORY_RECORDS[name]
    return f"{RESOURCES}/{config['sources'][name]['path']}"


def sources_of_kind(kind):
    return [
        name
        for name, source in config["sources"].items()
        if study_config.source_kind(source) == kind
    ]


def source_paths_of_kind(kind):
    return any_of(config["sources"][name]["path"] for name in sources_of_kind(kind))


def source_named_by_path(wildcards):
    """The source whose file a download or generator job writes."""
    for name, source in config["sources"].items():
        if source.get("path") == wildcards.path:
            return name
    raise WorkflowError(f"no source has path {wildcards.path!r}")


# --- datasets --------------------------------------------------------------------------------------


def dataset_file(dataset, size, suffix):
    return f"{RESULTS}/data/{dataset}-{size}px.{suffix}"


# --- experiments -----------------------------------------------------------------------------------


def experiment(name):
    return study_config.resolved_experiment(config, name)


def experiment_code(script):
    """Input function: the code a job of one experiment runs, with its own model family and dataset
    format only (registry_code)."""

    def code(wildcards):
        chosen = experiment(wildcards.experiment)
        dataset_format = config["datasets"][chosen["dataset"]]["format"]
        return registry_code(
            script, dataset_formats=[dataset_format], models=[chosen["model"]]
        )

    return code


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


def metrics_files():
    return run_files("metrics.json")


def run_files(name):
    """The file `name` of every run, in the order of runs()."""
    return [
        f"{run_dir(experiment_name, seed)}/{name}" for experiment_name, seed in runs()
    ]


def final_outputs():
    """The summary, the report in HTML and LaTeX, its PDF where this run can build it, the configured
    prediction sets, the model cards and the checked exports."""
    outputs = [
        f"{RESULTS}/summary.csv",
        f"{REPORT}/report.html",
        f"{REPORT}/report.tex",
    ]
    outputs += [f"{RESULTS}/predictions/{name}.csv" for name in config["predict"]]
    outputs += run_files("model_card.md") + export_checks()
    return outputs + ([f"{REPORT}/report.pdf"] if PDF.build else [])


def finished_message():
    """Where a finished run's report is, and why the PDF is missing when it is."""
    html = f"{REPORT}/report.html"
    # A run of some targets only (--until, a file) may end before the report exists.
    if not os.path.exists(html):
        return f"Finished; {html} is written by a run of the whole workflow."
    line = console.finished_line(
        f"{REPORT}/report.html",
        f"{REPORT}/report.pdf" if PDF.build else None,
        f"{RESULTS}/summary.csv",
    )
    return line if PDF.build else f"{line}\n{report_pdf.skipped_message(PDF)}"


def check_accelerator():
    """Before the first job: say so, or stop (require_gpu), when real-size training would run on a CPU.

    Runs on the machine that starts the workflow, so only where the jobs run there too; on a cluster
    each training job checks on its own node (scripts/train.py).
    """
    if workflow.non_local_exec:
        return
    to_do = []
    for name, seed in runs():
        if not Path(f"{run_dir(name, seed)}/model.keras").exists():
            spec = experiment(name)
            images = study_config.train_images_before_run(config, spec["dataset"])
            to_do.append({**spec, "images": images or 0})
    hours = accelerator.estimated_cpu_hours(to_do)
    if not to_do or (hours < accelerator.REAL_SIZE_HOURS and not config["require_gpu"]):
        return
    device = accelerator.probe_device(Path(workflow.basedir) / "src")
    if accelerator.is_accelerator(device):
        say(f"Training on {device}.")
    elif config["require_gpu"]:
        accelerator.require_accelerator(device, "on this machine")
    else:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        say(accelerator.no_gpu_message(backend, device, hours, len(to_do)))
