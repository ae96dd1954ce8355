"""The ``runner`` console script: ``runner [task] [hydra overrides and flags]``.

The first argument may name a task (``train``, the default; ``serve``; ``predict``; ``reproduce``);
everything else goes to Hydra (overrides, ``-m``, ``--cfg``, ``--help``, ``--config-dir``).
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile

from runner import console
from runner.cli import app, completion
from runner.cli.error_lines import errors_as_one_line
from runner.cli.open_keys import opened
from runner.cli.show_schema import show_schema
from runner.config import register_configs

# Hydra options that write no run folder under ./outputs
_WRITES_NOTHING = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i",
                   "--shell-completion", "-sc")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``runner`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    task = args.pop(0) if args and args[0] in app.TASKS else "train"
    args = opened(args)
    register_configs()
    argv0 = sys.argv[0] if sys.argv else "runner"
    query = completion.query(args)
    try:
        if query is not None:
            sys.argv = [argv0, *args]
            completion.complete(*query)
            return
        if task == "reproduce":
            from runner import reproduce

            sys.exit(reproduce.main(args))
        if task == "train" and "--show-schema" in args:
            with errors_as_one_line():
                show_schema([a for a in args if a != "--show-schema"])
            return
        _check_cwd(args)
        sys.argv = [argv0, *args]
        with errors_as_one_line():
            app.hydra_app(app.HYDRA_TASKS[task])()
    finally:
        # Everything is recorded by now. Interpreter teardown would collect the py4j proxies of
        # the run one by one, each calling into the exiting JVM: ~1 s of a cold run spent after
        # its last line. Frozen objects are left to the OS; atexit handlers still run.
        gc.freeze()


def _check_cwd(args: list[str]) -> None:
    """Hydra makes its run folder under ./outputs before runner's code runs: in a folder that
    cannot be written that is a traceback. Say it in one line instead (exit 1)."""
    if any(a.split("=")[0] in _WRITES_NOTHING or a.startswith(("hydra.run.dir=",
                                                                "hydra.sweep.dir="))
           for a in args):
        return
    try:
        with tempfile.TemporaryFile(dir="."):
            pass
    except OSError as exc:
        console.error(f"the current directory {os.getcwd()} cannot be written "
                      f"({exc.strerror or exc}): runner keeps its outputs/ there; run it from "
                      "another directory (or set hydra.run.dir and tracking.uri)")
        sys.exit(1)
