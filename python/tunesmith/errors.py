"""tunesmith's exceptions.

Every class subclasses the stdlib exception a user would already catch, so
``except ValueError`` keeps working; catch :class:`TunesmithError` to catch
only ours. Messages name the argument, file, line and field involved.
"""

from __future__ import annotations

__all__ = [
    "TunesmithError",
    "ArgumentError",
    "InputError",
    "ConfigError",
    "UnsupportedError",
]


class TunesmithError(Exception):
    """Base class of every error tunesmith raises on purpose."""


class ArgumentError(TunesmithError, ValueError):
    """A function argument has a value outside its domain (the message names it)."""


class InputError(TunesmithError, ValueError):
    """Input data is malformed: the message names the file, line and field."""


class ConfigError(TunesmithError, ValueError):
    """A configuration file or object is invalid: the message names file, line and key."""


class UnsupportedError(TunesmithError, ValueError):
    """A combination the underlying libraries refuse (the message says why)."""
