"""Which modules of this package a script reaches through its imports, for the rules' code inputs.

Snakemake's code trigger sees a rule's script but not the modules it imports. Every module a job's
script reaches, directly or through other modules (imports inside functions included), is therefore an
input of the rule, found here from the source rather than listed by hand.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "transfer_study"


def _imported_modules(path: Path) -> set[str]:
    """Dotted names below the package that the file imports: `import transfer_study.x` and
    `from transfer_study.x import y` give x and x.y, `from transfer_study import x` gives x; names that
    are no module file (x.y a function, say) are dropped by reached_modules."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(f"{PACKAGE}."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _in_package(node.module):
            if node.module != PACKAGE:
                found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _in_package(module: str | None) -> bool:
    return module is not None and (module == PACKAGE or module.startswith(f"{PACKAGE}."))


def module_file(package_dir: Path, dotted: str) -> Path | None:
    """The file of `transfer_study.a.b`: a/b.py or a/b/__init__.py; None for a name that is no module."""
    base = package_dir.joinpath(*dotted.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reached_modules(scripts: list[Path], package_dir: Path) -> list[Path]:
    """Every package module the scripts import, directly or not, with the package's __init__ files."""
    package_dir = Path(package_dir)
    seen: set[Path] = {package_dir / "__init__.py"}
    pending = [Path(script) for script in scripts] + [package_dir / "__init__.py"]
    while pending:
        for dotted in _imported_modules(pending.pop()):
            path = module_file(package_dir, dotted)
            if path is None or path in seen:
                continue
            seen.add(path)
            # A module inside a sub-package also runs the sub-package's __init__.
            for parent in path.relative_to(package_dir).parents:
                init = package_dir / parent / "__init__.py"
                if init.is_file() and init not in seen:
                    seen.add(init)
                    pending.append(init)
            pending.append(path)
    return sorted(seen)
