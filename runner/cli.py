"""The ``runner`` console script: ``runner [task] [hydra overrides and flags]``.

The first argument may name a task (``train``, the default; ``serve``; ``predict``; ``reproduce``);
everything else goes to Hydra (overrides, ``-m``, ``--cfg``, ``--help``, ``--config-dir``).
"""

from __future__ import annotations

import gc
import io
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from runner.config import schemas
from runner.config.schemas import register_configs
from runner.console import say
from runner.errors import RunnerError

TASKS = ("train", "serve", "predict", "reproduce")
# paths a user writes relative to where they launch runner (hydra.job.chdir: launch_relative)
LAUNCH_PATHS = ("data.path", "predict.input", "predict.output", "serving.model_uri")


def _is_multirun() -> bool:
    return HydraConfig.initialized() and str(HydraConfig.get().mode) == "RunMode.MULTIRUN"


def launch_relative(cfg: DictConfig, hydra: Any = None) -> None:
    """With ``hydra.job.chdir=true`` a job runs inside its output folder: relative paths the user
    wrote (``data.path``, ``predict.input``/``output``, ``serving.model_uri``, a relative sqlite
    or folder ``tracking.uri`` and the default store) are made absolute against the launch
    directory, so they mean what they meant on the command line, for a run and for each trial
    of a sweep (``hydra``: the sweep's own config, whose paths its parent run reads)."""
    if hydra is None and HydraConfig.initialized():
        hydra = HydraConfig.get()
    if hydra is None or not hydra.job.chdir:
        return
    from runner import tracking

    launch = hydra.runtime.cwd
    with read_write(cfg), open_dict(cfg):
        for key in LAUNCH_PATHS:
            value = OmegaConf.select(cfg, key)
            if isinstance(value, str) and _is_relative_path(value):
                OmegaConf.update(cfg, key, os.path.join(launch, value))
        uri = cfg.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI")
        cfg.tracking.uri = (_launch_uri(uri, launch) if uri
                            else f"sqlite:///{os.path.join(launch, tracking.DEFAULT_STORE)}")


def _is_relative_path(value: str) -> bool:
    """A relative local path: no URI scheme (``pkg://``, ``models:/``, ``s3a://``), not absolute."""
    return bool(value) and not re.match(r"^[A-Za-z][\w+.-]*:", value) and not os.path.isabs(
        os.path.expanduser(value))


def _launch_uri(uri: str, launch: str) -> str:
    """A tracking URI whose local path is relative, made absolute against ``launch``."""
    from runner.tracking import store

    for prefix in ("sqlite:///", "file:"):
        rest = uri[len(prefix):]
        if uri.startswith(prefix) and not rest.startswith("/"):
            return prefix + os.path.join(launch, rest)
    if store.scheme(uri) or not _is_relative_path(uri):  # a server, "databricks", a path
        return uri
    return os.path.join(launch, uri)


def _user_errors_exit(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """The config checked first; in a single run a RunnerError is one line on stderr and exit 1,
    in a sweep it propagates (the trial fails)."""

    def wrapped(cfg: DictConfig) -> Any:
        try:
            launch_relative(cfg)
            schemas.check(cfg)  # before anything starts: a JVM, an MLflow run
            return fn(cfg)
        except RunnerError as exc:
            if _is_multirun():
                raise
            say(f"runner: error: {exc}", logging.ERROR)
            sys.exit(1)

    wrapped.__module__ = __name__  # Hydra finds conf/ relative to this module
    wrapped.__name__ = fn.__name__
    return wrapped


def train_task(cfg: DictConfig) -> float | tuple[float, ...]:
    """Train one run; the return value is the primary metric, which sweepers optimize (in a
    multi-objective sweep, the values of evaluation.objectives)."""
    from runner import sweep, train

    overrides = list(HydraConfig.get().overrides.task)
    active = sweep.current() if _is_multirun() else None
    if active is not None:  # a child run of the sweep's parent; progress comes from the callback
        return active.trial(cfg, overrides)
    result = train.run(cfg, overrides)
    say(train.summary(result), stream=sys.stdout)
    return result.value


def serve_task(cfg: DictConfig) -> None:
    from runner import serving

    serving.main(cfg)


def predict_task(cfg: DictConfig) -> None:
    from runner import predict

    predict.main(cfg)


class ConfigCheck(Callback):
    """Hydra callback (conf/config.yaml): a sweep's base config is checked before the sweep
    starts anything, so a mistake is one line and no JVM, MLflow run or Optuna trial exists.

    Hydra turns a callback's exceptions into warnings and goes on, hence the exit here.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from runner.pipeline import features, models

        try:  # the sweep's values aside; each trial checks its own config when it starts
            launch_relative(config, config.hydra)  # before the sweep's callback reads it
            schemas.check(config)
            features.check(config.features, config.data)
            models.check(config.model)
        except RunnerError as exc:
            say(f"runner: error: {exc}", logging.ERROR)
            sys.exit(1)


def one_line(exc: BaseException) -> str:
    """A Hydra or OmegaConf error as one line naming the key; for an unknown key the nearest
    defined one instead of Hydra's hint to add it with ``+`` (which would be ignored)."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else None
    if isinstance(exc, OmegaConfBaseException):
        cause = exc
    unknown = isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and "not in" in str(cause)
    if cause is not None and unknown and getattr(cause, "full_key", None):
        suggestion = _suggest(cause)
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        return f"{cause.full_key}: no such key in runner's config{hint}"
    # a missing group option: the options say enough without the search path or the schemas
    text = re.sub(r"\s*\bbase_\w+", "", str(exc).split("Config search path:")[0])
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    override = getattr(exc, "override", None)  # a grammar error may not quote its override
    if override and lines and override not in lines[0]:
        lines[0] = f"Error parsing override {override!r}: {lines[0]}"
    if cause is not None and cause is not exc:
        lines.append(schemas.describe_omegaconf_error(cause))
    return " ".join(lines) or type(exc).__name__


def _suggest(error: OmegaConfBaseException) -> str | None:
    import dataclasses

    schema = getattr(error, "object_type", None)
    full_key = str(getattr(error, "full_key", ""))
    if schema is None or not dataclasses.is_dataclass(schema):
        return None
    prefix, _, key = full_key.rpartition(".")
    names = [f.name for f in dataclasses.fields(schema)]
    return schemas._nearest(key, names, f"{prefix}." if prefix else "")


@contextmanager
def _errors_as_one_line() -> Iterator[None]:
    """Hydra's compose errors raised (not printed over several lines) and printed as one line.

    ``HYDRA_FULL_ERROR=1`` makes Hydra raise instead of printing; a user who set it gets the
    traceback, as Hydra promises.
    """
    user_asked = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    except (HydraException, OmegaConfBaseException, RunnerError) as exc:
        if user_asked == "1":
            raise
        text = str(exc) if isinstance(exc, RunnerError) else one_line(exc)
        say(f"runner: error: {text}", logging.ERROR)
        sys.exit(1)
    finally:
        if user_asked is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = user_asked
        GlobalHydra.instance().clear()  # main() can be called again in the same process


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


def _completion(args: list[str]) -> tuple[str, list[str]] | None:
    """For Hydra's shell-completion query (``runner -sc query=bash``, which the installed
    completion script runs with the typed line in COMP_LINE): the task verb the line names and
    the verbs that complete the word typed, or None when this is no completion query.

    Hydra reads every word after the program as an override, so ``runner predict
    predict.inp<TAB>`` failed on 'predict': the verb is taken out of COMP_LINE (and COMP_POINT
    moved back with it). A first word being typed also completes to the verbs.
    """
    if not {"-sc", "--shell-completion"} & set(args) or not any(
            a.startswith("query=") for a in args):
        return None
    line = os.environ.get("COMP_LINE", "")
    match = re.match(r"(\s*\S+\s+)(\S*)(\s*)(.*)$", line, re.S)
    if match is None:  # the program name alone: nothing typed after it yet
        return "train", []
    head, first, space, rest = match.groups()
    if first in TASKS and space:
        os.environ["COMP_LINE"] = head + rest
        point = int(os.environ.get("COMP_POINT") or len(line))
        os.environ["COMP_POINT"] = str(max(len(head), point - len(first) - len(space)))
        return first, []
    return "train", [t for t in TASKS if t.startswith(first)] if not space else []


def _complete(task: str, verbs: list[str]) -> None:
    """Print the completion candidates: the verbs, then Hydra's keys of the task's config
    (every task composes the same config tree). ``reproduce`` takes a run id: nothing."""
    if task == "reproduce":
        return
    out = io.StringIO()
    with _errors_as_one_line(), redirect_stdout(out):
        _hydra(train_task)()
    print(" ".join([*verbs, *out.getvalue().split()]))  # noqa: T201 - the shell reads stdout


def show_schema(overrides: list[str]) -> None:
    """``runner [overrides] --show-schema``: the columns and types a run would read, one line
    each, the label marked; local files need no JVM (``runner.pipeline.data.schema_of``)."""
    from hydra import compose, initialize_config_module

    from runner.pipeline.data import schema_of

    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    for column, type_ in schema_of(cfg.data).items():
        print(f"{column}: {type_}" + ("  # label" if column == cfg.data.label else ""))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``runner`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    task = args.pop(0) if args and args[0] in TASKS else "train"
    register_configs()
    argv0 = sys.argv[0] if sys.argv else "runner"
    completion = _completion(args)
    try:
        if completion is not None:
            sys.argv = [argv0, *args]
            _complete(*completion)
            return
        if task == "reproduce":
            from runner import reproduce

            sys.exit(reproduce.main(args))
        if task == "train" and "--show-schema" in args:
            with _errors_as_one_line():
                show_schema([a for a in args if a != "--show-schema"])
            return
        _check_cwd(args)
        sys.argv = [argv0, *args]
        tasks = {"train": train_task, "serve": serve_task, "predict": predict_task}
        with _errors_as_one_line():
            _hydra(tasks[task])()
    finally:
        # Everything is recorded by now. Interpreter teardown would collect the py4j proxies of
        # the run one by one, each calling into the exiting JVM: ~1 s of a cold run spent after
        # its last line. Frozen objects are left to the OS; atexit handlers still run.
        gc.freeze()


if __name__ == "__main__":
    main()
