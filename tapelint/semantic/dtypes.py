"""The dtype family of a value, where the code tells it: ``tf.constant(3)`` is an integer tensor,
``tf.range(5)`` too, ``tf.cast(x, tf.bool)`` a boolean one, ``tf.ones([2])`` a floating one.

Answers are certain or ``None``. Tensor families are ``"int"``, ``"bool"``, ``"float"``, ``"complex"``
and ``"string"``; Python literals get ``"py_int"``, ``"py_float"``, ``"py_bool"``, ``"py_complex"`` and
``"py_str"`` (TensorFlow turns them into int32, float32, bool, complex128 and string tensors), so that a
caller can tell a tensor from a plain Python value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from tapelint.semantic import names as N

if TYPE_CHECKING:
    from tapelint.semantic.model import SemanticModel

TENSOR_FAMILIES = frozenset({"int", "bool", "float", "complex", "string"})
_PY_TO_TENSOR = {"py_int": "int", "py_float": "float", "py_bool": "bool", "py_complex": "complex", "py_str": "string"}

# Last component of a dtype's name (tf.int32, np.float32, "int32", tf.dtypes.bool...) -> family.
_DTYPE_NAMES = {
    **{n: "int" for n in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "qint8",
                          "quint8", "qint16", "quint16", "qint32", "int_", "intc", "intp", "uint")},
    **{n: "float" for n in ("float16", "float32", "float64", "bfloat16", "half", "double", "float_",
                            "single", "float8_e4m3fn", "float8_e5m2")},
    **{n: "complex" for n in ("complex64", "complex128", "complex_")},
    "bool": "bool", "bool_": "bool", "string": "string",
}
_DTYPE_MODULES = ("tensorflow.", "numpy.", "keras.", "jax.numpy.")
_PY_TYPES = {"builtins.int": "int", "builtins.float": "float", "builtins.bool": "bool", "builtins.complex": "complex"}

_T = "tensorflow."
# Calls whose dtype is their `dtype` argument (position, default family when it is absent; None: the
# family of the value argument at position 0).
_DTYPE_ARG = {
    _T + "constant": (1, None), _T + "convert_to_tensor": (1, None), _T + "cast": (1, None),
    _T + "dtypes.cast": (1, None), _T + "saturate_cast": (1, None),
    _T + "ones": (1, "float"), _T + "zeros": (1, "float"), _T + "eye": (3, "float"),
    _T + "ones_like": (1, None), _T + "zeros_like": (1, None),
    _T + "random.normal": (3, "float"), _T + "random.uniform": (3, "float"),
    _T + "random.truncated_normal": (3, "float"), _T + "random.stateless_normal": (4, "float"),
    _T + "random.stateless_uniform": (4, "float"), _T + "random.gamma": (3, "float"),
    _T + "random.poisson": (2, "float"), _T + "linspace": (None, "float"),
    _T + "random.categorical": (2, "int"),
}
# Calls whose result is always an integer or a boolean tensor.
_INTEGER_RESULT = frozenset(_T + n for n in (
    "argmax", "argmin", "math.argmax", "math.argmin", "shape", "size", "rank", "searchsorted",
    "histogram_fixed_width",
))
_BOOL_RESULT = frozenset(_T + n for n in (
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
    "logical_not", "logical_xor", "math.equal", "math.not_equal", "math.greater", "math.greater_equal",
    "math.less", "math.less_equal", "math.logical_and", "math.logical_or", "math.logical_not",
    "math.logical_xor", "math.is_nan", "math.is_inf", "math.is_finite", "reduce_any", "reduce_all",
    "math.reduce_any", "math.reduce_all", "math.in_top_k",
))
# Calls whose result has the dtype of their first argument.
_SAME_AS_FIRST = frozenset(_T + n for n in (
    "identity", "reshape", "transpose", "squeeze", "expand_dims", "tile", "gather", "gather_nd", "reverse",
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "math.reduce_sum",
    "math.reduce_mean", "math.reduce_max", "math.reduce_min", "math.reduce_prod", "square", "abs",
    "negative", "math.square", "math.abs", "math.negative", "stop_gradient", "broadcast_to", "roll",
    "random.shuffle", "math.cumsum", "cumsum", "sort", "boolean_mask", "clip_by_value",
))
# Calls whose result has the dtype of the first element of their first (list) argument.
_SAME_AS_ELEMENTS = frozenset(_T + n for n in ("stack", "concat", "add_n", "math.add_n"))
_ARITHMETIC = (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide, cst.Modulo, cst.Power, cst.MatrixMultiply)
_BITWISE = (cst.BitAnd, cst.BitOr, cst.BitXor)
_MAX_DEPTH = 10


class DtypeAnalysis:
    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self._cache: dict[cst.CSTNode, str | None] = {}

    # -- public --------------------------------------------------------------------------------------------
    def family(self, expr: cst.BaseExpression | None) -> str | None:
        """The dtype family of ``expr``: a tensor family, a ``py_*`` family for Python literals, or None."""
        return self._family(expr, 0)

    def tensor_family(self, expr: cst.BaseExpression | None) -> str | None:
        """The dtype family of ``expr`` when it is certainly a tensor or variable, else None."""
        family = self.family(expr)
        return family if family in TENSOR_FAMILIES else None

    def dtype_family(self, expr: cst.BaseExpression | None) -> str | None:
        """The family a dtype expression names (``tf.int32``, ``"float32"``, ``np.bool_``, ``float``)."""
        if expr is None:
            return None
        if isinstance(expr, cst.SimpleString):
            return _DTYPE_NAMES.get(expr.evaluated_value) if isinstance(expr.evaluated_value, str) else None
        qname = self.model.qualified_name(expr)
        if qname is None:
            return None
        if qname in _PY_TYPES:
            return _PY_TYPES[qname]
        if qname.startswith(_DTYPE_MODULES):
            return _DTYPE_NAMES.get(qname.rsplit(".", 1)[-1])
        return None

    # -- inference -----------------------------------------------------------------------------------------
    def _family(self, expr: cst.BaseExpression | None, depth: int) -> str | None:
        if expr is None or depth > _MAX_DEPTH:
            return None
        if expr in self._cache:
            return self._cache[expr]
        self._cache[expr] = None  # cycles through loop-carried bindings
        result = self._infer(expr, depth)
        self._cache[expr] = result
        return result

    def _infer(self, expr: cst.BaseExpression, depth: int) -> str | None:
        model = self.model
        if isinstance(expr, cst.Integer):
            return "py_int"
        if isinstance(expr, cst.Float):
            return "py_float"
        if isinstance(expr, cst.Imaginary):
            return "py_complex"
        if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
            return "py_str"
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False"):
                return "py_bool"
            bindings = model.reaching(expr)
            if not bindings:
                return None
            families = set()
            for b in bindings:
                if b.kind in ("assign", "annassign", "walrus") and b.value is not None:
                    families.add(self._family(b.value, depth + 1))
                elif b.kind == "augassign" and isinstance(b.statement, cst.AugAssign):
                    stmt = b.statement
                    families.add(self._combine(stmt.operator, self._family(stmt.target, depth + 1),
                                               self._family(stmt.value, depth + 1)))
                else:
                    return None
            return families.pop() if len(families) == 1 else None
        if isinstance(expr, cst.UnaryOperation):
            inner = self._family(expr.expression, depth + 1)
            if isinstance(expr.operator, cst.Not):
                return "py_bool" if inner is not None and inner.startswith("py_") else None
            return inner if inner != "py_bool" else "py_int"
        if isinstance(expr, (cst.List, cst.Tuple)):
            return self._elements_family(expr, depth)
        if isinstance(expr, cst.Subscript):
            family = self._family(expr.value, depth + 1)
            return family if family in TENSOR_FAMILIES else None
        if isinstance(expr, cst.BinaryOperation):
            return self._combine(expr.operator, self._family(expr.left, depth + 1), self._family(expr.right, depth + 1))
        if isinstance(expr, cst.Comparison):
            families = [self._family(expr.left, depth + 1)] + [self._family(c.comparator, depth + 1)
                                                               for c in expr.comparisons]
            if any(f in TENSOR_FAMILIES for f in families) and all(
                    isinstance(c.operator, (cst.LessThan, cst.LessThanEqual, cst.GreaterThan, cst.GreaterThanEqual,
                                            cst.Equal, cst.NotEqual))
                    for c in expr.comparisons):
                return "bool"
            return None
        if isinstance(expr, cst.Call):
            return self._call(expr, depth)
        return None

    def _elements_family(self, expr: cst.List | cst.Tuple, depth: int) -> str | None:
        """A nested list of Python literals: int if all are ints, float if any is a float."""
        families = set()
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                return None
            families.add(self._family(element.value, depth + 1))
        if not families or None in families:
            return None
        if families <= {"py_int", "py_float", "py_bool"} and len(families) > 1:
            return "py_float" if "py_float" in families else None
        if len(families) == 1:
            family = families.pop()
            return family if family.startswith("py_") else None
        return None

    @staticmethod
    def _combine(operator: cst.CSTNode, left: str | None, right: str | None) -> str | None:
        if left is None or right is None:
            return None
        tensor = left in TENSOR_FAMILIES or right in TENSOR_FAMILIES
        lf, rf = _PY_TO_TENSOR.get(left, left), _PY_TO_TENSOR.get(right, right)
        if isinstance(operator, _BITWISE):
            if lf == rf == "bool":
                return "bool" if tensor else "py_bool"
            if lf == rf == "int":
                return "int" if tensor else "py_int"
            return None
        if isinstance(operator, cst.Divide):
            if {lf, rf} <= {"int", "float"}:
                return "float" if tensor else "py_float"
            return None
        if not isinstance(operator, _ARITHMETIC):
            return None
        if not tensor:
            if {lf, rf} <= {"int", "bool"}:
                return "py_int"
            if {lf, rf} <= {"int", "float", "bool"}:
                return "py_float"
            return None
        # A tensor with another tensor or a Python number: the tensor's dtype wins; two tensors of
        # different families fail at run time (no answer).
        tensor_families = {f for f in (left, right) if f in TENSOR_FAMILIES}
        if len(tensor_families) != 1:
            return None
        family = tensor_families.pop()
        other = rf if left in TENSOR_FAMILIES else lf
        if family == "int" and other == "float":
            return None  # TypeError at run time
        if family == "bool":
            return None
        return family

    def _call(self, call: cst.Call, depth: int) -> str | None:
        model = self.model
        qname = model.call_name(call)
        if qname is None:
            return None
        if qname in N.VARIABLE_FACTORIES:
            dtype = model.argument(call, None, "dtype")
            if dtype is not None:
                return self.dtype_family(dtype)
            if qname not in (N.VARIABLE, "tensorflow.compat.v1.Variable"):
                return None  # Keras variables default to floatx(), whatever the initial value
            return _as_tensor(self._family(model.argument(call, 0, "initial_value"), depth + 1))
        if qname == _T + "range":
            dtype = model.argument(call, 3, "dtype")
            if dtype is not None:
                return self.dtype_family(dtype)
            families = set()
            for position, keyword in ((0, "start"), (1, "limit"), (2, "delta")):
                arg = model.argument(call, position, keyword)
                if arg is not None:
                    families.add(_as_tensor(self._family(arg, depth + 1)))
            if families == {"int"}:
                return "int"
            if families and families <= {"int", "float"}:
                return "float"
            return None
        if qname == _T + "one_hot":
            dtype = model.argument(call, 5, "dtype")
            if dtype is not None:
                return self.dtype_family(dtype)
            on_off = [model.argument(call, 2, "on_value"), model.argument(call, 3, "off_value")]
            if any(v is not None for v in on_off):
                families = {_as_tensor(self._family(v, depth + 1)) for v in on_off if v is not None}
                return families.pop() if len(families) == 1 else None
            return "float"
        if qname in _DTYPE_ARG:
            position, default = _DTYPE_ARG[qname]
            dtype = model.argument(call, position, "dtype")
            if dtype is None and qname == _T + "convert_to_tensor":
                dtype = model.argument(call, None, "dtype_hint") or model.argument(call, None, "preferred_dtype")
            if dtype is not None:
                return self.dtype_family(dtype)
            if default is not None:
                return default
            return _as_tensor(self._family(model.argument(call, 0), depth + 1))
        if qname == _T + "fill":
            return _as_tensor(self._family(model.argument(call, 1, "value"), depth + 1))
        if qname in _INTEGER_RESULT:
            return "int"
        if qname in _BOOL_RESULT:
            return "bool"
        if qname == _T + "where" and len(call.args) == 1 and call.args[0].keyword is None:
            return "int"
        if qname in _SAME_AS_FIRST:
            return _as_tensor(self._family(model.argument(call, 0), depth + 1))
        if qname in _SAME_AS_ELEMENTS:
            values = model.argument(call, 0)
            if isinstance(values, (cst.List, cst.Tuple)) and values.elements:
                return _as_tensor(self._family(values.elements[0].value, depth + 1))
        return None


def _as_tensor(family: str | None) -> str | None:
    """The family of the tensor TensorFlow makes from a value (a Python int becomes int32...)."""
    if family is None:
        return None
    return _PY_TO_TENSOR.get(family, family)
