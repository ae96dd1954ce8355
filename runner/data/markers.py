"""The strings a CSV cell is missing as (``data.na_values``), read by schema inference and by
Spark's read (``missing``) alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.compat import pandas as compat_pandas


def markers(cfg: Any) -> list[str]:
    """``data.na_values`` (pandas' list when the key is absent, as in a config logged before it
    existed) plus a ``data.options.nullValue``."""
    given = _field(cfg, "na_values")
    found = [str(v) for v in (compat_pandas.default_na_values() if given is None else given)]
    null = (_field(cfg, "options") or {}).get("nullValue")
    return found if null is None or str(null) in found else [*found, str(null)]


def _field(cfg: Any, name: str) -> Any:
    """A key of the data config: composed or logged (a mapping), or its schema dataclass."""
    return cfg.get(name) if isinstance(cfg, Mapping) else getattr(cfg, name, None)
