"""The ``runner`` console script: ``runner [task] [hydra overrides and flags]``.

The first argument may name a task (``train``, the default; ``serve``; ``predict``; ``reproduce``);
everything else goes to Hydra (overrides, ``-m``, ``--cfg``, ``--help``, ``--config-dir``).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from runner.errors import RunnerError
from runner.schemas import register_configs

TASKS = ("train", "serve", "predict", "reproduce")


def _is_multirun() -> bool:
    return HydraConfig.initialized() and str(HydraConfig.get().mode) == "RunMode.MULTIRUN"


def _user_errors_exit(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """In a single run a RunnerError is one line on stderr and exit 1; in a sweep it propagates."""

    def wrapped(cfg: DictConfig) -> Any:
        try:
            return fn(cfg)
        except RunnerError as exc:
            if _is_multirun():
                raise
            print(f"runner: error: {exc}", file=sys.stderr)
            sys.exit(1)

    wrapped.__module__ = __name__  # Hydra finds conf/ relative to this module
    wrapped.__name__ = fn.__name__
    return wrapped


def train_task(cfg: DictConfig) -> float:
    """Train one run; the return value is the primary metric, which sweepers optimize."""
    from runner import report, sweep, train

    overrides = list(HydraConfig.get().overrides.task)
    active = sweep.current() if _is_multirun() else None
    if active is not None:  # a child run of the sweep's parent; progress comes from the callback
        return active.trial(cfg, overrides)
    result = train.run(cfg, overrides)
    print(report.summary(result))
    return result.value


def serve_task(cfg: DictConfig) -> None:
    from runner import serve

    serve.main(cfg)


def predict_task(cfg: DictConfig) -> None:
    from runner import predict

    predict.main(cfg)


def _hydra(fn: Callable[[DictConfig], Any]) -> Callable[[], Any]:
    return hydra.main(version_base="1.3", config_path="conf", config_name="config")(
        _user_errors_exit(fn)
    )


def _check_cwd(args: list[str]) -> None:
    """Hydra makes its run folder under ./outputs before runner's code runs: in a folder that
    cannot be written that is a traceback. Say it in one line instead (exit 1)."""
    import os
    import tempfile

    writes_nothing = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i",
                      "--shell-completion", "-sc")
    if any(a.split("=")[0] in writes_nothing or a.startswith(("hydra.run.dir=",
                                                               "hydra.sweep.dir="))
           for a in args):
        return
    try:
        with tempfile.TemporaryFile(dir="."):
            pass
    except OSError as exc:
        print(f"runner: error: the current directory {os.getcwd()} cannot be written "
              f"({exc.strerror or exc}): runner keeps its outputs/ there; run it from another "
              "directory (or set hydra.run.dir and tracking.uri)", file=sys.stderr)
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``runner`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    task = args.pop(0) if args and args[0] in TASKS else "train"
    register_configs()
    try:
        if task == "reproduce":
            from runner import reproduce

            sys.exit(reproduce.main(args))
        _check_cwd(args)
        sys.argv = [sys.argv[0], *args]
        tasks = {"train": train_task, "serve": serve_task, "predict": predict_task}
        _hydra(tasks[task])()
    finally:
        # Everything is recorded by now. Interpreter teardown would collect the py4j proxies of
        # the run one by one, each calling into the exiting JVM: ~1 s of a cold run spent after
        # its last line. Frozen objects are left to the OS; atexit handlers still run.
        gc.freeze()


if __name__ == "__main__":
    main()
