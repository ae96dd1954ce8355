"""Data-time checks: what about the user's data can be refused before the JVM starts, one line
each naming the setting or column.

Three phases, one place each: compose-time checks of the config alone are in
``runner.config.checks``; these read the resolved ``DataSpec`` (``check_config``; the local
files are checked by ``formats.check_files`` as ``DataSpec.resolve`` tells their format); the
values themselves are checked where Spark reads them, in ``dataset``'s one profiling job (failed
casts, NaN, infinity; the label's classes in ``labels``)."""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING

from runner.compat import pyspark as compat_pyspark
from runner.config.types import ALIASES
from runner.data import holdout
from runner.errors import RunnerError

if TYPE_CHECKING:
    from runner.data.spec import DataSpec


def check_config(spec: DataSpec) -> None:
    """Checks of the resolved spec that need no Spark: run before the JVM starts (the path,
    format and files are checked as the spec resolves them)."""
    for column, type_ in spec.schema.items():
        check_type(column, str(type_))
    if spec.split.train <= 0 or spec.split.test <= 0:
        raise RunnerError("data.split.train and data.split.test must both be > 0")
    schema = spec.schema
    if spec.label not in schema:
        odd = len(schema) == 1 and any(sep in next(iter(schema)) for sep in ";|\t,")
        hint = "; is data.options.sep right?" if odd else ""
        raise RunnerError(
            f"data.label {spec.label!r} is not a column of {spec.source}; it has "
            f"{list(schema)}{hint}"
        )
    for column in schema:
        check_name(column)
    if not spec.feature_columns:
        raise RunnerError(f"data: {spec.source} has no feature columns besides the label")
    holdout.check_config(spec)


def check_name(column: str) -> None:
    """Spark ML stages look their input columns up by a parsed name: ``a.b`` is taken as field
    ``b`` of a struct ``a`` (FIELD_NOT_FOUND while fitting). runner reads such a column, but no
    stage could use it, so it is refused before the JVM starts."""
    bad = sorted({ch for ch in column if ch in ".`"})
    if bad:
        raise RunnerError(
            f"data.schema: column {column!r}: Spark ML stages cannot read a name holding "
            f"{' or '.join(map(repr, bad))}; rename the column in the data (spaces and other "
            "characters are fine)"
        )


def check_type(column: str, type_: str) -> None:
    """A schema type Spark does not know fails here, not as a parser traceback from the JVM."""
    names, patterns = _atomic_type_names()
    name = type_.strip().lower()
    if name in names or any(p.fullmatch(name) for p in patterns):
        return
    close = [ALIASES[name]] if name in ALIASES else difflib.get_close_matches(
        name, sorted(names), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise RunnerError(
        f"data.schema.{column}: unknown Spark type {type_!r}; {hint}valid: "
        f"{', '.join(sorted(names))}, decimal(p,s), char(n), varchar(n)"
    )


def _atomic_type_names() -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    """The column type names Spark's DDL parser takes, read from pyspark itself (no JVM).

    pyspark parses DDL strings in the JVM only, so the names come from its type classes: the JSON
    names (``integer``, ``long``) and the SQL names (``int``, ``bigint``), plus its own patterns
    for the parameterized ones (``decimal(10,2)``, ``varchar(20)``).
    """
    mappable = compat_pyspark.mappable_types()
    names = set(mappable)
    for cls in mappable.values():
        try:
            names.add(cls().simpleString())
        except TypeError:  # a type that needs arguments
            continue
    names -= {"interval", "void", "decimal(10,0)"}  # Spark casts no value to these
    precision_only = re.compile(r"decimal\(\s*\d+\s*\)")  # Spark's parser takes it too
    patterns = (*compat_pyspark.parameterized_type_patterns(), precision_only)
    return frozenset(names), patterns
