"""The single error type raised for bad input anywhere in otrace (unknown target, malformed
condition, bad parameter value, ...). Its message is one line, meant for the user."""

__all__ = ["OTraceError", "MAX_ERROR_CHARS"]

#: the longest message an OTraceError keeps: a longer one (one that repeats a 4 MB argument back)
#: is cut there, saying how much was left out
MAX_ERROR_CHARS = 2000


class OTraceError(Exception):
    """Bad input or an operation that cannot be done; ``str(err)`` is a one-line user message
    (at most ``MAX_ERROR_CHARS`` characters and a note of how many were cut).

    Operations that raise it apply nothing (no half-applied state).
    """

    def __init__(self, message: object = "", *args: object) -> None:
        if isinstance(message, str) and len(message) > MAX_ERROR_CHARS:
            message = f"{message[:MAX_ERROR_CHARS]}... ({len(message) - MAX_ERROR_CHARS:,} more characters)"
        super().__init__(message, *args)
