"""The layers only look down, files import in a tree (no cycles), and functions stay short.

Layers (PLAN.md, issue #12), assigned by module path:

0. core: flat modules of ``aesthetic`` (file I/O, the shared-folder locator, image decoding,
   labelled data, metrics, the feature store, progress, degradations);
1. capabilities: ``feature_extraction``, ``genetic_selection``, ``classifier``;
2. products: ``bundles``, ``culling``, ``explain``, ``benchmarks`` (reports and speed suite);
3. the command line: ``aesthetic.cli``, ``aesthetic.cli_utils``, ``aesthetic.demo``, every
   ``*.cli`` module and every ``__main__``.

A module may import its own layer or any below. Every import of a project module counts,
including one inside a function: such an import is how a cycle hides, so it is checked like
any other. Imports of third-party packages inside functions (TensorFlow, Keras, Ray, SHAP,
LIME, scikit-learn, matplotlib) are allowed and common: they keep ``aesthetic --help`` and
light commands from paying for heavy libraries they never use.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Package name -> folder, as pyproject's [tool.setuptools.package-dir] maps them.
ROOTS = {
    "aesthetic": REPO / "src" / "aesthetic",
    "aesthetic.feature_extraction": REPO / "feature_extraction",
    "aesthetic.genetic_selection": REPO / "genetic_selection",
    "aesthetic.explain": REPO / "explain",
    "aesthetic.benchmarks": REPO / "benchmarks",
}
CORE, CAPABILITY, PRODUCT, CLI = 0, 1, 2, 3
LAYER_NAMES = {CORE: "core", CAPABILITY: "capability", PRODUCT: "product", CLI: "CLI"}

#: Package prefixes of layers 1 and 2 (a module under one belongs to that layer).
PACKAGES = {
    "aesthetic.feature_extraction": CAPABILITY,
    "aesthetic.genetic_selection": CAPABILITY,
    "aesthetic.classifier": CAPABILITY,
    "aesthetic.bundles": PRODUCT,
    "aesthetic.culling": PRODUCT,
    "aesthetic.explain": PRODUCT,
    "aesthetic.benchmarks": PRODUCT,
}
#: Flat modules of ``aesthetic`` outside the core.
FLAT = {
    "aesthetic.cli": CLI, "aesthetic.cli_utils": CLI, "aesthetic.demo": CLI, "aesthetic.__main__": CLI,
    "aesthetic.__init__": CORE,
}
#: Code folders whose functions must stay under MAX_FUNCTION_LINES.
MAX_FUNCTION_LINES = 100


def _module_files() -> dict[str, Path]:
    out = {}
    for package, root in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts]
            if any(p.startswith(".") for p in parts) or "results" in parts:
                continue
            name = ".".join([package, *parts])
            if name.endswith(".__init__"):
                name = name[: -len(".__init__")]
            out[name] = path
    return out


MODULES = _module_files()


def layer_of(module: str) -> int:
    leaf = module.rsplit(".", 1)[-1]
    if leaf in ("cli", "__main__"):
        return CLI
    if module in FLAT:
        return FLAT[module]
    for prefix, layer in sorted(PACKAGES.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    if module == "aesthetic" or module.count(".") == 1:
        return CORE
    raise AssertionError(f"{module}: no layer assigned; add it to PACKAGES or FLAT in {__file__}")


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _project_target(name: str) -> str | None:
    """The project module file ``name`` refers to (a module, or a name inside one), or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking_block(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def project_imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import in ``module``'s file."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking_block(child):
                continue  # annotations only: never executed, so neither a dependency at run time nor a cycle
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(module, child)
                names = [f"{base}.{a.name}" for a in child.names] + [base]
            for name in names:
                target = _project_target(name)
                if target is not None and target != module:
                    found.append((target, child.lineno, in_function))
            visit(child, inside)

    visit(tree, False)
    # keep one entry per (target, line): `from pkg import mod` names both pkg and pkg.mod
    seen, out = set(), []
    for target, line, inside in found:
        if (line, target) in seen:
            continue
        seen.add((line, target))
        out.append((target, line, inside))
    return out


def _drop_package_parents(imports: list[tuple[str, int, bool]]) -> list[tuple[str, int, bool]]:
    """``from aesthetic.x import y`` (y a module) also names the package ``aesthetic.x``; an import
    of a package's ``__init__`` that the same statement resolves to a submodule is not an edge."""
    by_line: dict[int, set[str]] = {}
    for target, line, _ in imports:
        by_line.setdefault(line, set()).add(target)
    return [(t, line, inside) for t, line, inside in imports
            if not any(other.startswith(t + ".") for other in by_line[line])]


GRAPH = {m: _drop_package_parents(project_imports(m)) for m in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_from_a_layer_above_it():
    violations = []
    for module, imports in GRAPH.items():
        own = layer_of(module)
        for target, line, _ in imports:
            if layer_of(target) > own:
                violations.append(f"{MODULES[module].relative_to(REPO)}:{line} ({LAYER_NAMES[own]}) imports "
                                  f"{target} ({LAYER_NAMES[layer_of(target)]})")
    assert not violations, "imports from a layer above:\n" + "\n".join(violations)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in {t for t, _, _ in GRAPH[v]}:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            strongconnect(v)
    return out


def test_no_import_cycle_between_files():
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checks_see_function_level_imports(tmp_path):
    """The graph counts an import inside a function (else a cycle could hide there)."""
    inside = [(t, inside) for m in MODULES for t, _, inside in GRAPH[m] if inside]
    assert inside, "no function-level project import found at all: the parser is not looking inside functions"


def _long_functions() -> list[str]:
    out = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_no_function_over_100_lines():
    long = _long_functions()
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


@pytest.mark.parametrize("module, expected", [
    ("aesthetic.fileio", CORE), ("aesthetic.classifier.fc", CAPABILITY), ("aesthetic.bundles.model", PRODUCT),
    ("aesthetic.benchmarks.report.cli", CLI), ("aesthetic.demo", CLI), ("aesthetic.genetic_selection.ga", CAPABILITY),
])
def test_layers_are_assigned_by_path(module, expected):
    assert layer_of(module) == expected
