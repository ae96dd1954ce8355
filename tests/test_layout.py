"""The layout rules of issue #16, read from the source with ``ast`` (no imports, no JVM):

(a) no import cycles between modules, (b) no import from a higher layer (the table below),
(c) no private name of Hydra, MLflow, pyspark/py4j, Optuna or OmegaConf outside runner/compat/
    (an import of one, or ``x._name``/``getattr(x, "_name")`` where runner defines no ``_name``),
(d) a package ``__init__.py`` that re-exports names lists them in ``__all__``.

Every import counts: module level, inside functions (lazy) and under ``if TYPE_CHECKING``.
``from package import name`` is an edge to ``package.name`` when that is a module, else to
``package``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("runner", "hydra_plugins")

# A module may import only from its own layer or lower ones. The longest
# matching prefix gives a module's layer; a module none matches fails test_every_module_has_a_layer.
LAYERS: dict[str, int] = {
    "runner": 0,  # the package itself: its version
    "runner.errors": 0, "runner.console": 0, "runner.uris": 0, "runner.compat": 0,
    "runner.config.types": 0, "runner.context": 0,
    "runner.conf": 0, "runner.resources": 0,  # data folders shipped as packages
    "runner.compiled": 1,
    "runner.config": 2,
    "runner.spark": 3,
    "runner.data": 4,
    "runner.pipeline": 5, "runner.tracking": 5,
    "runner.serving": 6, "runner.train": 6,
    "runner.sweep": 7, "runner.predict": 7, "runner.reproduce": 7,
    "runner.cli": 8, "runner.__main__": 8, "hydra_plugins": 8,
}

PRIVATE_LIBS = frozenset({"hydra", "mlflow", "pyspark", "py4j", "optuna", "omegaconf"})
COMPAT = "runner.compat"



@dataclass
class Module:
    """One source file: its dotted name, path and parsed tree."""

    name: str
    path: Path
    tree: ast.Module
    is_package: bool = field(default=False)


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join(parts)
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            found[name] = Module(name, path, tree, is_package)
    return found


MODULES = _modules()


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module path of a ``from ... import`` (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    package = module.name.split(".")
    if not module.is_package:
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: Module) -> Iterator[tuple[str, list[str]]]:
    """(module path, names) for each import of the module, at any depth; names is empty for a
    plain ``import a.b``."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            yield _absolute(module, node), [alias.name for alias in node.names]


def _own(path: str) -> str | None:
    """The longest prefix of ``path`` that is one of our modules, if any."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _edges(module: Module) -> set[str]:
    targets: set[str] = set()
    for path, names in _imports(module):
        submodules = [f"{path}.{n}" for n in names if f"{path}.{n}" in MODULES]
        if submodules:
            targets.update(submodules)
        if len(submodules) < len(names) or not names:
            own = _own(path)
            if own:
                targets.add(own)
    targets.discard(module.name)
    return targets


GRAPH = {name: _edges(module) for name, module in MODULES.items()}


def _layer(name: str) -> int | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        layer = LAYERS.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    return None


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as one cycle path
    through it for the message."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(GRAPH.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return components


def _path_in(component: list[str]) -> str:
    """One cycle through the component, as ``a -> b -> a``."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    while True:
        following = sorted(t for t in GRAPH[path[-1]] if t in members)
        if start in following and len(path) > 1:
            return " -> ".join([*path, start])
        fresh = [t for t in following if t not in seen]
        if not fresh:
            return " -> ".join([*path, following[0]])
        path.append(fresh[0])
        seen.add(fresh[0])


def _own_names() -> set[str]:
    """Every name runner's own code defines (functions, classes, assignments, attributes it
    assigns, parameters, import aliases): ``x._name`` with such a name is runner's own."""
    names: set[str] = set()
    for module in MODULES.values():
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
    return names


OWN_NAMES = _own_names()


def _is_private(name: str) -> bool:
    """``_x``, but not a dunder nor Hydra's ``_target_``-style keys (its public API)."""
    return name.startswith("_") and not name.endswith("_")


def _other_modules(module: Module) -> set[str]:
    """Names bound to modules of libraries outside PRIVATE_LIBS (``import os``): ``os._exit``
    is the standard library's business, not this check's."""
    bound: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in PRIVATE_LIBS:
                    bound.add(alias.asname or alias.name.split(".")[0])
    return bound


def _private_uses(module: Module) -> set[str]:
    found: set[str] = set()
    for path, names in _imports(module):
        if path.split(".")[0] not in PRIVATE_LIBS:
            continue
        if any(_is_private(part) for part in path.split(".")):
            found.add(f"private import: {module.name} imports {path}")
        found.update(f"private import: {module.name} imports {n} from {path}"
                     for n in names if _is_private(n))
    others = _other_modules(module)
    for node in ast.walk(module.tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr)
                and node.attr not in OWN_NAMES
                and not (isinstance(node.value, ast.Name) and node.value.id in others)):
            found.add(f"private attribute: {module.name} uses .{node.attr}")
        name = _attribute_by_name(node)
        if name and _is_private(name) and name not in OWN_NAMES:
            found.add(f"private attribute: {module.name} uses .{name}")
    return found


def _attribute_by_name(node: ast.AST) -> str | None:
    """The attribute ``getattr``/``hasattr``/``setattr``/``delattr`` names with a constant."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr", "setattr", "delattr"}
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)):
        return node.args[1].value
    return None


def _violations() -> set[str]:
    found: set[str] = set()
    for component in _cycles():
        found.add(f"cycle among {', '.join(component)}")
    for name, targets in GRAPH.items():
        for target in targets:
            low, high = _layer(name), _layer(target)
            if low is not None and high is not None and high > low:
                found.add(f"upward import: {name} (L{low}) imports {target} (L{high})")
    for name, module in MODULES.items():
        if name != COMPAT and not name.startswith(COMPAT + "."):
            found.update(_private_uses(module))
    return found


def _found(kind: str) -> list[str]:
    return sorted(v for v in _violations() if v.startswith(kind))


def test_sources_found() -> None:
    assert {"runner.cli", "runner.compat.hydra", "hydra_plugins.runner_optuna_sweeper"} <= set(
        MODULES)


def test_every_module_has_a_layer() -> None:
    missing = sorted(name for name in MODULES if _layer(name) is None)
    assert not missing, f"add these modules to LAYERS in tests/test_layout.py: {missing}"


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(_path_in(c) for c in cycles)


def test_no_upward_imports() -> None:
    new = _found("upward import")
    assert not new, "imports from a higher layer (README, Architecture):\n" + "\n".join(new)


def test_private_names_only_in_compat() -> None:
    new = _found("private")
    assert not new, ("private names of " + ", ".join(sorted(PRIVATE_LIBS)) + " outside "
                     "runner/compat (give each a function in runner/compat/<library>.py):\n"
                     + "\n".join(new))


def _reexports(module: Module) -> set[str]:
    """Names a package ``__init__`` imports from runner's own modules at module level and
    does not use itself: what it re-exports."""
    imported: set[str] = set()
    for node in module.tree.body:
        if isinstance(node, ast.ImportFrom) and _own(_absolute(module, node)):
            imported.update(a.asname or a.name for a in node.names if a.name != "*")
    used = {n.id for n in ast.walk(module.tree) if isinstance(n, ast.Name)}
    return imported - used


def _declared_all(module: Module) -> set[str] | None:
    for node in module.tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            if isinstance(value, (ast.List, ast.Tuple)):
                return {e.value for e in value.elts if isinstance(e, ast.Constant)}
            return set()
    return None


@pytest.mark.parametrize("name", sorted(n for n, m in MODULES.items() if m.is_package))
def test_reexporting_packages_declare_all(name: str) -> None:
    module = MODULES[name]
    names = _reexports(module)
    if not names:
        return
    declared = _declared_all(module)
    assert declared is not None, f"{module.path}: re-exports {sorted(names)} without __all__"
    assert names <= declared, f"{module.path}: __all__ lacks {sorted(names - declared)}"


# Strings in runner's code shaped like dotted module paths that name no module: OmegaConf
# resolvers (config/names.py) and MLflow run tags
# MLflow tag names and OmegaConf resolver names shaped like module paths
NOT_MODULES = frozenset({"runner.data_name", "runner.experiment", "runner.model_name",
                         "runner.one_vs_rest", "runner.status", "runner.sweep_owner",
                         "runner.if_lab_data"})
DOTTED = re.compile(r"(?:runner|hydra_plugins|pyspark)(?:\.[A-Za-z_]\w*)+")
YAML_TARGET = re.compile(r"^\s*_target_:\s*['\"]?([\w.]+)['\"]?\s*$", re.MULTILINE)


def _source_of(module: str) -> Path | None:
    """A module's file (or a namespace package's folder) found without importing it: ours
    under ROOT, a library's under its top package's folder."""
    top, *rest = module.split(".")
    if top in SOURCES:
        base = ROOT / top
    else:
        spec = importlib.util.find_spec(top)  # a top-level name: imports nothing
        if spec is None or not spec.submodule_search_locations:
            return None
        base = Path(next(iter(spec.submodule_search_locations)))
    path = base.joinpath(*rest)
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return path if path.is_dir() and top in SOURCES else None


def _defines(path: Path, name: str) -> bool:
    """Whether a module file defines or imports ``name`` (class, function, assignment)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name) == name:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
    return False


def _resolves(dotted: str) -> bool:
    """Whether a dotted name is a module, or a name its module defines."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        path = _source_of(".".join(parts[:end]))
        if path is not None:
            rest = parts[end:]
            return not rest or (len(rest) == 1 and path.is_file() and _defines(path, rest[0]))
    return False


def _named_modules() -> dict[str, str]:
    """Dotted names written as strings: every ``_target_`` of runner/conf's YAML files and
    every string constant of the code shaped like one, each with where it is written."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "runner" / "conf").rglob("*.yaml")):
        for target in YAML_TARGET.findall(path.read_text(encoding="utf-8")):
            found.setdefault(target, str(path.relative_to(ROOT)))
    for module in MODULES.values():
        for node in ast.walk(module.tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and DOTTED.fullmatch(node.value) and node.value not in NOT_MODULES):
                found.setdefault(node.value, module.name)
    return found


def test_module_names_in_strings_exist() -> None:
    named = _named_modules()
    assert any(n.startswith("pyspark.ml.feature.") for n in named)  # the YAML was read
    assert "runner.sweep.SweepCallback" in named
    bad = sorted(f"{name} (in {where})" for name, where in named.items() if not _resolves(name))
    assert not bad, "strings naming no module or class:\n" + "\n".join(bad)


def test_the_compiled_scorer_names_its_own_modules() -> None:
    """The loader modules MLflow imports are modules of the scorer package a model carries."""
    import runner.compiled as compiled

    folder = ROOT / "runner" / "compiled"
    assert all((folder / f"{name}.py").is_file() for name in compiled.SCORER_MODULES)
    for loader in compiled.LOADER_MODULES:
        package, _, name = loader.rpartition(".")
        assert package in {compiled.SCORER_PACKAGE, "runner.compiled"}, loader
        assert name in compiled.SCORER_MODULES, loader
        assert _defines(folder / f"{name}.py", "_load_pyfunc"), loader


def test_lint_ignores_name_existing_files() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["ruff"]["lint"]["per-file-ignores"]
    stale = []
    for pattern in patterns:
        head, _, tail = pattern.partition("{")
        choices, _, rest = tail.partition("}")
        expanded = [head + c + rest for c in choices.split(",")] if tail else [pattern]
        stale += [p for p in expanded if not any(ROOT.glob(p))]
    assert not stale, f"pyproject.toml per-file-ignores name no file: {stale}"
