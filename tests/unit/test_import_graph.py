"""The import graph of both packages has no cycles (function-level imports count).

import-linter (``make lint``) checks the layer contracts; this test checks the one thing its
contracts do not: that no two modules import each other, directly or through others. Imports
made only for type checkers (``if TYPE_CHECKING:``) do not count, as they never run.
"""

from __future__ import annotations

from collections.abc import Iterator

import grimp
import pytest


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def imported(module: str) -> Iterator[str]:
        return iter(sorted(graph.find_modules_directly_imported_by(module)))

    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, imported(root))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, imported(child)))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("keybridge", "firmware_sim", exclude_type_checking_imports=True)


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert strongly_connected(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    made = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        made.add_module(name)
    made.add_import(importer="pkg.a", imported="pkg.b")
    made.add_import(importer="pkg.b", imported="pkg.c")
    made.add_import(importer="pkg.c", imported="pkg.a")
    assert strongly_connected(made) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_function_level_imports_count(graph: grimp.ImportGraph) -> None:
    # The serve runner imports its links inside functions (cold start); the graph must see them.
    assert "firmware_sim.links.pty" in graph.find_modules_directly_imported_by("firmware_sim.serve")
