"""The import rule of otrace_server (top of otrace_server/__init__.py, docs/ARCHITECTURE.md), checked.

Every module under otrace_server/ is parsed (``ast``, nothing is imported) and every import counts,
including imports inside functions, ``if TYPE_CHECKING:`` blocks and ``importlib.import_module("...")``
with a literal name. The rules:

- layers: a module imports only the layers its row of the table under "## Layers" in
  docs/ARCHITECTURE.md allows (that table is the single source of the edges); the package facade
  (``otrace_server/__init__.py``, ``__main__.py``) is the top: only "anything of ours" rows import
  names from it, except its metadata (``__version__``), which every layer may read;
  a module in no row of the table is a violation (add its row first);
- third-party code: core and shell import only the standard library (``sys.stdlib_module_names``);
  other layers import only the standard library and the runtime dependencies declared in
  pyproject.toml, unless the import is optional (inside ``try: ... except ImportError``);
- threads: no module of core or shell starts a thread (``Thread(``, ``Timer(``, a thread pool,
  ``asyncio.to_thread``, ``run_in_executor``, a ``Thread`` subclass, ``<thread>.start()``);
- loop crossing: only otrace_server/runtime.py names ``call_soon_threadsafe``, ``add_callback`` or
  ``run_coroutine_threadsafe`` (as attribute, name, imported name or string);
- no import cycle between modules of ours: in the graph of module -> module it imports (every import
  above counts, lazy ones included; ``from package import name`` is an edge to the module
  ``package.name`` when there is one, else to the package), a cycle is reported with its path.
  Importing ``a.b`` is an edge to ``a.b`` only (not to the package ``a``, which Python also runs
  first), and reading the package's metadata (``__version__``) is no edge, as for the layers.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "otrace_server"
FACADE = PACKAGE  # the layer name of otrace_server/__init__.py and __main__.py
ANY = frozenset({"*"})  # "imports: anything of ours"
STDLIB_ONLY_LAYERS = {"core", "shell"}
NO_THREAD_LAYERS = {"core", "shell"}
THREAD_STARTERS = {"Thread", "Timer", "ThreadPoolExecutor", "start_new_thread", "to_thread", "run_in_executor"}
CROSSING_NAMES = {"call_soon_threadsafe", "add_callback", "run_coroutine_threadsafe"}
CROSSING_MODULE = f"{PACKAGE}/runtime.py"


def parse_layer_table(markdown: str) -> dict[str, frozenset[str]]:
    """Return {layer: layers it may import} from the first code block after "## Layers".

    A row reads ``name(s)   description   (imports: a, b | stdlib only | anything of ours)``;
    names are ``core/``, ``runtime.py`` or several of them separated by commas.
    Raises ValueError when the section or its rows cannot be found.
    """
    section = re.search(r"^## Layers\s*\n```[^\n]*\n(.*?)^```", markdown, re.M | re.S)
    if not section:
        raise ValueError("docs/ARCHITECTURE.md has no '## Layers' code block")
    table: dict[str, frozenset[str]] = {}
    for row in section.group(1).splitlines():
        match = re.match(r"((?:[\w]+(?:/|\.py)?,\s*)*[\w]+(?:/|\.py)?)\s.*\(imports:\s*([^)]*)\)\s*$", row)
        if not match:
            raise ValueError(f"unreadable row in the layer table: {row!r}")
        names = [re.sub(r"(/|\.py)$", "", name.strip()) for name in match.group(1).split(",")]
        allowed = match.group(2).strip()
        if allowed == "anything of ours":
            edges = ANY
        elif allowed == "stdlib only":
            edges = frozenset()
        else:
            edges = frozenset(name.strip() for name in allowed.split(","))
        for name in names:
            table[name] = edges
    return table


def declared_imports(pyproject: str) -> set[str]:
    """Top-level import names provided by the runtime dependencies declared in pyproject.toml."""
    dists = {
        re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0].lower().replace("_", "-")
        for dep in tomllib.loads(pyproject)["project"]["dependencies"]
    }
    provided = {name.replace("-", "_") for name in dists}  # the usual case; also when not installed
    for top, owners in importlib.metadata.packages_distributions().items():
        if any(owner.lower().replace("_", "-") in dists for owner in owners):
            provided.add(top)
    return provided


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name, e.g. "otrace_server.core.engine" or "tornado.web"
    line: int
    optional: bool  # inside `try: ... except ImportError`
    names: tuple[str, ...] = ()  # `from module import names` (the names may be submodules)


def module_layer(relpath: str) -> str | None:
    """Layer name of a file path like "otrace_server/core/engine.py" (None: not a module of ours)."""
    parts = Path(relpath).with_suffix("").parts
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1 or parts[1] in ("__init__", "__main__"):
        return FACADE
    return parts[1]


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


class _ImportCollector(ast.NodeVisitor):
    """Collects every import of a module as absolute dotted names."""

    def __init__(self, relpath: str):
        dotted = list(Path(relpath).with_suffix("").parts)
        self.package = dotted[:-1]  # for a package's __init__.py: the package itself
        self.imports: list[Import] = []
        self._optional = 0

    def _add(self, module: str, node: ast.AST, names: tuple[str, ...] = ()) -> None:
        self.imports.append(Import(module, node.lineno, self._optional > 0, names))

    def visit_Try(self, node: ast.Try) -> None:
        optional = any(_catches_import_error(h) for h in node.handlers)
        self._optional += optional
        for stmt in node.body:
            self.visit(stmt)
        self._optional -= optional
        for stmt in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package[: len(self.package) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if module == PACKAGE:  # `from otrace_server import shell` names a layer; `import traceassert` the facade
            for alias in node.names:
                self._add(f"{PACKAGE}.{alias.name}", node)
        else:
            self._add(module, node, tuple(alias.name for alias in node.names))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._add(first.value, node)
        self.generic_visit(node)


def _imported_layer(module: str, table: dict[str, frozenset[str]]) -> str | None:
    """Layer of an absolute module name of ours; FACADE for the package or a name it exports;
    None for the package's metadata (``from otrace_server import __version__``), which any layer may read."""
    parts = module.split(".")
    if len(parts) == 1:
        return FACADE
    if parts[1] in table:
        return parts[1]
    return None if re.fullmatch(r"__\w+__", parts[1]) else FACADE


def _thread_violations(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in THREAD_STARTERS:
                found.append((node.lineno, f"starts a thread: {ast.unparse(func)}(...)"))
            elif name == "start" and isinstance(func, ast.Attribute):
                receiver = func.value
                if isinstance(receiver, ast.Call) or "thread" in ast.unparse(receiver).lower():
                    found.append((node.lineno, f"starts a thread: {ast.unparse(func)}()"))
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                if ast.unparse(base).split(".")[-1] in THREAD_STARTERS:
                    found.append((node.lineno, f"class {node.name} subclasses {ast.unparse(base)}"))
    return found


def _crossing_violations(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.ImportFrom):
            name = next((a.name for a in node.names if a.name in CROSSING_NAMES), None)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value
        if name in CROSSING_NAMES:
            found.append((node.lineno, f"crosses threads with {name} (only {CROSSING_MODULE} may)"))
    return found


def check_module(relpath: str, source: str, table: dict[str, frozenset[str]],
                 dependencies: set[str]) -> list[str]:
    """Return the import-rule violations of one module as "path:line: message" strings."""
    layer = module_layer(relpath)
    tree = ast.parse(source, relpath)
    problems: list[tuple[int, str]] = []
    if layer != FACADE and layer not in table:
        problems.append((1, f"layer {layer!r} is not in the layer table of docs/ARCHITECTURE.md"))
    allowed = ANY if layer == FACADE else table.get(layer, frozenset())
    collector = _ImportCollector(relpath)
    collector.visit(tree)
    for imp in collector.imports:
        top = imp.module.split(".")[0]
        if top == PACKAGE:
            target = _imported_layer(imp.module, table)
            if target not in (None, layer) and allowed is not ANY and target not in allowed:
                problems.append((imp.line, f"{layer} must not import {target} ({imp.module})"))
        elif top in sys.stdlib_module_names:
            continue
        elif layer in STDLIB_ONLY_LAYERS:
            problems.append((imp.line, f"{layer} imports only the standard library, not {imp.module}"))
        elif top not in dependencies and not imp.optional:
            problems.append((imp.line, f"{imp.module} is not a runtime dependency in pyproject.toml"))
    if layer in NO_THREAD_LAYERS:
        problems += _thread_violations(tree)
    if relpath != CROSSING_MODULE:
        problems += _crossing_violations(tree)
    return [f"{relpath}:{line}: {message}" for line, message in sorted(problems)]


def module_name(relpath: str) -> str:
    """Dotted name of a module file: "otrace_server/core/engine.py" -> "otrace_server.core.engine"
    (a package's __init__.py is the package)."""
    parts = Path(relpath).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """{module: modules of ours it imports} for ``sources`` ({relpath: source}), every import counted
    as ``_ImportCollector`` finds it (see the module doc for what makes an edge)."""
    modules = {module_name(relpath) for relpath in sources}

    def nearest(name: str) -> str | None:   # "pkg.mod.Class" -> "pkg.mod"; metadata and others: None
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for relpath, source in sources.items():
        collector = _ImportCollector(relpath)
        collector.visit(ast.parse(source, relpath))
        edges: set[str] = set()
        for imp in collector.imports:
            if imp.module.split(".")[0] != PACKAGE or re.search(r"\.__\w+__$", imp.module):
                continue
            submodules = [f"{imp.module}.{name}" for name in imp.names if f"{imp.module}.{name}" in modules]
            targets = submodules if submodules and len(submodules) == len(imp.names) else [*submodules, imp.module]
            edges.update(target for target in map(nearest, targets) if target is not None)
        edges.discard(module_name(relpath))
        graph[module_name(relpath)] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per group of modules that import each other (a strongly connected component),
    as a path ``[a, b, ..., a]`` starting at the group's first module in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(node: str) -> None:   # Tarjan's algorithm; our graph is far shallower than the recursion limit
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    cycles = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        queue = [start]
        while queue:   # breadth first, inside the group: the shortest way from start back to it
            node = queue.pop(0)
            for other in sorted(graph[node] & group):
                if other == start:
                    queue = []
                    cycles.append(paths[node] + [start])
                    break
                if other not in paths:
                    paths[other] = paths[node] + [other]
                    queue.append(other)
    return sorted(cycles)


@pytest.fixture(scope="module")
def table(repo_root) -> dict[str, frozenset[str]]:
    return parse_layer_table((repo_root / "docs" / "ARCHITECTURE.md").read_text())


@pytest.fixture(scope="module")
def dependencies(repo_root) -> set[str]:
    return declared_imports((repo_root / "pyproject.toml").read_text())


def test_every_module_follows_the_import_rule(repo_root, table, dependencies):
    modules = sorted((repo_root / PACKAGE).rglob("*.py"))
    assert any(path.parent.name == "core" for path in modules), "found no core modules to check"
    problems = []
    for path in modules:
        relpath = path.relative_to(repo_root).as_posix()
        problems += check_module(relpath, path.read_text(encoding="utf-8"), table, dependencies)
    assert not problems, "import rule violations:\n" + "\n".join(problems)


def test_no_import_cycles_between_modules(repo_root):
    sources = {path.relative_to(repo_root).as_posix(): path.read_text(encoding="utf-8")
               for path in sorted((repo_root / PACKAGE).rglob("*.py"))}
    graph = import_graph(sources)
    assert "otrace_server.core.context" in graph["otrace_server.core.tracer"], "found no imports to check"
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_layer_table_is_layered(table):
    """Edges only go down: core imports nothing of ours, and no two layers import each other."""
    assert table["core"] == frozenset(), "core must import only the standard library"
    assert table["shell"] == {"core"}
    for layer, edges in table.items():
        assert edges is ANY or edges <= set(table), f"{layer} names an unknown layer: {edges}"
        for other in edges - ANY:
            assert table[other] is not ANY and layer not in table[other], f"cycle: {layer} <-> {other}"


def test_declared_dependencies_are_import_names(dependencies):
    assert {"tornado", "pygls", "lsprotocol", "debugpy"} <= dependencies


SYNTHETIC_CORE = '''\
"""A core module that breaks every rule."""
import json
import tornado.web
from otrace_server.core import errors
from .. import shell
from ..runtime import Runtime
from otrace_server import traceassert
import threading

def later():
    from otrace_server.lsp import server
    importlib.import_module("otrace_server.web")
    threading.Thread(target=later).start()
    loop.call_soon_threadsafe(later)
    m = re.match("a", "a"); m.start()

class Worker(threading.Thread):
    pass
'''


def test_checker_reports_each_kind_of_violation(table, dependencies):
    problems = check_module("otrace_server/core/bad.py", SYNTHETIC_CORE, table, dependencies)
    assert problems == [
        "otrace_server/core/bad.py:3: core imports only the standard library, not tornado.web",
        "otrace_server/core/bad.py:5: core must not import shell (otrace_server.shell)",
        "otrace_server/core/bad.py:6: core must not import runtime (otrace_server.runtime)",
        "otrace_server/core/bad.py:7: core must not import otrace_server (otrace_server.traceassert)",
        "otrace_server/core/bad.py:11: core must not import lsp (otrace_server.lsp)",
        "otrace_server/core/bad.py:12: core must not import web (otrace_server.web)",
        "otrace_server/core/bad.py:13: starts a thread: threading.Thread(...)",
        "otrace_server/core/bad.py:13: starts a thread: threading.Thread(target=later).start()",
        f"otrace_server/core/bad.py:14: crosses threads with call_soon_threadsafe (only {CROSSING_MODULE} may)",
        "otrace_server/core/bad.py:17: class Worker subclasses threading.Thread",
    ]


def test_checker_accepts_allowed_edges(table, dependencies):
    source = (
        "import tornado.web\n"
        "from otrace_server.core.engine import get_engine\n"
        "from . import runtime\n"
        "from otrace_server import shell, __version__\n"
        "try:\n    import prompt_toolkit\nexcept ImportError:\n    prompt_toolkit = None\n"
        "def f(loop):\n    import pygls.server\n"
    )
    assert check_module("otrace_server/console/batch.py", source, table, dependencies) == []
    assert check_module("otrace_server/app.py", source + "import otrace_server.lsp\n", table, dependencies) == []


def test_checker_rejects_what_only_runtime_may_do(table, dependencies):
    source = "def post(loop, ioloop, f):\n    loop.call_soon_threadsafe(f)\n    ioloop.add_callback(f)\n"
    assert check_module(CROSSING_MODULE, source, table, dependencies) == []
    assert check_module("otrace_server/web/clients.py", source, table, dependencies) == [
        f"otrace_server/web/clients.py:2: crosses threads with call_soon_threadsafe (only {CROSSING_MODULE} may)",
        f"otrace_server/web/clients.py:3: crosses threads with add_callback (only {CROSSING_MODULE} may)",
    ]


def test_checker_rejects_unlisted_modules_and_undeclared_packages(table, dependencies):
    assert check_module("otrace_server/mystery.py", "import requests\n", table, dependencies) == [
        "otrace_server/mystery.py:1: layer 'mystery' is not in the layer table of docs/ARCHITECTURE.md",
        "otrace_server/mystery.py:1: requests is not a runtime dependency in pyproject.toml",
    ]


def test_shell_may_not_import_upwards_even_inside_functions(table, dependencies):
    source = "def f():\n    from ...runtime import Runtime\n    import otrace_server.console\n"
    assert check_module("otrace_server/shell/commands/ls.py", source, table, dependencies) == [
        "otrace_server/shell/commands/ls.py:2: shell must not import runtime (otrace_server.runtime)",
        "otrace_server/shell/commands/ls.py:3: shell must not import console (otrace_server.console)",
    ]


def test_relative_imports_resolve_from_a_package_init(table, dependencies):
    source = "from .engine import get_engine\nfrom ..shell import Shell\n"
    assert check_module("otrace_server/core/__init__.py", source, table, dependencies) == [
        "otrace_server/core/__init__.py:2: core must not import shell (otrace_server.shell)",
    ]


CYCLIC_SOURCES = {
    "otrace_server/__init__.py": "from otrace_server.shell import Shell\n__version__ = '1'\n",
    "otrace_server/shell/__init__.py": "from otrace_server.shell.shell import Shell\n",
    "otrace_server/shell/shell.py": ("from otrace_server import __version__\n"
                                     "from otrace_server.shell import vfs, paths\n"
                                     "def complete():\n    from .completion import complete\n"),
    "otrace_server/shell/completion.py": "import otrace_server.shell.vfs\n",
    "otrace_server/shell/vfs.py": ("from typing import TYPE_CHECKING\n"
                                   "if TYPE_CHECKING:\n    from otrace_server.shell.shell import Shell\n"),
    "otrace_server/shell/paths.py": "from otrace_server.shell.vfs import Dir\n",
    "otrace_server/web/registry.py": "def attach():\n    importlib.import_module('otrace_server.web.correlate')\n",
    "otrace_server/web/correlate.py": "from .registry import WebRegistry\n",
}


def test_checker_reports_each_import_cycle_with_its_path():
    graph = import_graph(CYCLIC_SOURCES)
    # a package's __init__ and the metadata read from the facade make no cycle; a submodule
    # imported by name from its package is an edge to the submodule
    assert graph["otrace_server.shell.shell"] == {"otrace_server.shell.vfs", "otrace_server.shell.paths",
                                                  "otrace_server.shell.completion"}
    assert import_cycles(graph) == [
        ["otrace_server.shell.completion", "otrace_server.shell.vfs", "otrace_server.shell.shell",
         "otrace_server.shell.completion"],
        ["otrace_server.web.correlate", "otrace_server.web.registry", "otrace_server.web.correlate"],
    ]
    acyclic = {**CYCLIC_SOURCES, "otrace_server/shell/vfs.py": "import typing\n",
               "otrace_server/web/correlate.py": "from otrace_server.web import names\n",
               "otrace_server/web/names.py": ""}
    assert import_cycles(import_graph(acyclic)) == []
