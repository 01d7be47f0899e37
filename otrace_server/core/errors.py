"""The single error type raised for bad input anywhere in otrace (unknown target, malformed
condition, bad parameter value, ...). Its message is one line, meant for the user."""


class OTraceError(Exception):
    """Bad input or an operation that cannot be done; ``str(err)`` is a one-line user message.

    Operations that raise it apply nothing (no half-applied state).
    """
