"""The limits the code keeps, checked in CI (scripts/test runs this before the tests): no module of the package
over MAX_LINES lines (migrations excepted) and no import cycle between its modules, imports made only for type
checking included. Each breach is one sentence naming the file or the cycle; the exit status is 1 if any.

    python scripts/check_limits.py [--root DIR] [--package NAME]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

MAX_LINES = 600
EXCEPTED = ("db/migrations",)  # generated Alembic revisions, left as they are


def long_modules(package_dir: Path, max_lines: int = MAX_LINES) -> list[str]:
    """One sentence per module over ``max_lines`` lines."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir).as_posix()
        if any(relative.startswith(prefix + "/") for prefix in EXCEPTED):
            continue
        with path.open("rb") as handle:
            lines = sum(1 for _line in handle)
        if lines > max_lines:
            found.append(f"{package_dir.name}/{relative} has {lines} lines, over the limit of {max_lines}: split "
                         "it along an idea.")
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Which modules of ``package`` each of its modules imports, type-checking imports included (grimp)."""
    import grimp

    sys.path.insert(0, str(root))
    try:
        graph = grimp.build_graph(package, exclude_type_checking_imports=False, cache_dir=None)
    finally:
        sys.path.remove(str(root))
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a loop (strongly connected components
    of two or more, and a module importing itself), each sorted, in name order. Iterative Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in graph:
                    continue
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        found.append(sorted(component))
    return sorted(found)


def cycle_sentences(graph: Mapping[str, Iterable[str]]) -> list[str]:
    return [f"Import cycle: {' ↔ '.join(component)} import each other (move what they share into a module both "
            "import, or type against a Protocol)." for component in cycles(graph)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the folder holding the package (default: this checkout)")
    parser.add_argument("--package", default="desktop")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    problems = long_modules(root / args.package) + cycle_sentences(import_graph(root, args.package))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
