from __future__ import annotations

import ast
import bisect
import functools
import re

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen import WORD_END, Pattern, call_pattern, own_nodes_on

# Symbolic differentiation that only works while a graph is being built.
_GRADIENTS = frozenset({"gradients", "hessians"})
_GRADIENTS_CALL = call_pattern(*sorted(_GRADIENTS))
GRAPH_GRADIENTS = frozenset({
    "tensorflow.gradients", "tensorflow.compat.v1.gradients", "keras.backend.gradients",
    "tensorflow.hessians", "tensorflow.compat.v1.hessians",
})
# APIs that say the file builds TF1-style graphs (or turns eager execution off): the rule stays silent
# in such a file, as it cannot tell which code runs in a graph.
GRAPH_MODE_MARKERS = frozenset({
    "tensorflow.compat.v1.disable_eager_execution",
    "tensorflow.compat.v1.disable_v2_behavior", "tensorflow.disable_eager_execution",
    "tensorflow.disable_v2_behavior", "tensorflow.Session", "tensorflow.compat.v1.Session",
    "tensorflow.InteractiveSession", "tensorflow.compat.v1.InteractiveSession", "tensorflow.placeholder",
    "tensorflow.compat.v1.placeholder", "tensorflow.Graph", "tensorflow.compat.v1.Graph",
    "tensorflow.get_default_graph", "tensorflow.compat.v1.get_default_graph", "tensorflow.compat.v1.wrap_function",
    "tensorflow.estimator", "tensorflow.compat.v1.estimator", "keras.backend.function", "keras.backend.get_session",
    "keras.backend.placeholder", "keras.backend.set_session",
})
# Checks of the execution mode: code that asks is written for both modes (or guards the call).
MODE_CHECKS = frozenset({
    "tensorflow.executing_eagerly", "tensorflow.compat.v1.executing_eagerly", "tensorflow.inside_function",
    "tensorflow.compat.v1.executing_eagerly_outside_functions", "tensorflow.compat.v1.inside_function",
})


class TfGradientsInEager(Rule):
    """
    ## What it does
    Checks for `tf.gradients`, `tf.compat.v1.gradients`, `tf.hessians` and the Keras backend's
    `gradients` called where TensorFlow 2 runs eagerly: at the top level of a script or notebook, or in
    a function that is not a `tf.function` and is not called from one (or from a Keras model's methods)
    in the file.

    The rule stays silent in functions that check the mode (`tf.executing_eagerly()`), in files that
    build TF1-style graphs (`tf.compat.v1.disable_eager_execution()`,
    `tf.compat.v1.Session`, `tf.Graph().as_default()`, placeholders, `K.function`), in `tf.function`s
    and everything they call, in methods of classes with a base class (Keras runs `train_step` and
    `call` in a graph), and in functions passed somewhere as a value (`tf.keras.layers.Lambda(f)`,
    `dataset.map(f)`, `tf.compat.v1.wrap_function(f, ...)`), since those may be traced into a graph.

    ## Why is this bad?
    `tf.gradients` differentiates a graph symbolically. Under eager execution, the default in
    TensorFlow 2, there is no graph: the call raises `RuntimeError: tf.gradients is not supported when
    eager execution is enabled. Use tf.GradientTape instead.` (`tf.keras.backend.gradients` calls it;
    Keras 3 has no `keras.backend.gradients` at all).

    ## Example
    ```python
    import tensorflow as tf

    def saliency(model, images):
        images = tf.convert_to_tensor(images)
        scores = tf.reduce_max(model(images), axis=-1)
        return tf.gradients(scores, images)[0]  # expect: TL015

    model = tf.keras.applications.MobileNetV2()
    saliency_map = saliency(model, tf.random.uniform([1, 224, 224, 3]))
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    def saliency(model, images):
        images = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            tape.watch(images)
            scores = tf.reduce_max(model(images), axis=-1)
        return tape.gradient(scores, images)

    model = tf.keras.applications.MobileNetV2()
    saliency_map = saliency(model, tf.random.uniform([1, 224, 224, 3]))
    ```

    ## References
    - [tf.gradients](https://www.tensorflow.org/api_docs/python/tf/gradients)
    - [Introduction to gradients and automatic differentiation](https://www.tensorflow.org/guide/autodiff)
    """

    code = "TL015"
    name = "tf-gradients-in-eager"
    summary = "tf.gradients (or K.gradients) is called where TensorFlow 2 runs eagerly"
    message = (
        "`{func}` only works while a graph is built, but {where} runs eagerly in TensorFlow 2: it raises "
        "`RuntimeError: tf.gradients is not supported when eager execution is enabled`; record the "
        "computation on a `tf.GradientTape` and call `tape.gradient`, or run this code in a `tf.function`"
    )
    triggers = ("gradients", "hessians")
    needs_whole_module = True  # graph-mode markers and mode checks are looked for in the whole file

    valid = (
        Valid(
            """
import tensorflow as tf

@tf.function
def input_gradient(model, x):
    y = model(x)
    return tf.gradients(y, x)[0]
"""
        ),
        Valid(
            """
import tensorflow as tf

def gradient_penalty(critic, real, fake):
    alpha = tf.random.uniform([tf.shape(real)[0], 1, 1, 1])
    mixed = alpha * real + (1.0 - alpha) * fake
    grads = tf.gradients(critic(mixed), [mixed])[0]
    return tf.reduce_mean((tf.norm(tf.reshape(grads, [tf.shape(grads)[0], -1]), axis=1) - 1.0) ** 2)

class WGAN(tf.keras.Model):
    def train_step(self, real):
        fake = self.generator(tf.random.normal([tf.shape(real)[0], 128]))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(self.critic(fake)) - tf.reduce_mean(self.critic(real))
            loss += 10.0 * gradient_penalty(self.critic, real, fake)
        grads = tape.gradient(loss, self.critic.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        return {"loss": loss}
"""
        ),
        Valid(
            """
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior()

x = tf.placeholder(tf.float32, [None, 3])
y = tf.reduce_sum(x ** 2)
dy_dx = tf.gradients(y, x)
with tf.Session() as sess:
    print(sess.run(dy_dx, {x: [[1.0, 2.0, 3.0]]}))
"""
        ),
        Valid(
            """
import tensorflow as tf

def hvp(f, x, v):
    g = tf.gradients(f(x), x)[0]
    return tf.gradients(tf.reduce_sum(g * tf.stop_gradient(v)), x)[0]

compiled_hvp = tf.function(hvp)
layer = tf.keras.layers.Lambda(lambda t: tf.gradients(tf.reduce_sum(t ** 2), t)[0])
"""
        ),
        Valid(
            """
import tensorflow as tf

def jacobian_diagonal(ys, xs):
    if tf.executing_eagerly():
        raise RuntimeError("use a GradientTape in eager mode")
    return [tf.gradients(y, x)[0] for y, x in zip(ys, xs)]
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

x = tf.constant([1.0, 2.0, 3.0])
y = tf.reduce_sum(x ** 2)
dy_dx = tf.gradients(y, x)  # expect: TL015
hess = tf.hessians(y, x)  # expect: TL015
"""
        ),
        Invalid(
            """
import tensorflow as tf
from tensorflow.keras import backend as K

def grad_cam(model, image, layer_name):
    conv = model.get_layer(layer_name).output
    class_score = tf.reduce_max(model.output, axis=-1)
    return K.gradients(class_score, conv)[0]  # expect: TL015

def explain(model, images):
    return [grad_cam(model, im, "conv5_block3_out") for im in images]
"""
        ),
        Invalid(
            """
import tensorflow as tf

model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
opt = tf.keras.optimizers.SGD(0.01)

def train_step(x, y):
    loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tf.compat.v1.gradients(loss, model.trainable_variables)  # expect: TL015
    opt.apply_gradients(zip(grads, model.trainable_variables))

for step in range(100):
    train_step(tf.random.normal([8, 4]), tf.random.normal([8, 1]))
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        # A call of something named `gradients` or `hessians` that an import can make one of the graph
        # gradient functions, in a file without `with ....as_default():` (a graph-mode file, where the
        # rule is silent).
        if not _GRADIENTS_CALL.search(facts.text):
            return False
        for node in facts.withs_mentioning(("as_default",)):
            for item in node.items:
                e = item.context_expr
                if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "as_default":
                    return False
        if not facts.calls_to(_GRADIENTS, GRAPH_GRADIENTS, _GRADIENTS_CALL):
            return False
        # ... and one such call outside every function the rule counts as a graph whatever else it
        # finds: a decorated function, a method of a class with a base class, a lambda; and outside
        # the code that checks the execution mode (`_mode_checked`). Such a call spans a line where
        # `gradients`/`hessians` or an import alias of them is written.
        if _surely_graph_mode_file(facts):
            return False
        checked = _mode_checked_code(facts) if _MODE_CHECK_CALL.search(facts.text) else (set(), set())
        return _called_outside_graph_functions(
            facts, lambda call: facts.may_call(call, _GRADIENTS, GRAPH_GRADIENTS),
            facts.lines_calling(_GRADIENTS_CALL, _GRADIENTS), *checked)

    def check(self, model):
        calls = [c for c in model.nodes(cst.Call) if model.call_name(c) in GRAPH_GRADIENTS]
        if not calls or self._graph_mode_file(model):
            return
        graph = _GraphFunctions(model)
        mode_checks = [c for c in model.nodes(cst.Call) if model.call_name(c) in MODE_CHECKS]
        for call in calls:
            if _mode_checked(model, call, mode_checks):
                continue
            where = graph.eager_context(call)
            if where is not None:
                yield Finding(call, self.message.format(func=model.code(call.func), where=where))

    @staticmethod
    def _graph_mode_file(model) -> bool:
        for node in model.nodes(cst.Name, cst.Attribute):
            qname = model.qualified_name(node)
            if qname in GRAPH_MODE_MARKERS:
                return True
            if qname == "tensorflow.compat.v1" and isinstance(node, cst.Name):
                return True  # `import tensorflow.compat.v1 as tf`: TF1 code, usually run in graph mode
        for with_node in model.nodes(cst.With):
            for item in with_node.items:
                method = model.method_call(item.item)
                if method is not None and method[1] == "as_default":
                    return True
        return False


def _called_outside_graph_functions(facts, wanted, lines: list[int], checked_functions=frozenset(),
                                    checked_ifs=frozenset()) -> bool:
    """Some call ``wanted`` accepts lies in code that runs outside every decorated function, method of
    a class with a base class, function whose name the code uses other than to call it, and lambda
    (at the top level, in a class body, or in other functions): the rule's ``_GraphFunctions`` seeds,
    which hold every function nested in them too; and outside the functions and `if` statements
    (ids: ``checked_functions``, ``checked_ifs``) that check the execution mode (`_mode_checked_code`).
    ``lines``: sorted, every line such a call can span holds one of them (only the code spanning one
    is walked)."""
    around_calls: list[tuple[ast.AST, ...]] = []  # for each such call in plain functions: those functions
    # (node, inside a graph function or mode-checked code, the class whose body holds the node, the
    # functions around it that are graph functions only where the code names them other than to call
    # them, or a graph function calls them: `_InGraph`)
    todo: list[tuple[ast.AST, bool, ast.ClassDef | None, tuple[ast.AST, ...]]] = [
        (stmt, False, None, ()) for stmt in facts.tree.body]
    while todo:
        node, graph, cls, around = todo.pop()
        if id(node) in checked_ifs:
            graph = True  # (no call in it is reported: the same as inside a graph function)
        if _off_lines(node, lines):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo += [(part, graph, None, around) for part in _defined_around(node)]
            inner = graph or isinstance(node, ast.Lambda) or bool(node.decorator_list) or \
                (cls is not None and bool(cls.bases)) or id(node) in checked_functions
            inside = around if inner else (*around, node)
            body = [node.body] if isinstance(node, ast.Lambda) else node.body
            todo += [(part, inner, None, inside) for part in body]
        elif isinstance(node, ast.ClassDef):
            todo += [(part, graph, None, around) for part in (*node.decorator_list, *node.bases, *node.keywords)]
            todo += [(stmt, graph, node, around) for stmt in node.body]
        elif not graph and isinstance(node, ast.Call) and wanted(node):
            if not around:
                return True
            around_calls.append(around)
        else:
            todo += [(child, graph, cls, around) for child in ast.iter_child_nodes(node)]
    if not around_calls:
        return False
    in_graph = _InGraph(facts)
    return any(all(not in_graph(fn) for fn in functions) for functions in around_calls)


class _InGraph:
    """Whether the rule's ``_GraphFunctions.graph_functions`` surely holds a function: its seeds the
    screen can see (decorated functions, methods of a class with a base class, and functions of a name
    the code uses other than to call it: `_named_as_value`, never more than the rule's), and, as there,
    every function nested in one and every function of a name one calls (in its body, or in its own
    decorators, defaults and annotations), to a fixed point (TF Keras's `Optimizer.get_gradients`, a
    plain method that each optimizer's `get_updates` calls).

    Found backwards from the function asked about: to the functions around it and around every call of
    its name, until a seed. The calls and the uses of a name as a value are looked for on the lines
    where the name is written, not in the whole tree (``tests/test_screen.py`` compares the answers
    with the fixed point computed forwards over the whole tree)."""

    def __init__(self, facts) -> None:
        self.facts = facts
        self._answers: dict[int, bool] = {}
        self._valued: dict[str, bool] = {}
        self._callers: dict[str, list[ast.AST]] = {}

    def __call__(self, function: ast.AST) -> bool:
        known = self._answers.get(id(function))
        if known is not None:
            return known
        seen, todo, found = {id(function): function}, [function], False
        while todo and not found:
            fn = todo.pop()
            if self._answers.get(id(fn)) or self._seed(fn):
                found = True
                break
            for before in (*self._around(fn), *self._callers_of(fn.name)):
                if id(before) not in seen and self._answers.get(id(before)) is not False:
                    seen[id(before)] = before
                    todo.append(before)
        if found:
            self._answers[id(function)] = True
        else:  # (every function the search reached is no graph function either)
            self._answers.update((key, False) for key in seen)
        return found

    def _seed(self, fn) -> bool:
        scope = self.facts.scope_of(fn)
        return bool(fn.decorator_list) or (isinstance(scope, ast.ClassDef) and bool(scope.bases)) or \
            self._named_as_value(fn.name)

    def _around(self, stmt: ast.stmt) -> list[ast.AST]:
        """The functions around a statement (through classes), innermost first."""
        out = []
        scope = self.facts.scope_of(stmt)
        while isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if not isinstance(scope, ast.ClassDef):
                out.append(scope)
            scope = self.facts.scope_of(scope)
        return out

    def _callers_of(self, name: str) -> list[ast.AST]:
        """The functions whose `ast.walk` reaches a call of ``name`` (`name(...)`, `x.name(...)`): those
        around the statement whose own expressions hold it, and a definition whose own do."""
        known = self._callers.get(name)
        if known is not None:
            return known
        out: dict[int, ast.AST] = {}
        for line in sorted(call_pattern(name).lines(self.facts.text)):
            for stmt in self.facts.statements_covering(line):
                if any(isinstance(n, ast.Call) and _callee(n) == name for n in own_nodes_on(stmt, line)):
                    holders = self._around(stmt)
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        holders.append(stmt)
                    out.update((id(h), h) for h in holders)
        known = self._callers[name] = list(out.values())
        return known

    def _named_as_value(self, name: str) -> bool:
        """The code uses ``name`` other than as what a call calls (`return inner`, `dataset.map(fn)`,
        `obj.f` not called), where the rule's ``_GraphFunctions`` counts it too: a name or attribute so
        spelt that is neither a call's function nor (a name) the object of an attribute. The rule
        counts more (parameters, keywords, import aliases), never fewer."""
        known = self._valued.get(name)
        if known is None:
            nodes = self.facts.nodes_on_lines(Pattern((name,), WORD_END).lines(self.facts.text))
            called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
            objects = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}
            known = self._valued[name] = any(
                (isinstance(n, ast.Name) and n.id == name and id(n) not in objects or
                 isinstance(n, ast.Attribute) and n.attr == name) and id(n) not in called for n in nodes)
        return known


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


# The last parts of the graph-mode markers: a file that holds none of them (nor `v1`) as a word has no
# marker.
_MARKER_LAST_PARTS = frozenset(n.rsplit(".", 1)[-1] for n in GRAPH_MODE_MARKERS)
_MARKER_WORDS = re.compile(r"\b(?:" + "|".join(sorted(_MARKER_LAST_PARTS | {"v1"})) + r")\b")


def _surely_graph_mode_file(facts) -> bool:
    """`_graph_mode_file` holds for certain: a name or attribute of the code refers, wherever it is, to
    a graph-mode marker (`tf.compat.v1.disable_eager_execution`, `tf.Session`...), or a name to
    `tensorflow.compat.v1` (`import tensorflow.compat.v1 as tf`: TF1 code, as in TRFL), as the
    semantic model resolves them (`Facts.surely_refers_to`); the rule is then silent on the file.
    Such an attribute is written with a marker's last part, such a name is one an import binds to a
    marker or to `tensorflow.compat.v1`: only the code spanning a line that holds one is walked."""
    if not _MARKER_WORDS.search(facts.text):
        return False
    compat = frozenset({"tensorflow.compat.v1"})
    names = facts.names_imported_as(compat | GRAPH_MODE_MARKERS)
    lines = sorted(Pattern(tuple(sorted(_MARKER_LAST_PARTS | names)), WORD_END).lines(facts.text))
    todo: list[ast.AST] = list(facts.tree.body) if lines else []
    while todo:
        node = todo.pop()
        if _off_lines(node, lines):
            continue
        if isinstance(node, ast.Name):
            if node.id in names and (facts.surely_refers_to(node, compat) or
                                     facts.surely_refers_to(node, GRAPH_MODE_MARKERS)):
                return True
        elif isinstance(node, ast.Attribute) and node.attr in _MARKER_LAST_PARTS and \
                facts.surely_refers_to(node, GRAPH_MODE_MARKERS):
            return True
        todo += ast.iter_child_nodes(node)
    return False


def _off_lines(node: ast.AST, lines: list[int]) -> bool:
    """``node`` spans none of ``lines`` (sorted): nothing in it is walked. A definition spans its
    decorators' lines too (`@deco(tf.gradients(y, x))` above a `def`)."""
    first = getattr(node, "lineno", None)
    if first is None:
        return False
    first = min([first] + [d.lineno for d in getattr(node, "decorator_list", ())])
    i = bisect.bisect_left(lines, first)
    return i == len(lines) or lines[i] > node.end_lineno


def _defined_around(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[ast.expr]:
    """What a function's definition evaluates in the scope around it: decorators, defaults, annotations."""
    args = function.args
    outer = [*getattr(function, "decorator_list", ()), *args.defaults, *(d for d in args.kw_defaults if d),
             *(a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
               if a is not None and a.annotation is not None)]
    if getattr(function, "returns", None) is not None:
        outer.append(function.returns)
    return outer


_MODE_CHECK_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in MODE_CHECKS)
_MODE_CHECK_CALL = call_pattern(*sorted(_MODE_CHECK_NAMES))


def _mode_checked_code(facts) -> tuple[set[int], set[int]]:
    """The ids of the functions (defs and lambdas) and of the `if` statements that `_mode_checked`
    counts as checking the execution mode: the innermost function around a call the semantic model
    surely resolves to one of MODE_CHECKS (every call nested in it, at any depth, is then checked),
    and the `if` whose test holds one (so is everything in the `if`). Only the code spanning a line
    where such a name is written is walked."""
    lines = facts.lines_calling(_MODE_CHECK_CALL, _MODE_CHECK_NAMES)
    functions: set[int] = set()
    ifs: set[int] = set()
    # (node, the innermost function around it, the innermost statement around it)
    todo: list[tuple[ast.AST, ast.AST | None, ast.AST | None]] = [(stmt, None, stmt) for stmt in facts.tree.body]
    while todo:
        node, function, statement = todo.pop()
        if _off_lines(node, lines):
            continue
        if isinstance(node, ast.stmt):
            statement = node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo += [(part, function, statement) for part in _defined_around(node)]
            todo += [(part, node, statement) for part in ([node.body] if isinstance(node, ast.Lambda) else node.body)]
            continue
        if isinstance(node, ast.Call) and facts.surely_refers_to(node.func, MODE_CHECKS):
            if function is not None:
                functions.add(id(function))
            if isinstance(statement, ast.If):  # (in its test: a statement of its body is another)
                ifs.add(id(statement))
        todo += [(child, function, statement) for child in ast.iter_child_nodes(node)]
    return functions, ifs


def _mode_checked(model, node, checks) -> bool:
    """``node`` sits in a function that checks the execution mode (`if tf.executing_eagerly(): raise`),
    or in an `if` whose test does."""
    functions = set()
    fn = model.function_of(node)
    while fn is not None:
        functions.add(fn)
        fn = model.function_of(fn)
    for check in checks:
        if model.function_of(check) in functions:
            return True
        statement = model.statement_of(check)
        if isinstance(statement, cst.If) and model.contains(statement, node):
            return True
    return False


class _GraphFunctions:
    """Which functions of the file may run inside a graph: `tf.function`s, decorated functions, methods
    of derived classes, functions passed as values, and everything any of them calls by name."""

    def __init__(self, model) -> None:
        self.model = model

    def eager_context(self, node: cst.CSTNode) -> str | None:
        """How to name the eager code around ``node`` in a message, or None when it may be a graph."""
        model = self.model
        if model.in_tf_function(node):
            return None
        fn = model.function_of(node)
        if fn is None:
            return "top-level code"
        outer = fn
        while outer is not None:
            if outer in self.graph_functions or isinstance(outer, cst.Lambda):
                return None
            outer = model.function_of(outer)
        return f"`{fn.name.value}`, which is neither a `tf.function` nor called from one here,"

    @functools.cached_property
    def graph_functions(self) -> set[cst.CSTNode]:
        model = self.model
        functions = model.nodes(cst.FunctionDef)
        by_name: dict[str, list[cst.FunctionDef]] = {}
        for fn in functions:
            by_name.setdefault(fn.name.value, []).append(fn)
        seeds: set[cst.CSTNode] = set()
        for fn in functions:
            if fn.decorators or model.in_tf_function(fn.body):
                seeds.add(fn)
            cls = model.class_of(fn)
            if cls is not None and cls.bases:
                seeds.add(fn)
        # Functions referenced other than by a direct call: passed along, stored, wrapped.
        for node in model.nodes(cst.Name, cst.Attribute):
            name = node.value if isinstance(node, cst.Name) else node.attr.value
            if name not in by_name:
                continue
            parent = model.parent(node)
            if isinstance(parent, cst.Call) and parent.func is node:
                continue  # a direct call
            if isinstance(node, cst.Name) and isinstance(parent, (cst.FunctionDef, cst.Attribute)):
                continue  # the def's own name, the attribute name of `obj.f`, or `f.attr`
            seeds.update(by_name[name])
        # Everything a graph function calls by name runs in its graph too.
        graph: set[cst.CSTNode] = set()
        work = list(seeds)
        while work:
            fn = work.pop()
            if fn in graph:
                continue
            graph.add(fn)
            for call in model.tree.descendants(fn, cst.Call):
                func = call.func
                name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
                for callee in by_name.get(name, ()):
                    if callee not in graph:
                        work.append(callee)
            for inner in model.tree.descendants(fn, cst.FunctionDef):
                if inner not in graph:
                    work.append(inner)
        return graph
