"""A ``_target_`` config of the sweeper's (its sampler, its pruner) checked before a JVM starts:
the class importable and of the right kind, its keys accepted. Each problem is one line naming
the key."""

from __future__ import annotations

import inspect
from typing import Any

from runner.compat import hydra as compat_hydra
from runner.errors import RunnerError, first_line


def locate_class(key: str, target: str, base: type, what: str) -> type:
    """The class ``target`` names (``key``: its config key, for messages), a subclass of
    ``base`` (``what``: that kind, in words, for the message)."""
    try:
        cls = compat_hydra.locate(target)  # hydra.utils.get_class logs pages on failure
    except Exception as exc:  # noqa: BLE001 - Hydra wraps import errors of any kind
        raise RunnerError(f"{key}._target_={target}: cannot import it "
                          f"({first_line(exc.__cause__ or exc)})") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise RunnerError(f"{key}._target_={target}: not {what}")
    return cls


def accepted(cls: type, cfg: dict[str, Any], defaults: dict[str, Any], key: str,
             choose: str) -> dict[str, Any]:
    """``cfg`` without the chosen option's ``defaults`` that ``cls`` does not take (they were
    not the user's: an overridden ``_target_``); any other key it does not take is an error,
    which ends with ``choose`` (how to pick another option)."""
    params = inspect.signature(cls).parameters
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return cfg
    out, refused = {}, []
    for name, value in cfg.items():
        if name.startswith("_") and name.endswith("_") or name in params:
            out[name] = value
        elif name in defaults and defaults[name] == value:
            continue  # the chosen option's default, for another class
        else:
            refused.append(name)
    if refused:
        raise RunnerError(
            f"{key}: {cls.__name__} takes no {', '.join(refused)} (it takes "
            f"{', '.join(p for p in params if p != 'search_space') or 'nothing'}); {choose}")
    return out
