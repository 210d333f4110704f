"""The house has floors: schemas/ at the bottom, the stage packages on it, pipelines/ on top.

Read from the source with ``ast`` (every import statement, also those inside functions), so a lazy
import cannot hide a dependency that points the wrong way:

* ``schemas/`` (the floor: records, wire form, outcomes, files, the stage declaration type) imports no
  other package of the project;
* ``filters/``, ``dedup/`` and ``synth/`` never import ``pipelines/``, the top (CLI, graph, card,
  publish), with one named exception;
* nothing the pipeline ships imports ``tests/`` or ``bench/``, and the tests import nothing of ``bench/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "filters", "dedup", "synth", "pipelines")

#: (importing module, imported module) -> why it may.
ALLOWED = {
    ("filters.train_quality", "pipelines.readers"):
        "an offline training tool, not a pipeline stage: it reads its JSONL and Parquet inputs with the "
        "pipeline's own text readers so a file trains exactly as it curates",
}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """What ``path`` imports, as absolute dotted names: ``import a.b`` → a.b; ``from a.b import c`` → a.b.c
    (c may be a module or a name in one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _violations(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    problems = []
    for package in packages:
        for path in _modules(package):
            importer = _name(path)
            for imported in sorted(_imports(path)):
                if _top(imported) not in forbidden:
                    continue
                if any(importer == who and (imported == what or imported.startswith(what + "."))
                       for who, what in ALLOWED):
                    continue
                problems.append(f"{importer} imports {imported}")
    return problems


def test_the_floor_imports_no_other_package_of_the_project():
    assert _violations(("schemas",), ("filters", "dedup", "synth", "pipelines", "tests", "bench")) == []


def test_no_stage_package_imports_the_top():
    assert _violations(("filters", "dedup", "synth"), ("pipelines",)) == []


def test_the_named_exceptions_are_still_needed():
    """An exception that no longer happens is dropped from ALLOWED, so the list stays the truth."""
    for importer, imported in ALLOWED:
        path = ROOT / (importer.replace(".", "/") + ".py")
        assert any(m == imported or m.startswith(imported + ".") for m in _imports(path)), (
            f"{importer} no longer imports {imported}: remove the exception")


def test_shipped_code_imports_no_tests_or_benchmarks():
    assert _violations(PACKAGES, ("tests", "bench")) == []


def test_tests_import_nothing_from_bench():
    problems = [f"{_name(p)} imports {m}" for p in sorted((ROOT / "tests").rglob("*.py"))
                for m in _imports(p) if _top(m) == "bench"]
    assert problems == []


def test_the_walker_sees_imports_inside_functions():
    # A guard on the guard: a lazy import (pipelines/recipe.py reads the registry inside a validator) is seen.
    assert any(m.startswith("pipelines.registry.") for m in _imports(ROOT / "pipelines" / "recipe.py"))
