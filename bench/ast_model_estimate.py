"""An estimate for the port of the semantic model to CPython's ``ast``: what the model's core costs on
the texts libcst parses in a cold run, on libcst and on ``ast``.

    python bench/ast_model_estimate.py [TREE ...] [--rounds 3]   # default: /tmp/tapelint-bench-trees

On libcst: the parse (``tapelint.linter.parse_unchecked``), the tree index and scopes of the real model
(``TreeIndex``, ``ScopeIndex``), and the whole ``SemanticModel``. On ``ast``: ``ast.parse`` and a
stand-in for the tree index and scopes (parents, pre-order and extents of every node; each name's
scope, its bindings and uses), which does less than the real model (no binding kinds, no reaching
definitions, no qualified names): a lower bound for the port, to weigh it, not a design. One process,
the cyclic collector off as in the linter; compare columns within a row.
"""

from __future__ import annotations

import argparse
import ast
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from libcst_checks import kept_texts  # noqa: E402

from tapelint.linter import parse_unchecked  # noqa: E402
from tapelint.semantic.model import SemanticModel  # noqa: E402
from tapelint.semantic.scopes import ScopeIndex  # noqa: E402
from tapelint.semantic.tree import TreeIndex  # noqa: E402

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)
_NOT_NODES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def ast_index(module: ast.Module) -> tuple[dict, dict, dict, dict]:
    """Parents, pre-order, extents and nodes by type, as ``TreeIndex`` keeps them."""
    parent: dict[int, ast.AST] = {}
    order: dict[int, int] = {}
    end: dict[int, int] = {}
    by_type: dict[type, list[ast.AST]] = {}
    counter = 0
    stack: list[tuple[ast.AST, bool]] = [(module, False)]
    while stack:
        node, done = stack.pop()
        if done:
            end[id(node)] = counter - 1
            continue
        order[id(node)] = counter
        counter += 1
        by_type.setdefault(type(node), []).append(node)
        stack.append((node, True))
        children: list[ast.AST] = []
        for _, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                if not isinstance(value, _NOT_NODES):
                    children.append(value)
            elif isinstance(value, list):
                children.extend(v for v in value if isinstance(v, ast.AST))
        for child in reversed(children):
            parent[id(child)] = node
            stack.append((child, False))
    return parent, order, end, by_type


def ast_scopes(module: ast.Module) -> tuple[dict, dict, dict]:
    """Each name's scope, and the bindings and uses of each name in each scope."""
    scope_of: dict[int, ast.AST] = {}
    bindings: dict[tuple[int, str], list[ast.Name]] = {}
    uses: dict[tuple[int, str], list[ast.Name]] = {}
    stack: list[tuple[ast.AST, ast.AST]] = [(module, module)]
    while stack:
        node, scope = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Name):
                scope_of[id(child)] = scope
                into = bindings if isinstance(child.ctx, ast.Store) else uses
                into.setdefault((id(scope), child.id), []).append(child)
            stack.append((child, child if isinstance(child, _SCOPES) else scope))
    return scope_of, bindings, uses


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", type=Path, default=[Path("/tmp/tapelint-bench-trees")])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| tree | lines | round | libcst parse | tree index + scopes | whole model | ast parse "
          "| stand-in index + scopes |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    gc.disable()
    for tree in args.trees:
        texts = kept_texts(tree)
        lines = sum(t.count("\n") + 1 for t in texts)
        for n in range(1, args.rounds + 1):
            start = time.perf_counter()
            modules = [parse_unchecked(t) for t in texts]
            parsed = time.perf_counter()
            for m in modules:
                ScopeIndex(TreeIndex(m))
            indexed = time.perf_counter()
            for m in modules:
                SemanticModel(m)
            modelled = time.perf_counter()
            trees = [ast.parse(t) for t in texts]
            ast_parsed = time.perf_counter()
            for t in trees:
                ast_index(t)
                ast_scopes(t)
            ast_indexed = time.perf_counter()
            print(f"| {tree} | {lines} | {n} | {parsed - start:.2f} | {indexed - parsed:.2f} | "
                  f"{modelled - indexed:.2f} | {ast_parsed - modelled:.2f} | {ast_indexed - ast_parsed:.2f} |")
            del modules, trees
            gc.collect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
