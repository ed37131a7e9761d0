"""tapelint's hooks, implemented: found through the ``tapelint`` entry-point group (pyproject.toml)."""

from tapelint.hookspecs import hookimpl

from tapelint_example_plugin.formats import report_markdown
from tapelint_example_plugin.rules import GradientResultDiscarded


@hookimpl
def tapelint_rules():
    return [GradientResultDiscarded]


@hookimpl
def tapelint_output_formats():
    return {"markdown": report_markdown}
