"""tapelint: catch TensorFlow autodiff bugs before they cost a training run.

The linter half (``tapelint.cli``, ``tapelint.linter``) never imports TensorFlow; the runtime checker
(``tapelint.runtime``) imports it lazily.
"""

__version__ = "0.1.0"
