"""The shape of `app/`: imports run one way, the domain never commits, and no import
hides inside a function without saying why.

Each check is a small function run on the real tree, and once on a made-up input
that breaks it, so a check that can no longer fail is noticed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"


# ---------------------------------------------------------------------- reading the tree


def module_name(path: Path, root: Path = ROOT) -> str:
    """`app/domain/outbox/claims.py` -> `app.domain.outbox.claims` (a package: its name)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: Path = APP, root: Path = ROOT) -> dict[str, Path]:
    """Every module under `package`, by dotted name."""
    return {module_name(path, root): path for path in sorted(package.rglob("*.py"))}


def _base(name: str, path: Path, level: int) -> str:
    """The package a relative import at `level` starts from."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def imports(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The modules of `known` that module `name` imports, anywhere in its body
    (functions included), relative imports resolved; `from pkg import mod` counts as
    importing `pkg.mod` when that is a module, else as importing `pkg`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                start = _base(name, path, node.level)
                base = f"{start}.{base}" if base else start
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # `import app.domain.outbox.claims` or a name inside a module: the module.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(package: Path = APP, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules (of `package`) it imports."""
    known = modules(package, root)
    return {name: imports(name, path, known) for name, path in known.items()}


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None when the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def commits(package: Path) -> Iterator[str]:
    """`file:line` of every `commit(` under `package`."""
    for path in sorted(package.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "commit(" in line:
                yield f"{path.relative_to(package.parent)}:{number}"


def unexplained_local_imports(path: Path) -> Iterator[str]:
    """`file:line` of each import inside a function with no comment saying why: on its
    line, or on the line above it (or above the block of imports it belongs to)."""
    source = path.read_text()
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source, str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import | ast.ImportFrom):
                if "#" in lines[inner.lineno - 1]:
                    continue
                above = inner.lineno - 2
                while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
                    above -= 1
                if above < 0 or not lines[above].strip().startswith("#"):
                    yield f"{path.relative_to(path.parent.parent)}:{inner.lineno}"


# ---------------------------------------------------------------------- the checks on app/


def test_imports_of_app_have_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_domain_never_commits():
    found = list(commits(APP / "domain"))
    assert not found, f"commit( under app/domain (jobs and routes commit): {found}"


def test_no_import_hides_in_a_function_without_a_reason():
    found = [hit for path in sorted(APP.rglob("*.py")) for hit in unexplained_local_imports(path)]
    assert not found, f"imports inside functions with no comment saying why: {found}"


#: What each layer must not import: the domain no task or web module, tasks no web module.
ABOVE = {
    "app.domain": re.compile(r"app\.(tasks|worker|cli|api|webhooks|staff|public)(\.|$)"),
    "app.tasks": re.compile(r"app\.(worker|cli|api|webhooks|staff|public)(\.|$)"),
}


def upward(graph: Mapping[str, set[str]]) -> list[str]:
    """`a -> b` for each import from a layer into one above it."""
    return [
        f"{name} -> {target}"
        for name, targets in sorted(graph.items())
        for target in sorted(targets)
        for layer, above in ABOVE.items()
        if (name == layer or name.startswith(layer + ".")) and above.match(target)
    ]


def test_layers_point_one_way():
    """routes, cli, worker -> tasks -> domain -> infrastructure."""
    found = upward(import_graph())
    assert not found, f"imports against the layers: {found}"


# ---------------------------------------------------------------------- the checks can fail


def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "pkg"


def test_the_cycle_finder_names_a_cycle_through_relative_and_local_imports(tmp_path):
    package = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from . import b\n",
            "pkg/b.py": "from .sub.c import thing\n",
            "pkg/sub/__init__.py": "",
            # The way back hides inside a function, two levels up.
            "pkg/sub/c.py": "def f():\n    from .. import a\n    return a\nthing = 1\n",
        },
    )
    graph = import_graph(package, tmp_path)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]


def test_the_cycle_finder_passes_a_tree_without_cycles(tmp_path):
    package = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "from .routes import bp\n",
            "pkg/routes.py": "from .domain import work\nbp = 1\n",
            "pkg/domain.py": "import pkg.infra\nwork = 1\n",
            "pkg/infra.py": "import os\n",
        },
    )
    graph = import_graph(package, tmp_path)
    assert graph["pkg.domain"] == {"pkg.infra"}
    assert find_cycle(graph) is None


def test_the_cycle_finder_sees_a_blueprint_package_importing_its_routes_back():
    """The Flask habit `bp` in __init__, `from . import routes` at its end, `from .
    import bp` in routes, is a cycle; app/ defines each bp in its routes module."""
    graph = {"web": {"web.routes"}, "web.routes": {"web"}}
    assert find_cycle(graph) == ["web", "web.routes", "web"]


def test_a_commit_in_the_domain_is_found(tmp_path):
    domain = tmp_path / "domain"
    domain.mkdir()
    (domain / "ok.py").write_text("db.session.flush()\n")
    (domain / "bad.py").write_text("def f():\n    db.session.commit()\n")
    assert list(commits(domain)) == ["domain/bad.py:2"]


def test_an_unexplained_import_in_a_function_is_found(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(
        "def quiet():\n"
        "    import json\n"
        "def explained():\n"
        "    # Only the command needs these; the web process never loads them.\n"
        "    import csv\n"
        "    from io import StringIO\n"
        "    import zlib  # heavy, and rarely used\n"
        "def after_code():\n"
        "    # A comment about x, not about the import.\n"
        "    x = 1\n"
        "    import json\n"
    )
    assert list(unexplained_local_imports(path)) == [
        f"{tmp_path.name}/mod.py:2",
        f"{tmp_path.name}/mod.py:11",
    ]


def test_an_import_against_the_layers_is_found():
    graph = import_graph()
    assert upward(graph) == []
    graph["app.domain.broadcasts"] = {*graph["app.domain.broadcasts"], "app.tasks.broadcasts"}
    graph["app.tasks.outbox"] = {*graph["app.tasks.outbox"], "app.api"}
    assert upward(graph) == [
        "app.domain.broadcasts -> app.tasks.broadcasts",
        "app.tasks.outbox -> app.api",
    ]
