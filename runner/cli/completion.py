"""Shell completion after a task verb: ``runner predict predict.inp<TAB>``.

Hydra's completion query (``runner -sc query=bash``, which the installed completion script runs
with the typed line in COMP_LINE) reads every word after the program as an override, so the
task verb would fail as one. The verb is taken out of the line first, and a first word being
typed completes to the verbs as well as to Hydra's keys.
"""

from __future__ import annotations

import io
import os
import re
from contextlib import redirect_stdout

from runner import console
from runner.cli import app
from runner.cli.error_lines import errors_as_one_line


def query(args: list[str]) -> tuple[str, list[str]] | None:
    """For a completion query: the task verb the line names and the verbs that complete the
    word typed (COMP_LINE and COMP_POINT lose the verb); None when this is no completion query.
    """
    if not {"-sc", "--shell-completion"} & set(args) or not any(
            a.startswith("query=") for a in args):
        return None
    line = os.environ.get("COMP_LINE", "")
    match = re.match(r"(\s*\S+\s+)(\S*)(\s*)(.*)$", line, re.S)
    if match is None:  # the program name alone: nothing typed after it yet
        return "train", []
    head, first, space, rest = match.groups()
    if first in app.TASKS and space:
        os.environ["COMP_LINE"] = head + rest
        point = int(os.environ.get("COMP_POINT") or len(line))
        os.environ["COMP_POINT"] = str(max(len(head), point - len(first) - len(space)))
        return first, []
    return "train", [t for t in app.TASKS if t.startswith(first)] if not space else []


def complete(task: str, verbs: list[str]) -> None:
    """Print the completion candidates: the verbs, then Hydra's keys of the task's config
    (every task composes the same config tree). ``reproduce`` takes a run id: nothing."""
    if task == "reproduce":
        return
    out = io.StringIO()
    with errors_as_one_line(), redirect_stdout(out):
        app.hydra_app(app.train_task)()
    console.out(" ".join([*verbs, *out.getvalue().split()]))  # the shell reads stdout
