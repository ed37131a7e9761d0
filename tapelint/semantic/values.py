"""Where a value comes from, followed through assignments: a ``tf.Variable``, a plain tensor made by a
TensorFlow factory, a NumPy array, a Python number, a tape's gradient... or unknown.

Answers are certain or ``UNKNOWN``: a name is classified only when every binding that may reach it
agrees, so rules built on these answers stay silent where the code could go either way.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from tapelint.lazy_libcst import cst
from tapelint.semantic import names as N

if TYPE_CHECKING:
    from tapelint.semantic.model import SemanticModel


class Kind(enum.Enum):
    VARIABLE = "tf.Variable"
    TENSOR = "tensor"  # a plain tf.Tensor, not a variable
    NUMPY = "NumPy array"
    PYTHON_NUMBER = "Python number"
    GRADIENT = "gradient"
    VARIABLE_LIST = "list of variables"
    UNKNOWN = "unknown"


# Attributes of Keras models/layers that hold lists of variables.
VARIABLE_LIST_ATTRIBUTES = frozenset({
    "trainable_variables", "trainable_weights", "variables", "weights", "non_trainable_variables",
    "non_trainable_weights",
})
# Methods that create a variable on a layer or module.
VARIABLE_METHODS = N.VARIABLE_METHODS
# Names of TensorFlow namespaces whose functions return tensors.
_TENSOR_NAMESPACES = ("tensorflow.math.", "tensorflow.nn.", "tensorflow.linalg.", "tensorflow.random.",
                      "tensorflow.signal.", "tensorflow.image.", "tensorflow.sparse.")
_NOT_TENSOR = frozenset({
    N.GRADIENT_TAPE, N.VARIABLE, N.TF_FUNCTION, N.CUSTOM_GRADIENT, "tensorflow.device", "tensorflow.name_scope",
    "tensorflow.print", "tensorflow.shape", "tensorflow.TensorSpec", "tensorflow.Module", "tensorflow.data.Dataset",
    "tensorflow.py_function", "tensorflow.numpy_function", "tensorflow.map_fn", "tensorflow.vectorized_map",
    "tensorflow.while_loop", "tensorflow.cond", "tensorflow.switch_case", "tensorflow.recompute_grad",
    "tensorflow.nest.map_structure", "tensorflow.nest.flatten", "tensorflow.unstack", "tensorflow.split",
    "tensorflow.meshgrid", "tensorflow.unique", "tensorflow.gradients", "tensorflow.stop_gradient",
})
_MAX_DEPTH = 8
# Methods of a NumPy array that return a NumPy array.
_NUMPY_METHODS = frozenset({"astype", "reshape", "copy", "transpose", "squeeze", "flatten", "ravel", "clip",
                            "round"})


class ValueAnalysis:
    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self._cache: dict[cst.CSTNode, Kind] = {}
        self._self_variables: dict[cst.ClassDef, set[str]] = {}

    def kind(self, expr: cst.BaseExpression | None, _depth: int = 0) -> Kind:
        if expr is None or _depth > _MAX_DEPTH:
            return Kind.UNKNOWN
        cached = self._cache.get(expr)
        if cached is not None:
            return cached
        self._cache[expr] = Kind.UNKNOWN  # guards against cycles through loop-carried bindings
        result = self._kind(expr, _depth)
        self._cache[expr] = result
        return result

    def _kind(self, expr: cst.BaseExpression, depth: int) -> Kind:
        model = self.model
        if isinstance(expr, (cst.Integer, cst.Float)):
            return Kind.PYTHON_NUMBER
        if isinstance(expr, cst.UnaryOperation):
            return self.kind(expr.expression, depth + 1)
        if isinstance(expr, cst.Name):
            bindings = model.reaching(expr)
            if not bindings:
                return Kind.UNKNOWN
            kinds = {self.binding_kind(b, depth + 1) for b in bindings}
            return kinds.pop() if len(kinds) == 1 else Kind.UNKNOWN
        if isinstance(expr, cst.Call):
            return self._call_kind(expr, depth)
        if isinstance(expr, cst.BinaryOperation):
            left, right = self.kind(expr.left, depth + 1), self.kind(expr.right, depth + 1)
            kinds = {left, right}
            if kinds & {Kind.TENSOR, Kind.VARIABLE, Kind.GRADIENT} and not kinds & {Kind.UNKNOWN, Kind.NUMPY, Kind.VARIABLE_LIST}:
                return Kind.TENSOR
            if Kind.NUMPY in kinds and kinds <= {Kind.NUMPY, Kind.PYTHON_NUMBER}:
                return Kind.NUMPY
            if kinds == {Kind.PYTHON_NUMBER}:
                return Kind.PYTHON_NUMBER
            return Kind.UNKNOWN
        if isinstance(expr, cst.Attribute):
            if expr.attr.value in VARIABLE_LIST_ATTRIBUTES:
                return Kind.VARIABLE_LIST
            if self.is_self_variable(expr):
                return Kind.VARIABLE
        return Kind.UNKNOWN

    def binding_kind(self, binding, depth: int = 0) -> Kind:
        if binding.kind in ("assign", "annassign", "walrus"):
            return self.kind(binding.value, depth)
        if binding.kind == "augassign":
            # `w -= g` on a Variable name rebinds it to a tensor; on a tensor it stays a tensor.
            prev = self.kind(binding.statement.target, depth) if isinstance(binding.statement, cst.AugAssign) else Kind.UNKNOWN
            return Kind.TENSOR if prev in (Kind.VARIABLE, Kind.TENSOR) else Kind.UNKNOWN
        return Kind.UNKNOWN

    def _call_kind(self, call: cst.Call, depth: int) -> Kind:
        model = self.model
        qname = model.call_name(call)
        if qname is not None:
            if qname in N.VARIABLE_FACTORIES:
                return Kind.VARIABLE
            if qname.startswith(N.NUMPY_MODULES):
                return Kind.NUMPY
            if qname in N.PYTHON_SCALAR_BUILTINS:
                return Kind.PYTHON_NUMBER
            if qname.startswith("math."):
                return Kind.PYTHON_NUMBER
            if qname in _NOT_TENSOR:
                return Kind.UNKNOWN
            if qname in N.TENSOR_FACTORIES or qname.startswith(_TENSOR_NAMESPACES):
                return Kind.TENSOR
            if qname.startswith("tensorflow.") and qname.count(".") == 1 and qname[len("tensorflow."):][:1].islower():
                return Kind.TENSOR
            return Kind.UNKNOWN
        method = model.method_call(call)
        if method is not None:
            obj, name = method
            if name == "numpy" and not call.args:
                return Kind.NUMPY
            if name in _NUMPY_METHODS and self.kind(obj, depth + 1) is Kind.NUMPY:
                return Kind.NUMPY  # np.random.rand(3).astype("float32")
            if name in VARIABLE_METHODS:
                return Kind.VARIABLE
            if name in ("gradient", "jacobian", "batch_jacobian") and model.tapes.tape_of(obj) is not None:
                return Kind.GRADIENT
        return Kind.UNKNOWN

    # -- attributes of `self` -------------------------------------------------------------------------------
    def is_self_variable(self, expr: cst.CSTNode) -> bool:
        """``self.w`` where some method of the enclosing class binds ``self.w`` to a variable."""
        if not (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self"):
            return False
        cls = self._class_around(expr)
        return cls is not None and expr.attr.value in self.self_variables(cls)

    def _class_around(self, node: cst.CSTNode) -> cst.ClassDef | None:
        fn = self.model.function_of(node)
        while fn is not None:
            cls = self.model.class_of(fn)
            if cls is not None:
                return cls
            fn = self.model.function_of(fn)
        return None

    def self_variables(self, cls: cst.ClassDef) -> set[str]:
        """Attribute names that methods of ``cls`` bind to a variable (``self.w = tf.Variable(...)``,
        ``self.w = self.add_weight(...)``)."""
        if cls in self._self_variables:
            return self._self_variables[cls]
        out: set[str] = set()
        self._self_variables[cls] = out
        for assign in self.model.tree.descendants(cls, cst.Assign):
            for target in assign.targets:
                t = target.target
                if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                    if self.kind(assign.value) is Kind.VARIABLE:
                        out.add(t.attr.value)
        return out

    # -- results of operations ---------------------------------------------------------------------------------
    def is_tensor_result(self, expr: cst.BaseExpression | None) -> bool:
        """``expr`` certainly evaluates to a new tensor (never a variable): a TensorFlow op, or
        arithmetic with a variable, tensor or gradient operand (``w - lr * g``, ``0.9 * w + g``)."""
        if expr is None:
            return False
        if self.kind(expr) is Kind.TENSOR:
            return True
        if isinstance(expr, cst.BinaryOperation):
            return any(self.kind(leaf) in (Kind.VARIABLE, Kind.TENSOR, Kind.GRADIENT) for leaf in _operands(expr))
        if isinstance(expr, cst.UnaryOperation) and not isinstance(expr.operator, cst.Not):
            return self.kind(expr.expression) in (Kind.VARIABLE, Kind.TENSOR, Kind.GRADIENT) or \
                self.is_tensor_result(expr.expression)
        if isinstance(expr, cst.Call):
            qname = self.model.call_name(expr) or ""
            return qname.startswith("keras.ops.")
        return False

    def inspects_only(self, load: cst.CSTNode) -> bool:
        """``load`` (a read of a name or attribute) looks at the object without reading its value into an
        operation a tape could record: its truth as the test of an `assert`, `if`, `while` or conditional
        expression (`assert xs`, `if not x:`), an identity comparison (`x is None`), a metadata attribute
        (`x.shape`), or an argument of a builtin that inspects it (`len(xs)`, `isinstance(x, T)`)."""
        model = self.model
        parent = model.parent(load)
        if isinstance(parent, cst.Attribute) and parent.value is load:
            return parent.attr.value in N.NON_READING_ATTRIBUTES
        if isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not):
            load, parent = parent, model.parent(parent)
        if isinstance(parent, (cst.Assert, cst.If, cst.While, cst.IfExp)) and parent.test is load:
            return True
        if isinstance(parent, cst.ComparisonTarget):
            parent = model.parent(parent)
        if isinstance(parent, cst.Comparison):
            return all(isinstance(t.operator, (cst.Is, cst.IsNot)) for t in parent.comparisons)
        if isinstance(parent, cst.Arg) and parent.keyword is None and not parent.star:
            call = model.parent(parent)
            return isinstance(call, cst.Call) and model.call_name(call) in N.INSPECTING_BUILTINS
        return False

    # -- Keras classes -------------------------------------------------------------------------------------------
    def is_keras_class(self, cls: cst.ClassDef) -> bool:
        """``cls`` derives from a Keras class (``keras.layers.Layer``, ``tf.keras.Model``, a built-in
        layer...), directly or through classes defined in the same file."""
        return self._keras_base(cls, builtin_layer=False, seen=set())

    def derives_from_builtin_layer(self, cls: cst.ClassDef) -> bool:
        """``cls`` derives from a concrete built-in Keras layer (``keras.layers.Dense``...), not just from
        the ``Layer``/``Model`` base classes: it inherits that layer's weights (``kernel``, ``bias``...)."""
        return self._keras_base(cls, builtin_layer=True, seen=set())

    def _keras_base(self, cls: cst.ClassDef, builtin_layer: bool, seen: set) -> bool:
        if cls in seen:
            return False
        seen.add(cls)
        model = self.model
        for base in cls.bases:
            if base.keyword is not None or base.star:
                continue
            qname = model.qualified_name(base.value)
            if qname is not None:
                if builtin_layer:
                    if qname.startswith("keras.layers.") and qname not in _KERAS_BASES:
                        return True
                elif qname.startswith("keras."):
                    return True
                continue
            if isinstance(base.value, cst.Name):
                for b in model.bindings_of(base.value):
                    if b.kind == "class" and self._keras_base(b.definition, builtin_layer, seen):
                        return True
        return False

    def weight_attributes(self, cls: cst.ClassDef) -> set[str]:
        """Attribute names that methods of ``cls`` bind to ``self.add_weight(...)``/``add_variable``."""
        out: set[str] = set()
        for assign in self.model.tree.descendants(cls, cst.Assign):
            if not isinstance(assign.value, cst.Call):
                continue
            method = self.model.method_call(assign.value)
            if method is None or method[1] not in VARIABLE_METHODS:
                continue
            for target in assign.targets:
                t = target.target
                if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                    out.add(t.attr.value)
        return out

    def class_around(self, node: cst.CSTNode) -> cst.ClassDef | None:
        """The class whose method (or a function nested in one) holds ``node``."""
        return self._class_around(node)


_KERAS_BASES = frozenset({"keras.layers.Layer", "keras.layers.Wrapper", "keras.layers.InputSpec",
                          "keras.layers.AbstractRNNCell"})


def _operands(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The leaves of a tree of binary (and unary arithmetic) operations."""
    if isinstance(expr, cst.BinaryOperation):
        return _operands(expr.left) + _operands(expr.right)
    if isinstance(expr, cst.UnaryOperation) and not isinstance(expr.operator, cst.Not):
        return _operands(expr.expression)
    return [expr]
