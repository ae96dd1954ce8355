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


class TrialPruned(Exception):
    """A sweep trial stopped early because its pruner said so (not an error: Optuna's PRUNED).

    Raised by the reporter a trial is handed (``report(step, value)``) when the study's pruner
    decides the trial cannot win; the sweep records the trial as pruned, never as failed.
    """
