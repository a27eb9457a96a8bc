"""The CLI's one error type (its own module so that subcommands import it without a cycle)."""

from __future__ import annotations


class CLIError(Exception):
    """A user error the CLI reports as one clear line (exit code 2), without a traceback."""
