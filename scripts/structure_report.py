"""Structure figures of the code at a git revision: lines per package, long functions, import
cycles, `Any` and `type: ignore` counts.

    .venv/bin/python scripts/structure_report.py [REV] [--check]   # default: the working tree

--check exits 1 when the project's modules import each other in a cycle (the test command runs it).

Read straight from git (`git show REV:path`), so any two revisions can be compared without
checking them out.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

PACKAGES = (
    "reprogramming", "reprogram", "api", "worker", "services", "storage", "messaging", "db",
    "config", "migrations",
)  # fmt: skip
LONG = 60


def sources(rev: str | None) -> dict[str, str]:
    """Every Python file of the packages: path → text."""
    if rev is None:
        root = Path(__file__).resolve().parents[1]
        return {
            str(p.relative_to(root)): p.read_text()
            for package in PACKAGES
            for p in sorted((root / package).rglob("*.py"))
        }
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, *PACKAGES],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return {
        name: subprocess.run(
            ["git", "show", f"{rev}:{name}"], capture_output=True, text=True, check=True
        ).stdout
        for name in names
        if name.endswith(".py")
    }


def module_name(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.AST, module: str, known: set[str]) -> set[str]:
    """The project modules this module imports (at any depth in the file)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import submodule` imports the submodule; anything else, the module.
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> None:
    args = sys.argv[1:]
    check = "--check" in args  # fail (exit 1) on any import cycle: the test command runs this
    rev = next((a for a in args if not a.startswith("--")), None)
    files = sources(rev)
    known = {module_name(p) for p in files}
    lines: dict[str, int] = defaultdict(int)
    long_functions: list[tuple[int, str]] = []
    graph: dict[str, set[str]] = {}
    any_count = ignore_count = 0
    for path, text in files.items():
        lines[path.split("/")[0]] += len(text.splitlines())
        tree = ast.parse(text)
        module = module_name(path)
        graph[module] = imports(tree, module, known)
        any_count += len(re.findall(r"\bAny\b", text)) - len(re.findall(r"import.*\bAny\b", text))
        ignore_count += len(re.findall(r"type:\s*ignore", text))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > LONG:
                    long_functions.append((size, f"{path}:{node.name}"))
    print(f"revision: {rev or 'working tree'}")
    print("lines per package: " + ", ".join(f"{p} {lines[p]}" for p in PACKAGES if p in lines))
    print(f"functions over {LONG} lines: {len(long_functions)}")
    for size, name in sorted(long_functions, reverse=True):
        print(f"  {size:4d}  {name}")
    found = cycles(graph)
    print(f"import cycles: {len(found)}")
    for component in found:
        print("  " + " ↔ ".join(component))
    print(f"`Any` uses: {any_count}; `type: ignore`: {ignore_count}")
    if check and found:
        sys.exit("import cycles among the project's modules: break them (see above)")


if __name__ == "__main__":
    main()
