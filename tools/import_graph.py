"""Folder-level import graph of the package, from the source alone (stdlib `ast`, nothing imported).

Prints the edges between the top-level folders (every project import counts, at module level, under
`if TYPE_CHECKING:` or inside a function), the folder cycles they make, and every project import
made inside a function. Reproduces the figures of issue 30 (bench/RESULTS.md):

    .venv/bin/python tools/import_graph.py
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The installed name of each folder (pyproject.toml's package-dir). "cowest" is the front door.
FOLDERS = ("cowest", "core", "graph", "nodes", "models", "storage", "tasks", "trainer")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts if parts[0] == "cowest" else ["cowest", *parts])


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FOLDERS[1:] else "cowest"


def _target(module: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The project modules an import statement names (empty for third-party imports)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "cowest"]
    if node.level == 0:
        return [node.module] if node.module and node.module.split(".")[0] == "cowest" else []
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return [".".join(base + ([node.module] if node.module else []))]


def _imports(path: Path):
    """(target module, where) for each project import: where is 'function', 'typing' or 'module'."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))

    def visit(node: ast.AST, where: str):
        for child in ast.iter_child_nodes(node):
            here = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                here = "function"
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test) and where == "module":
                here = "typing"
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _target(module, is_package, child):
                    yield target, here, child.lineno
            yield from visit(child, here)

    yield from visit(tree, "module")


def _files():
    for folder in FOLDERS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle, each listed once from its smallest folder name."""
    found = []

    def walk(start: str, node: str, path: list[str]):
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                found.append([*path, start])
            elif nxt > start and nxt not in path:
                walk(start, nxt, [*path, nxt])

    for start in sorted(edges):
        walk(start, start, [start])
    return found


def folder_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], dict[str, int]], list[str]]:
    """The folder edges, their import counts by where the import sits, and the imports made inside
    functions (file:line -> module)."""
    edges: dict[str, set[str]] = defaultdict(set)
    edge_count: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    in_function = []
    for path in _files():
        source = _folder(_module_name(path))
        for target, where, line in _imports(path):
            dest = _folder(target)
            if where == "function":
                in_function.append(f"{path.relative_to(ROOT)}:{line} -> {target}")
            if dest != source:
                edges[source].add(dest)
                edge_count[(source, dest)][where] += 1
    return edges, edge_count, in_function


def folder_cycles() -> list[list[str]]:
    return _cycles(folder_graph()[0])


def main() -> int:
    edges, edge_count, in_function = folder_graph()
    print("folder edges (imports: at module level / under TYPE_CHECKING / inside functions):")
    for (src, dst), kinds in sorted(edge_count.items()):
        print(f"  {src:8} -> {dst:8} {kinds['module']:3} / {kinds['typing']:2} / {kinds['function']:2}")
    cycles = _cycles(edges)
    print(f"folder cycles: {len(cycles)}")
    for cycle in cycles:
        print("  " + " -> ".join(cycle))
    print(f"project imports inside functions: {len(in_function)}")
    for line in in_function:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
