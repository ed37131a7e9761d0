"""Every ``tf.GradientTape`` in a file: where it is made, where it records, and how it is used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tapelint.lazy_libcst import cst
from tapelint.semantic import names as N

if TYPE_CHECKING:
    from tapelint.semantic.scopes import Binding
    from tapelint.semantic.model import SemanticModel

USE_METHODS = frozenset({"gradient", "jacobian", "batch_jacobian", "watch", "reset", "stop_recording",
                         "watched_variables"})
DIFFERENTIATE = frozenset({"gradient", "jacobian", "batch_jacobian"})


@dataclass(eq=False)
class TapeUse:
    tape: "Tape"
    method: str  # gradient, jacobian, batch_jacobian, watch, reset, stop_recording, watched_variables, del
    node: cst.CSTNode  # the Call (or the Del statement)
    name: cst.Name  # the tape's name at this use
    # Loops around the use that do not also contain the tape's creation: the use repeats on one tape.
    repeating_loops: list[cst.CSTNode] = field(default_factory=list)

    @property
    def target(self) -> cst.BaseExpression | None:
        return _arg(self.node, 0, "target") if self.method in DIFFERENTIATE else None

    @property
    def sources(self) -> cst.BaseExpression | None:
        return _arg(self.node, 1, "sources") if self.method in DIFFERENTIATE else None

    @property
    def in_loop(self) -> bool:
        return bool(self.repeating_loops)


@dataclass(eq=False)
class Tape:
    create: cst.Call  # the tf.GradientTape(...) call
    binding: Binding | None  # the name it is bound to (None for an anonymous `with tf.GradientTape():`)
    persistent: bool | None  # None: not a literal
    watch_accessed_variables: bool | None
    withs: list[cst.With] = field(default_factory=list)  # with statements that enter it
    holes: list[cst.CSTNode] = field(default_factory=list)  # bodies of `with t.stop_recording():`
    uses: list[TapeUse] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        return self.binding.name if self.binding is not None else None

    @property
    def entered(self) -> bool:
        return bool(self.withs)

    def differentiations(self) -> list[TapeUse]:
        return [u for u in self.uses if u.method in DIFFERENTIATE]

    def uses_of(self, *methods: str) -> list[TapeUse]:
        return [u for u in self.uses if u.method in methods]


def _arg(call: cst.Call, position: int, keyword: str) -> cst.BaseExpression | None:
    from tapelint.semantic.model import SemanticModel

    return SemanticModel.argument(call, position, keyword)


class TapeIndex:
    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self.tapes: list[Tape] = []
        self._by_binding: dict[Binding, Tape] = {}
        self._find_tapes()
        self._find_uses()

    def __iter__(self):
        return iter(self.tapes)

    def __len__(self) -> int:
        return len(self.tapes)

    # -- construction -----------------------------------------------------------------------------------
    def _find_tapes(self) -> None:
        model = self.model
        for call in model.nodes(cst.Call):
            if model.call_name(call) != N.GRADIENT_TAPE:
                continue
            persistent_arg = model.argument(call, 0, "persistent")
            watch_arg = model.argument(call, 1, "watch_accessed_variables")
            persistent = False if persistent_arg is None else model.literal_bool(persistent_arg)
            watch = True if watch_arg is None else model.literal_bool(watch_arg)
            parent = model.parent(call)
            binding = None
            withs: list[cst.With] = []
            if isinstance(parent, cst.WithItem) and parent.item is call:
                with_node = model.parent(parent)
                withs.append(with_node)
                if parent.asname is not None and isinstance(parent.asname.name, cst.Name):
                    binding = self._binding_at(parent.asname.name)
            elif isinstance(parent, cst.Assign) and parent.value is call and len(parent.targets) == 1 \
                    and isinstance(parent.targets[0].target, cst.Name):
                binding = self._binding_at(parent.targets[0].target)
            else:
                continue  # passed along or returned: its uses cannot be followed here
            tape = Tape(call, binding, persistent, watch, withs)
            self.tapes.append(tape)
            if binding is not None:
                self._by_binding[binding] = tape

    def _binding_at(self, name: cst.Name) -> Binding | None:
        scope = self.model.scopes._name_scope.get(name)
        if scope is None:
            return None
        for b in scope.bindings.get(name.value, ()):
            if b.node is name:
                return b
        return None

    def tape_of(self, expr: cst.CSTNode | None) -> Tape | None:
        """The tape a name certainly refers to (every binding that may reach it is that tape)."""
        if not isinstance(expr, cst.Name):
            return None
        bindings = self.model.reaching(expr)
        if not bindings:
            return None
        tapes = {self._by_binding.get(b) for b in bindings}
        if len(tapes) == 1:
            return tapes.pop()
        return None

    def _find_uses(self) -> None:
        model = self.model
        if not self.tapes:
            return
        tape_names = {t.name for t in self.tapes if t.name}
        # `with t:` on a tape made by `t = tf.GradientTape()`
        for with_node in model.nodes(cst.With):
            for item in with_node.items:
                if isinstance(item.item, cst.Name) and item.item.value in tape_names:
                    tape = self.tape_of(item.item)
                    if tape is not None and with_node not in tape.withs:
                        tape.withs.append(with_node)
        for call in model.nodes(cst.Call):
            method = model.method_call(call)
            if method is None or method[1] not in USE_METHODS:
                continue
            obj, name = method
            if not (isinstance(obj, cst.Name) and obj.value in tape_names):
                continue
            tape = self.tape_of(obj)
            if tape is None:
                continue
            if name == "stop_recording":
                parent = model.parent(call)
                if isinstance(parent, cst.WithItem):
                    tape.holes.append(model.parent(parent).body)
            tape.uses.append(TapeUse(tape, name, call, obj, self._repeating_loops(tape, call)))
        for del_node in model.nodes(cst.Del):
            for name in model.tree.descendants(del_node, cst.Name):
                if name.value in tape_names:
                    # `del t` deletes the last tape bound to that name before it
                    candidates = [t for t in self.tapes if t.binding is not None and t.binding.name == name.value
                                  and t.binding.scope is model.scope_of(name) and model.before(t.create, del_node)]
                    if candidates:
                        tape = candidates[-1]
                        tape.uses.append(TapeUse(tape, "del", del_node, name, self._repeating_loops(tape, del_node)))
        for tape in self.tapes:
            tape.uses.sort(key=lambda u: model.tree.order[u.node])

    def _repeating_loops(self, tape: Tape, node: cst.CSTNode) -> list[cst.CSTNode]:
        model = self.model
        return [loop for loop in model.enclosing_loops(node) if not model.contains(loop, tape.create)]

    # -- recording ---------------------------------------------------------------------------------------------
    def records(self, tape: Tape, node: cst.CSTNode) -> bool | None:
        """Does ``node`` run while ``tape`` records? True/False when the code around tells it; None when
        ``node`` sits in another function than the tape's ``with`` (it runs whenever it is called)."""
        model = self.model
        for with_node in tape.withs:
            if model.contains(with_node.body, node):
                if any(model.contains(hole, node) for hole in tape.holes):
                    return False
                if model.function_of(node) is not model.function_of(with_node):
                    return None
                return True
        if tape.withs and all(model.function_of(node) is model.function_of(w) for w in tape.withs):
            return False
        if not tape.withs:
            return False
        return None

    def recording_tapes(self, node: cst.CSTNode) -> list[Tape]:
        return [t for t in self.tapes if self.records(t, node)]

    # -- where gradients go ------------------------------------------------------------------------------
    def use_at(self, call: cst.CSTNode) -> TapeUse | None:
        """The tape use whose node is ``call`` (a ``t.gradient(...)`` call of a known tape), if any."""
        if not hasattr(self, "_use_by_node"):
            self._use_by_node = {u.node: u for t in self.tapes for u in t.uses}
        return self._use_by_node.get(call)

    def gradient_origins(self, expr: cst.CSTNode | None, _depth: int = 0) -> list[TapeUse] | None:
        """The differentiations (``t.gradient``/``jacobian`` calls of known tapes) whose result ``expr``
        certainly holds, element for element: followed through names (every reaching binding must
        lead to one), ``g, _ = tf.clip_by_global_norm(g, n)``, ``[f(x) for x in g]`` (no filter),
        ``list(g)`` and ``optimizer.get_unscaled_gradients(g)``. None when any path is unknown."""
        model = self.model
        if expr is None or _depth > 8:
            return None
        if isinstance(expr, cst.Call):
            use = self.use_at(expr)
            if use is not None:
                return [use] if use.method in DIFFERENTIATE else None
            if model.call_name(expr) in ("builtins.list", "builtins.tuple") and len(expr.args) == 1:
                return self.gradient_origins(model.argument(expr, 0), _depth + 1)
            method = model.method_call(expr)
            if method is not None and method[1] == "get_unscaled_gradients":
                return self.gradient_origins(model.argument(expr, 0, "grads"), _depth + 1)
            return None
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            comp = expr.for_in
            if comp.inner_for_in is not None or comp.ifs or comp.asynchronous is not None \
                    or not isinstance(comp.target, cst.Name):
                return None
            return self.gradient_origins(comp.iter, _depth + 1)
        if not isinstance(expr, cst.Name):
            return None
        bindings = model.reaching(expr)
        if not bindings:
            return None
        out: list[TapeUse] = []
        for b in bindings:
            if b.kind not in ("assign", "annassign", "walrus"):
                return None
            if b.value is not None:
                found = self.gradient_origins(b.value, _depth + 1)
            else:
                found = self._clipped_origins(b, _depth)
            if found is None:
                return None
            out.extend(u for u in found if u not in out)
        return out

    def _clipped_origins(self, binding: Binding, depth: int) -> list[TapeUse] | None:
        """``grads, norm = tf.clip_by_global_norm(grads, 5.0)``: the first element keeps the gradients."""
        model = self.model
        stmt = binding.statement
        if not (isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, cst.Call)):
            return None
        target = stmt.targets[0].target
        if not (isinstance(target, (cst.Tuple, cst.List)) and target.elements
                and target.elements[0].value is binding.node):
            return None
        if model.call_name(stmt.value) != "tensorflow.clip_by_global_norm":
            return None
        return self.gradient_origins(model.argument(stmt.value, 0, "t_list"), depth + 1)

    # -- dataflow through a recording range --------------------------------------------------------------------
    def source_items(self, use: TapeUse) -> list[cst.BaseExpression] | None:
        """The individual sources of a ``gradient``/``jacobian`` call when they can be told: the
        expression itself (``w``, ``self.w``), the elements of a list/tuple literal (``[w, b]``), or the
        elements of the list literal a name is certainly bound to (``params = [w, b]``). None when the
        sources are not spelled out (``model.trainable_variables``, a function's result)."""
        sources = use.sources
        if sources is None:
            return None
        if isinstance(sources, cst.Name):
            bindings = self.model.reaching(sources)
            if bindings and all(b.kind == "assign" and isinstance(b.value, (cst.List, cst.Tuple)) for b in bindings) \
                    and len({id(b.value) for b in bindings}) == 1:
                sources = bindings[0].value
            else:
                return [sources]
        if isinstance(sources, cst.Attribute):
            return [sources]
        if isinstance(sources, (cst.List, cst.Tuple)):
            items = []
            for element in sources.elements:
                if isinstance(element, cst.StarredElement) or not isinstance(element.value, (cst.Name, cst.Attribute)):
                    return None
                items.append(element.value)
            return items
        return None

    def recorded_dependencies(self, tape: Tape, expr: cst.BaseExpression, limit: int = 200) -> list[Binding]:
        """Bindings made while ``tape`` records that the value of ``expr`` depends on, transitively
        (``loss = f(y)`` and ``y = model(x)`` for ``expr`` = ``loss``). Names bound outside the
        recording range end the walk."""
        model = self.model
        out: list[Binding] = []
        seen: set[int] = set()
        work: list[cst.BaseExpression] = [expr]
        while work and len(out) < limit:
            current = work.pop()
            for name in model.names_in(current):
                for b in model.reaching(name) or ():
                    if id(b) in seen or b.kind not in ("assign", "annassign", "augassign", "walrus"):
                        continue
                    seen.add(id(b))
                    if self.records(tape, b.node) is not True:
                        continue
                    out.append(b)
                    value = b.statement.value if b.kind == "augassign" else b.value
                    if value is None and b.kind == "assign":
                        value = b.statement.value  # unpacking an unknown value: depends on all of it
                    if value is not None:
                        work.append(value)
                    if b.kind == "augassign":
                        work.append(b.statement.target)
        return out
