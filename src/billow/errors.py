"""User-facing errors: the CLI prints the message as one line and exits non-zero."""


class BillowError(Exception):
    """An error caused by the user's input (parameters, files, paths)."""


class ConfigError(BillowError):
    """A parameter, config file or command-line value is invalid."""
