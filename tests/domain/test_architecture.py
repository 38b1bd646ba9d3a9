"""The import graph, read from the source with `ast` (nothing is imported, so nothing runs).

Two rules from ARCHITECTURE.md ("Imports flow one way"):

1. No cycle between the project's top-level packages (api, cli, core, services, store,
   delivery, activities, workflows, domain, and the `worker` module). An import inside a
   function counts like one at the top: a lazy import hides a cycle, it does not break it.

2. `workflows/` and `domain/` do no I/O, so a workflow replays the same way everywhere and
   a rule can be tested without a database. They may import the standard library's pure
   parts, pydantic, temporalio and each other (workflows -> domain), and nothing on the
   deny-list below:
   - the project's packages that do I/O: store, delivery, activities, api, services, core,
     cli, worker;
   - database and network clients and servers: sqlalchemy, alembic, asyncpg, aiosqlite,
     sqlite3, psycopg, redis, httpx, requests, urllib.request, http, fastapi, starlette,
     uvicorn;
   - the operating system: os, subprocess, socket, shutil, signal, tempfile, glob, io;
   - installed data read from disk at import or call time: chinese_calendar, holidays,
     importlib.metadata, importlib.resources;
   and they call no builtin `open(...)` and no file method of `pathlib.Path` (`read_text`,
   `write_bytes`, `.open()`, ...): the caller reads the file and hands over its text.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "api",
    "cli",
    "core",
    "services",
    "store",
    "delivery",
    "activities",
    "workflows",
    "domain",
    "console",
    "channels",
)
MODULES = ("worker",)
PURE = ("workflows", "domain")
DENIED = (
    "store", "delivery", "activities", "api", "services", "core", "cli", "worker", "console", "channels",
    "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "sqlite3", "psycopg", "redis", "httpx", "requests",
    "urllib.request", "http", "fastapi", "starlette", "uvicorn",
    "os", "subprocess", "socket", "shutil", "signal", "tempfile", "glob", "io",
    "chinese_calendar", "holidays", "importlib.metadata", "importlib.resources",
)  # fmt: skip
# Methods that reach the disk, by name: `pathlib.Path`'s (an import of Path alone is pure, a path
# is a value) and a file object's `.open()`. No pure code of ours names a method so.
FILE_METHODS = frozenset({"open", "read_text", "read_bytes", "write_text", "write_bytes", "touch", "unlink", "mkdir"})


# What each unit may import of the others, from ARCHITECTURE.md ("Imports flow one way"): api and
# cli use services, services use store and the Temporal client (core), activities use store,
# delivery and domain, workflows use domain only. A new arrow is a decision: add it here.
ALLOWED = {
    "domain": set(),
    "workflows": {"domain"},
    "store": {"domain"},
    "delivery": {"core", "domain", "store"},  # the outbox dispatcher reads the outbox table
    "activities": {"core", "delivery", "domain", "store"},  # core: the case counters (core/metrics.py)
    "core": {"domain", "workflows"},  # the Temporal setup schedules the retention workflow
    "services": {"core", "domain", "store", "workflows"},  # workflows: the case's queries and updates by name
    # console: the API mounts the web console (api/app.py); the console never imports the API back.
    "api": {"channels", "console", "core", "domain", "services", "store", "workflows"},
    # The web console: pages over the same services the API uses (the access matrix, the claims);
    # workflows: the case's updates by name (console/actions.py), as the API's routes name them.
    "console": {"core", "domain", "services", "store", "workflows"},
    # Marketplace adapters: verify and read a platform's messages, call its API; the Taobao
    # consumer feeds the intake service.
    "channels": {"core", "domain", "services", "store"},
    # `dev` runs the API and the worker, and prints the console's sign-in links.
    "cli": {"api", "console", "core", "domain", "services", "store", "worker"},
    # services: the customer page's signed links (services/customer_links.py) in customer messages.
    "worker": {"activities", "channels", "core", "delivery", "domain", "services", "store", "workflows"},
}


def _sources(root: Path = ROOT) -> dict[str, list[Path]]:
    """Top-level unit -> its source files (migrations are data for Alembic, not imported)."""
    found = {name: sorted(p for p in (root / name).rglob("*.py") if "migrations" not in p.parts) for name in PACKAGES}
    found.update({name: [root / f"{name}.py"] for name in MODULES})
    return {name: files for name, files in found.items() if files and files[0].exists()}


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every absolute module name the file imports, with its line."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.module, node.lineno))
            names += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative: stays inside its own package
            continue
    return names


def _package_graph(root: Path) -> dict[str, dict[str, str]]:
    """unit -> {unit it imports: one place that does, as "file:line"}."""
    sources = _sources(root)
    graph: dict[str, dict[str, str]] = defaultdict(dict)
    for unit, files in sources.items():
        for path in files:
            for name, line in _imports(path):
                target = name.split(".")[0]
                if target in sources and target != unit:
                    graph[unit].setdefault(target, f"{path.relative_to(root)}:{line}")
    return graph


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for target in graph.get(unit, {}):
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == unit:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for unit in sorted(graph):
        if unit not in index:
            visit(unit)
    return found


def _io_uses(root: Path) -> list[str]:
    """Each denied import or file call in workflows/ and domain/, as "file:line what"."""
    found = []
    for unit in PURE:
        for path in _sources(root).get(unit, []):
            where = path.relative_to(root)
            for name, line in _imports(path):
                if any(name == denied or name.startswith(denied + ".") for denied in DENIED):
                    found.append(f"{where}:{line} imports {name}")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                    found.append(f"{where}:{node.lineno} calls open()")
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    if node.func.attr in FILE_METHODS:
                        found.append(f"{where}:{node.lineno} calls .{node.func.attr}()")
    return sorted(set(found))


def _scan(root: Path) -> dict[str, object]:
    """Parse in a fresh interpreter: inside a long test run CPython 3.11's `ast.parse` can fail on a
    large file with "AST constructor recursion depth mismatch" (state other tests leave behind)."""
    done = subprocess.run(
        [sys.executable, __file__, str(root)], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout)


def package_graph(root: Path = ROOT) -> dict[str, dict[str, str]]:
    return _scan(root)["graph"]  # type: ignore[return-value]


def io_uses(root: Path = ROOT) -> list[str]:
    return _scan(root)["io"]  # type: ignore[return-value]


def test_no_cycle_between_packages() -> None:
    graph = package_graph()
    found = cycles(graph)
    detail = [
        " <-> ".join(component) + ": " + "; ".join(
            f"{a} -> {b} at {graph[a][b]}" for a in component for b in component if b in graph.get(a, {})
        )
        for component in found
    ]  # fmt: skip
    assert not found, "packages that import each other:\n" + "\n".join(detail)


def test_imports_flow_one_way() -> None:
    graph = package_graph()
    unexpected = [
        f"{unit} -> {target} at {where}"
        for unit, targets in sorted(graph.items())
        for target, where in sorted(targets.items())
        if target not in ALLOWED.get(unit, set())
    ]
    assert not unexpected, "imports against the flow (ARCHITECTURE.md):\n" + "\n".join(unexpected)


def test_workflows_and_domain_do_no_io() -> None:
    found = io_uses()
    assert found == [], "workflows/ and domain/ must stay free of I/O:\n" + "\n".join(found)


def test_the_checks_see_a_cycle_and_an_io_import(tmp_path: Path) -> None:
    """The checks above can fail: a made-up tree with both faults is caught."""
    for package, text in {
        "store": "from delivery.notify import Message\n",
        "delivery": "def later():\n    from store.outbox import OutboxStore\n",
        "domain": "import holidays\n\ndef rules():\n    return open('rules.toml').read()\n",
        "workflows": "from domain.rules import rules\n\ndef saved(path):\n    return path.read_text()\n",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "module.py").write_text(text)
    assert cycles(package_graph(tmp_path)) == [["delivery", "store"]]
    assert io_uses(tmp_path) == [
        "domain/module.py:1 imports holidays",
        "domain/module.py:4 calls open()",
        "workflows/module.py:4 calls .read_text()",
    ]


if __name__ == "__main__":  # what _scan runs: the graph and the I/O uses of the tree named, as JSON
    scanned = Path(sys.argv[1])
    print(json.dumps({"graph": _package_graph(scanned), "io": _io_uses(scanned)}))
