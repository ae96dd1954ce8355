"""Data-time checks: everything about the user's data that can be refused before the JVM
starts, one line each naming the setting or column.

Three phases, one place each: compose-time checks of the config alone are
``runner.config.checks``; these read the resolved data spec and the local files
(``check_files`` as ``DataSpec.resolve`` tells the format, ``check_config`` once it is built);
the values themselves are checked where Spark reads them, in the one profiling job of
``dataset`` (failed casts, NaN, infinity, the label's classes in ``labels``).
"""

from __future__ import annotations

import difflib
import os
import re
from typing import TYPE_CHECKING

from runner.compat import pyspark as compat_pyspark
from runner.config.types import ALIASES
from runner.data.formats import DATA_ENDINGS, is_data
from runner.errors import RunnerError

if TYPE_CHECKING:
    from runner.data.spec import DataSpec

_SHOWN = 3  # files named in a message


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


def check_files(path: str, data_format: str) -> None:
    """Refuse a local input that Spark would read wrongly or in part, naming the files.

    In a directory Spark reads every file as ``data_format`` (a stray JSON or Parquet file becomes
    garbage rows or a failed job) and silently skips names starting with ``_`` or ``.`` (data left
    out); its own ``_SUCCESS`` and ``.crc`` files are fine. A single file is refused only when its
    name says it is another known format.
    """
    endings = DATA_ENDINGS.get(data_format.lower())
    if endings is None:
        return
    if os.path.isfile(path):
        other = [f for f, ends in DATA_ENDINGS.items() if f != data_format and is_data(path, ends)]
        if other and not is_data(path, endings):
            raise RunnerError(
                f"data.path: {path} looks like {other[0]}, not data.format={data_format}"
            )
        return
    bad, found = _scan(path, endings)
    if bad:
        more = f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else ""
        raise RunnerError(
            f"data.path: directory {path} holds {len(bad)} file(s) that are not {data_format} "
            f"data: {', '.join(bad[:_SHOWN])}{more}; move them out or point data.path at the "
            "data files"
        )
    if not found:
        raise RunnerError(f"data.path: directory {path} holds no {data_format} files")


def _scan(root: str, endings: tuple[str, ...]) -> tuple[list[str], int]:
    """Files under ``root`` that are not data (relative paths, why in brackets), data file count."""
    bad: list[str] = []
    found = 0
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        for name in sorted(dirs):
            if name[0] in "._":
                bad.append(f"{os.path.normpath(os.path.join(rel, name))}/ (Spark skips it)")
                dirs.remove(name)
        for name in sorted(names):
            shown = os.path.normpath(os.path.join(rel, name))
            if name == "_SUCCESS" or name.endswith(".crc"):
                continue
            if name[0] in "._":
                bad.append(f"{shown} (Spark skips it)")
            elif is_data(name, endings):
                found += 1
            else:
                bad.append(shown)
    return bad, found
