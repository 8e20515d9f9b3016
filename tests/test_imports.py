"""A rule's code inputs are every package module its script reaches, found from the imports."""

from workflow_copy import REPO

from transfer_study.imports import reached_modules

PACKAGE = REPO / "src/transfer_study"
SCRIPTS = REPO / "scripts"


def names(paths):
    return {path.relative_to(PACKAGE).as_posix() for path in paths}


def test_the_training_script_reaches_modules_it_never_names():
    reached = names(reached_modules([SCRIPTS / "train.py", SCRIPTS / "_workflow.py"], PACKAGE))
    # Named by the script: training.loop; reached through it: training.caching, models.build; through
    # models.build: models.weights. Each sub-package brings its __init__.
    assert {
        "training/loop.py",
        "training/caching.py",
        "training/runtime.py",
        "training/__init__.py",
        "models/build.py",
        "models/weights.py",
        "models/__init__.py",
        "__init__.py",
    } <= reached
    assert not {"training/evaluation.py", "report/plots.py", "report/context.py"} & reached


def test_imports_inside_functions_count_and_sub_packages_bring_their_init(tmp_path):
    package = tmp_path / "transfer_study"
    (package / "stage").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "stage/__init__.py").write_text("from transfer_study.stage import inner\n")
    (package / "stage/inner.py").write_text("def f():\n    from transfer_study import leaf\n")
    (package / "leaf.py").write_text("import os\n")
    (package / "unused.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("from transfer_study.stage.inner import f\nimport transfer_study.nothing_here\n")
    assert names_of(reached_modules([script], package), package) == {
        "__init__.py", "stage/__init__.py", "stage/inner.py", "leaf.py",
    }  # fmt: skip


def names_of(paths, package):
    return {path.relative_to(package).as_posix() for path in paths}
