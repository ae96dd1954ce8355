"""Hydra's and OmegaConf's errors as one ``runner: error: ...`` line, exit 1.

Hydra prints a compose error over several lines with its search path and a hint to add an
unknown key with ``+`` (which runner would ignore); a user needs the key and, for a typo, the
nearest defined one.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from runner import console
from runner.config import describe_omegaconf_error, nearest
from runner.errors import RunnerError


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
        lines.append(describe_omegaconf_error(cause))
    return " ".join(lines) or type(exc).__name__


def _suggest(error: OmegaConfBaseException) -> str | None:
    schema = getattr(error, "object_type", None)
    full_key = str(getattr(error, "full_key", ""))
    if schema is None or not dataclasses.is_dataclass(schema):
        return None
    prefix, _, key = full_key.rpartition(".")
    names = [f.name for f in dataclasses.fields(schema)]
    return nearest(key, names, f"{prefix}." if prefix else "")


@contextmanager
def errors_as_one_line() -> Iterator[None]:
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
        console.error(str(exc) if isinstance(exc, RunnerError) else one_line(exc))
        sys.exit(1)
    finally:
        if user_asked is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = user_asked
        GlobalHydra.instance().clear()  # main() can be called again in the same process
