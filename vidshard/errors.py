"""The one error policy of the `vidshard` commands.

An error the user can act on (a bad argument, an input that is not what it should be, a missing face
model) is a `VidshardError`: the command prints it as one line, `vidshard COMMAND: message`, and exits with
the error's `exit_code`. Anything else is a bug: its traceback is printed and the exit status is 1.
`vidshard.cli.run` is the one place that turns exceptions into exit statuses.

Each family below also derives from the builtin exception it replaced (ValueError, RuntimeError), so code
that catches those keeps working.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1   # a bug (traceback), a damaged input, or something the machine lacks (one line)
EXIT_USAGE = 2   # bad arguments or an input that names nothing usable (one line)


class VidshardError(Exception):
    """An expected failure: printed as one line, no traceback; the command exits with `exit_code`."""
    exit_code = EXIT_USAGE


class UsageError(VidshardError, ValueError):
    """Bad arguments or settings: an unknown key, a wrong type, a path that does not exist."""
    exit_code = EXIT_USAGE


class InputError(VidshardError, ValueError):
    """An input that cannot be used as asked: not a dataset, no such version, a run directory without a run."""
    exit_code = EXIT_USAGE


class DataError(VidshardError, ValueError):
    """The input is there but damaged, or lacks what was asked of it (a truncated shard, no such clip)."""
    exit_code = EXIT_ERROR


class SetupError(VidshardError, RuntimeError):
    """This machine lacks something the command needs (the face model cannot be fetched or loaded)."""
    exit_code = EXIT_ERROR
