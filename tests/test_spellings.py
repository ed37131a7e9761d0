"""Every rule's examples, respelt the ways code imports TensorFlow and Keras, give through the whole
pipeline (pre-filter, screens, partial analysis) what the rule itself gives on the whole module.

The pre-filter's words and the screens must hold for every spelling the semantic model resolves, not
only for the examples' `import tensorflow as tf`: until stop 16, a file whose only variable maker was
`K.variable(...)` (tf.keras's backend) never reached TL007 and TL010, which report it.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from tapelint import linter
from tapelint.registry import builtin_rules

RULES = builtin_rules()
_TF = re.compile(r"(?<![\w.])tf\.")
_IMPORT_TF = "import tensorflow as tf\n"


def _renamed(text: str) -> str:
    return _TF.sub("tflow.", text).replace(_IMPORT_TF, "import tensorflow as tflow\n")


def _compat(text: str) -> str:
    return text.replace(_IMPORT_TF, "import tensorflow.compat.v2 as tf\n")


def _from_imports(text: str) -> str:
    # `from tensorflow import GradientTape as Tape, custom_gradient as cg, Variable`
    text = text.replace(_IMPORT_TF, "import tensorflow as tf\nfrom tensorflow import GradientTape as Tape, "
                                    "custom_gradient as cg, Variable\n")
    return text.replace("tf.GradientTape(", "Tape(").replace("tf.custom_gradient", "cg").replace("tf.Variable(", "Variable(")


def _internal_modules(text: str) -> str:
    # TensorFlow's own code: `backprop.GradientTape`, `custom_gradient.custom_gradient`, `variables.Variable`
    text = text.replace(_IMPORT_TF, "import tensorflow as tf\nfrom tensorflow.python.eager import backprop\n"
                                    "from tensorflow.python.ops import custom_gradient\n"
                                    "from tensorflow.python.ops import variables\n")
    return text.replace("tf.GradientTape(", "backprop.GradientTape(").replace(
        "tf.custom_gradient", "custom_gradient.custom_gradient").replace("tf.Variable(", "variables.Variable(")


def _keras(text: str) -> str:
    # Keras 3 imported on its own: `keras.layers.Dense`, `keras.optimizers.SGD`
    return text.replace(_IMPORT_TF, "import tensorflow as tf\nimport keras\n").replace("tf.keras.", "keras.")


def _backend_variable(text: str) -> str:
    # tf.keras code: `K.variable(...)`
    return text.replace(_IMPORT_TF, "import tensorflow as tf\nfrom tensorflow.keras import backend as K\n").replace(
        "tf.Variable(", "K.variable(")


def _keras_variable(text: str) -> str:
    # Keras 3's own variables: `keras.Variable(...)`
    return text.replace(_IMPORT_TF, "import tensorflow as tf\nimport keras\n").replace("tf.Variable(", "keras.Variable(")


SPELLINGS = {"renamed": _renamed, "compat": _compat, "from-imports": _from_imports,
             "internal-modules": _internal_modules, "keras": _keras, "backend-variable": _backend_variable,
             "keras-variable": _keras_variable}


def _cases():
    for rule in RULES:
        for kind, examples in (("invalid", rule.all_invalid()), ("valid", rule.all_valid())):
            for i, example in enumerate(examples):
                source = textwrap.dedent(example.code)
                for name, respell in SPELLINGS.items():
                    text = respell(source)
                    if text != source:
                        yield pytest.param(rule, text, id=f"{rule.code}-{kind}-{i}-{name}")


def _rows(diagnostics, code: str) -> list[tuple[int, int]]:
    return sorted((d.location.row, d.location.column) for d in diagnostics if d.code == code)


@pytest.mark.parametrize(("rule", "text"), list(_cases()))
def test_a_respelt_example_gives_through_the_pipeline_what_the_rule_gives(rule, text):
    parsed = linter.parse(text, "x.py")
    assert not isinstance(parsed, linter.Diagnostic), parsed
    _, whole = linter._check(parsed, text, "x.py", [rule], False)  # no pre-filter, no screen, whole module
    assert _rows(linter.lint_source(text, "x.py", [rule]), rule.code) == _rows(whole, rule.code), text
