"""The package's layering, read from its source: the stages import in one direction, and no import
goes round in a circle.

Every `import` counts, those inside functions included: a lazy import still ties the modules together
(a job's code inputs follow them, see transfer_study/imports.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src/transfer_study"

# Helpers that import no stage: any module may use them.
FOUNDATION = {"checksums", "console", "digests", "failures", "files", "imports", "problems", "registry"}
STAGES = ("data", "models", "training", "report")
# Above the stages: what plans the workflow and the user-facing tools built from every stage.
APPLICATION = {"config", "grids", "planning", "export", "predict", "set_aside"}


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports (a `from package import module` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in known else source)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    known = module_names()
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def layer(module: str) -> tuple[int, str]:
    """(rank, where): a module may import modules of its own rank or below."""
    parts = module.split(".")
    if len(parts) == 1:
        return (len(STAGES) + 1, "the package")
    top = parts[1]
    if top in FOUNDATION:
        return (0, "the helpers")
    if top in STAGES:
        return (1 + STAGES.index(top), f"{top}/")
    if top in APPLICATION:
        return (len(STAGES) + 1, "the application")
    raise AssertionError(
        f"{module} belongs to no layer: add its name to FOUNDATION, APPLICATION or a stage in {__file__}"
    )


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index, lowest, on_stack, stack, groups = {}, {}, set(), [], []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = lowest[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowest[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    lowest[node] = min(lowest[node], index[successor])
            else:
                work.pop()
                if work:
                    lowest[work[-1][0]] = min(lowest[work[-1][0]], lowest[node])
                if lowest[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def test_no_import_goes_round_in_a_circle():
    assert circles(import_graph()) == []


def test_each_module_imports_only_its_own_layer_and_those_below():
    against = []
    for module, imports in sorted(import_graph().items()):
        rank, where = layer(module)
        for imported in sorted(imports):
            imported_rank, imported_where = layer(imported)
            if imported_rank > rank:
                against.append(f"{module} ({where}) imports {imported} ({imported_where})")
    assert against == []


def test_the_checks_see_circles_and_imports_against_the_order(tmp_path):
    """The two checks above on a made-up graph: they would fail on what they look for."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d2"}, "d2": set(), "e": {"e"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert layer("transfer_study.models.build") > layer("transfer_study.data.arrays")
    assert layer("transfer_study.files") < layer("transfer_study.data.arrays")
    with pytest.raises(AssertionError, match="belongs to no layer"):
        layer("transfer_study.somewhere")
    source = tmp_path / "transfer_study/models/thing.py"
    source.parent.mkdir(parents=True)
    source.write_text("def late():\n    from transfer_study.training import loop\n    from . import build\n")
    known = {
        "transfer_study.models.thing": source,
        "transfer_study.models.build": source,
        "transfer_study.training.loop": source,
        "transfer_study.training": source,
    }
    assert imported_modules("transfer_study.models.thing", source, known) == {
        "transfer_study.training.loop",
        "transfer_study.models.build",
    }
