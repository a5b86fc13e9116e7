"""The house a newcomer walks: no import cycle in the library, no module over 500 lines, the
workflow's planning in the library and common.smk only Snakemake glue."""

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "src" / "sospine"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The library's modules `path` imports, anywhere in it (a function's own import counts too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module in modules and module != name}


def test_the_library_has_no_import_cycle():
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: imports(path, set(files)) for name, path in files.items()}
    done, cycles = set(), []

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append(trail[trail.index(name) :] + [name])
            return
        if name in done:
            return
        for other in sorted(graph[name]):
            visit(other, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert not cycles, cycles[:3]


def test_no_module_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long


def test_common_smk_is_snakemake_glue():
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    assert len(common.splitlines()) <= 215
    functions = [line.split("(")[0][4:] for line in common.splitlines() if line.startswith("def ")]
    input_functions = [name for name in functions if name not in ("fail", "take_output_lock", "give_back_output_lock")]
    helpers = {"external", "stamp_of", "loso_folds", "check_ready_for_report"}
    assert all(name.startswith("get_") for name in input_functions if name not in helpers), input_functions
