# Each job's code inputs: the modules its script reaches, its own dataset format and model family only
# (included by the Snakefile).


# Relative to the working folder, so that moving the checkout does not look like new inputs.
PACKAGE = Path(os.path.relpath(Path(workflow.basedir) / "src" / "transfer_study"))
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
