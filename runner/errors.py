"""The one exception type for user errors: bad config, data or requests.

The CLI prints its message as one line and exits non-zero; anything else is a bug and keeps its
traceback.
"""


class RunnerError(Exception):
    """A problem the user can fix, described in one line."""
