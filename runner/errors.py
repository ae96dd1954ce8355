"""The one exception type for user errors: bad config, data or requests.

The CLI prints its message as one line and exits non-zero; anything else is a bug and keeps its
traceback.
"""


class RunnerError(Exception):
    """A problem the user can fix, described in one line."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text: py4j and MLflow errors carry pages after it."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
