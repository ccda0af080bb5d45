"""Check server/'s shape: no import circle, no file over 400 lines, no function over 60.

Reads the sources with `ast` only (nothing is imported or run), so it needs no settings. Every
`import` counts, including those inside functions: a deferred import hides a circle, not removes it.
Exits 1 and names each circle or oversized piece; `make lint` runs it.

    python scripts/lint/import_cycles.py [ROOT]     # ROOT defaults to server/
"""

import ast
import sys
from pathlib import Path

MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
SKIPPED = ("migrations",)


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every Python file below `root` (the import root)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if any(part in SKIPPED for part in parts):
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(tree: ast.Module, module: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    """The project modules this module imports, resolved to the longest known name."""
    package = module if is_package else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from weather import tasks` names a module; `from weather.tasks import x` names a member.
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each a circle to break."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def function_lengths(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.end_lineno - node.lineno + 1, node.lineno, node.name


def main(root: Path) -> int:
    known = modules(root)
    graph, problems = {}, []
    longest_file = longest_function = (0, "")
    for name, path in known.items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        graph[name] = imported(tree, name, path.name == "__init__.py", known)
        lines = len(source.splitlines())
        if lines > MAX_FILE_LINES:
            problems.append(f"{path}: {lines} lines (at most {MAX_FILE_LINES})")
        longest_file = max(longest_file, (lines, str(path)))
        for length, lineno, function in function_lengths(tree):
            if length > MAX_FUNCTION_LINES:
                problems.append(
                    f"{path}:{lineno}: {function} is {length} lines (at most {MAX_FUNCTION_LINES})"
                )
            longest_function = max(longest_function, (length, f"{path}:{lineno} {function}"))
    circles = cycles(graph)
    problems += ["import circle: " + " <-> ".join(group) for group in circles]
    for problem in problems:
        print(problem)
    edges = sum(len(targets) for targets in graph.values())
    print(
        f"{len(known)} modules, {edges} imports, {len(circles)} circles; "
        f"longest file {longest_file[1]} ({longest_file[0]} lines), "
        f"longest function {longest_function[1]} ({longest_function[0]} lines)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "server")))
