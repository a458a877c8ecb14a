"""The one exception type for mistakes a user can fix.

The CLI prints its message as a single line (no traceback unless --debug), so every
message names the problem and the fix.
"""


class InputError(ValueError):
    """Bad input: a wrong path, a file in the wrong format, an impossible option."""
