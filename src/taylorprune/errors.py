"""The one exception type for mistakes a user can fix, and how to quote any exception in one line.

The CLI prints an InputError's message as a single line (no traceback unless --debug), so
every message names the problem and the fix.
"""


class InputError(ValueError):
    """Bad input: a wrong path, a file in the wrong format, an impossible option."""


def first_line(err: BaseException) -> str:
    """The first non-blank line of ``err``'s message, else its type name.

    Library errors (torch.fx, PIL, the ONNX exporter) can run to pages; an InputError
    quotes only their first line and leaves the rest to --debug.
    """
    lines = str(err).strip().splitlines()
    return lines[0].strip() if lines else type(err).__name__
