"""Exceptions of the runtime checker. No TensorFlow here: the pytest plugin imports this module."""


class GradientError(AssertionError):
    """A gradient that is wrong: raised by ``check_gradients`` and under ``checking()``.

    An ``AssertionError`` so that pytest reports it as a test failure, not as an error.
    """

    # AutoGraph re-raises errors from traced code as a StagingError unless they carry this flag.
    ag_pass_through = True


class GradientContractError(GradientError):
    """The gradient has the wrong structure: count, nesting, shape, dtype, type, or a missing gradient."""


class GradientCheckError(GradientError):
    """The gradient's values disagree with finite differences (or it is not linear in the upstream)."""


class NondeterminismError(GradientError):
    """The forward or backward pass gives different results for the same input: not checkable as is."""
