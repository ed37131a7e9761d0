"""The semantic model: computed once per file, shared by every rule.

- ``tree``: parents, source order and containment of nodes (no libcst metadata providers: one pass).
- ``scopes``: scopes, bindings and uses of names, and which bindings may reach a use.
- ``names``: qualified names through any import alias, canonicalised across TF/Keras spellings.
- ``values``: where a value comes from (tf.Variable, tf.constant, NumPy, ``.numpy()``, a tape's gradient).
- ``tapes``: every GradientTape, its recording ranges and uses.
- ``custom_gradients``: every ``tf.custom_gradient`` function and its gradient function(s).

``SemanticModel`` is imported on first use: the screens read ``names`` without loading libcst.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tapelint.semantic.model import SemanticModel

__all__ = ["SemanticModel"]


def __getattr__(name: str) -> Any:
    if name == "SemanticModel":
        from tapelint.semantic.model import SemanticModel

        return SemanticModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
