"""The semantic model's shortcuts give what the slow, obvious computation gives, node for node."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from tapelint.semantic.positions import node_ranges
from tapelint.semantic.scopes import ScopeIndex
from tapelint.semantic.tree import _LAYOUT, TreeIndex

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "fixtures").rglob("*.py")) + sorted((ROOT / "tapelint" / "semantic").glob("*.py")) + \
    [ROOT / "tests" / "data" / "syntax" / "every_construct.py"]

ODD = {
    "crlf-and-cr": "x = 1\r\ny = '''a\r\nb'''\rz = [\r\n  1,\n  2]\n",
    "no-final-newline": "def f(a, *, b=lambda q: q):\n    return [a for a in b if a]",
    "tabs-and-continuations": "if x:\n\tw = 1 + \\\n\t    2  # c\n\tclass A(B, metaclass=M):\n\t\t@d\n\t\tdef g(self): ...\n",
    "comprehension-scopes": "r = [x for x in xs if (y := x)]\ns = {k: v for k, v in d.items()}\ng = (f(a) for a in b for c in a)\n",
}


def _modules():
    for path in SOURCES:
        yield path.name, cst.parse_module(path.read_bytes())
    for name, text in ODD.items():
        yield name, cst.parse_module(text)


@pytest.mark.parametrize(("name", "module"), list(_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_node_ranges_are_libcsts_positions(name, module):
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    got = node_ranges(module)
    assert set(got) == set(expected)
    for node, rng in expected.items():
        assert got[node] == ((rng.start.line, rng.start.column), (rng.end.line, rng.end.column)), (name, node)


@pytest.mark.parametrize(("name", "module"), list(_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_shared_scope_answers_are_those_of_the_walk(name, module):
    tree = TreeIndex(module)
    scopes = ScopeIndex(tree)
    # In reverse order too, so that answers are shared from the leaves up as well as from the top down.
    for nodes in (list(tree.order), list(reversed(tree.order))):
        fresh = ScopeIndex(tree)
        for node in nodes:
            assert fresh.scope_of(node).node is scopes._walk_to_scope(node).node, (name, type(node).__name__)


@pytest.mark.parametrize("name,module", list(_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_tree_parents_and_order_are_libcsts_children_but_layout(name, module):
    # Layout (whitespace, comments, punctuation) is left out of the index, and only layout.
    tree = TreeIndex(module)
    visited: list[cst.CSTNode] = []

    class Collect(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            visited.append(node)
            return True

    module.visit(Collect())
    meaningful = [n for n in visited if not isinstance(n, _LAYOUT)]
    assert sorted(tree.order, key=tree.order.__getitem__) == meaningful  # libcst's visiting order
    assert len(meaningful) < len(visited)
    for node in visited:
        for child in node.children:
            if isinstance(node, _LAYOUT) or isinstance(child, _LAYOUT):
                assert isinstance(child, _LAYOUT) and child not in tree.parent
            else:
                assert tree.parent[child] is node
                assert tree.order[node] < tree.order[child] <= tree.end[child] <= tree.end[node]


def test_the_garbage_collector_is_paused_while_a_file_is_analysed_and_restored_after():
    import gc

    from tapelint import linter, registry
    from tapelint.rules.base import Rule

    seen = []

    class Probe(Rule):
        code, name, summary, message = "TL997", "probe", "records the collector's state", "probe"
        triggers = ("GradientTape",)

        def check(self, model):
            seen.append(gc.isenabled())
            raise ValueError("after recording")

    source = "import tensorflow as tf\nwith tf.GradientTape() as t:\n    y = x * x\ng = t.gradient(y, x)\n"
    rules = [Probe] + list(registry.all_rules().values())
    assert gc.isenabled()
    assert [d.code for d in linter.lint_source(source, "x.py", rules)] == ["TL999"]
    assert seen == [False] and gc.isenabled()  # back on, though a rule raised
    gc.disable()
    try:  # a caller that turned it off keeps it off
        linter.lint_source(source, "x.py", rules)
        assert seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("name,module", list(_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_descendants_and_statements_are_those_of_the_obvious_walk(name, module):
    tree = TreeIndex(module)
    types = (cst.Name, cst.Call, cst.Assign, cst.FunctionDef)
    for node in tree.nodes(cst.FunctionDef, cst.ClassDef, cst.If, cst.Call, cst.Module):
        lo, hi = tree.order[node], tree.end[node]
        for chosen in (types[:1], types[1:2], types):
            obvious = sorted((n for t in chosen for n in tree.by_type.get(t, ()) if lo <= tree.order[n] <= hi),
                             key=tree.order.__getitem__)
            assert tree.descendants(node, *chosen) == obvious
    for node in tree.nodes(cst.Name, cst.Call):
        current = node
        while current is not None and not isinstance(current, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
            current = tree.parent.get(current)
        assert tree.statement_of(node) is (current if current is not None else node)
        expected = next((a for a in tree.ancestors(node) if isinstance(a, (cst.BaseCompoundStatement, cst.Lambda))), None)
        assert tree.enclosing(node, cst.BaseCompoundStatement, cst.Lambda) is expected


def test_the_lean_position_pass_runs_with_this_libcst_and_the_provider_takes_over_if_it_breaks(monkeypatch):
    from tapelint.semantic import positions

    module = cst.parse_module((ROOT / "tapelint" / "semantic" / "scopes.py").read_text())
    lean = positions.node_ranges(module)
    assert positions._PositionState is not None  # this libcst has the internals the lean pass uses
    reference = positions.provider_ranges(module)
    assert lean == reference

    def changed_protocol(self, value):  # as if a libcst release renamed what the state must provide
        raise AttributeError("add_token")

    monkeypatch.setattr(positions._PositionState, "add_token", changed_protocol)
    monkeypatch.setattr(positions, "provider_ranges", lambda m: {"fallback": True, **reference})
    assert positions.node_ranges(module) == {"fallback": True, **reference}
