"""Errors that end a run with exit status 2 and a one-line message (never a traceback)."""


class TapelintError(Exception):
    """Base class: a usage or configuration problem the user must fix."""


class ConfigError(TapelintError):
    pass


class UsageError(TapelintError):
    pass
