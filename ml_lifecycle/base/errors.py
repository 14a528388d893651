"""The project's error types: what a user can act on, as opposed to an internal bug.

The `lifecycle` command prints a `LifecycleError` once, as `error: <message>`, and exits 2;
anything else is a bug and keeps its traceback. Each error is raised where the fact is known
and names the file, field, row or store it is about. The area-specific errors live beside the
code that raises them and derive from one of these.
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Bad input, bad configuration or an unavailable resource, with a message a user can act on."""


class UsageError(LifecycleError, ValueError):
    """A command-line argument is malformed (e.g. `--spans 3:1`)."""


class ConfigError(LifecycleError, ValueError):
    """A configuration file is missing, unreadable or invalid."""


class DataError(LifecycleError, ValueError):
    """Input data (a source CSV, a span, a review export) is missing or not what the config says."""
