"""The custom-gradient facts of the partial text against the whole file's, on real trees.

    python bench/partial_facts.py TREE [TREE ...]

For every file that holds `custom_gradient`, the semantic model is built twice: from the whole file,
and from the text the partial analysis keeps for the custom-gradient rules (tapelint/partial.py, with
their ``callee_depth``). For each custom gradient the model finds, it compares what those rules read:
the forward function's name, inputs and returns, its gradient functions (parameters, `variables`,
returns), the variables it reads, and each call of it in the file (inside a `tf.function` or not,
which arguments are tensors, their kinds): findings compare equal on these trees whatever the
reduction keeps, as they hold almost none, and these facts are what a finding would come from. Prints
the files that differ and a count. (On TensorFlow's, Keras's and the third tree's sources the forward
functions are decorated and their gradient functions nested, so the depth itself is not put to the test
here: tests/test_partial.py does that, with a gradient function two references away.)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import libcst as cst

from tapelint.partial import reduce_source
from tapelint.semantic.model import SemanticModel
from tapelint.source import SourceError, read_source

_DEPTH = 2  # Rule.callee_depth of TL011-TL013 and TL019


def facts(module: cst.Module, rows: tuple[int, ...] = ()) -> list[tuple]:
    model = SemanticModel(module, rows=rows)
    index = model.custom_gradients
    out = []
    for cg in index:
        grads = tuple((getattr(getattr(g.node, "name", None), "value", "lambda"), len(g.positional), g.takes_variables,
                       g.has_variables_param, g.star_upstream, len(g.returns)) for g in cg.grad_functions)
        calls = tuple((model.in_tf_function(c), tuple(index.is_tensor(a.value) for a in c.args),
                       tuple(str(model.values.kind(a.value)) for a in c.args)) for c in index.calls(cg))
        out.append((cg.name, cg.is_method, len(cg.inputs), cg.variadic, cg.decorated, grads, cg.reads_variables,
                    tuple(map(str, cg.variable_keys)), index.inputs_may_be_structures(cg), calls, len(cg.pairs),
                    tuple(index.flat_count(p.output) for p in cg.pairs)))
    return out


def main(argv: list[str]) -> int:
    sys.setrecursionlimit(20_000)
    compared = differ = 0
    for root in argv:
        for path in sorted(Path(root).rglob("*.py")):
            try:
                source = read_source(path)
                tree = ast.parse(source)
            except (SourceError, SyntaxError, ValueError, RecursionError):
                continue
            if "custom_gradient" not in source:
                continue
            reduction, _ = reduce_source(source, ["custom_gradient"], tree, indirect_callers=False,
                                         named_methods=False, callee_depth=_DEPTH)
            if reduction is None:
                continue
            compared += 1
            whole = facts(cst.parse_module(source))
            partial = facts(cst.parse_module(reduction.text), reduction.rows)
            if whole != partial:
                differ += 1
                print(f"{path}\n  whole:   {whole}\n  partial: {partial}")
    print(f"{compared} files reduced, {differ} whose custom-gradient facts differ from the whole file's")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
