"""Load, type, check and split the data set described by the ``data`` config.

Every check that can fail on user data happens here and raises RunnerError with one line naming
the column or setting. Prepared splits are cached per process, keyed by the data config, so sweep
trials reuse them.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from omegaconf import OmegaConf

from runner.errors import RunnerError, first_line

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

_cache: dict[str, Dataset] = {}
NUMERIC_TYPES = frozenset(
    {"int", "integer", "bigint", "long", "smallint", "tinyint", "double", "float"}
)
# types whose values can be NaN or infinite after the cast
FLOATING_TYPES = frozenset({"double", "float", "real"})
# Data file name endings per data.format, checked in a local data.path directory; each may carry
# a Hadoop codec's ending (Spark reads those compressed). Formats not listed are not checked.
DATA_ENDINGS = {
    "csv": (".csv", ".tsv"),
    "json": (".json", ".jsonl", ".ndjson"),
    "parquet": (".parquet",),
    "orc": (".orc",),
    "avro": (".avro",),
}
CODEC_ENDINGS = ("", ".gz", ".bz2", ".deflate", ".lz4", ".snappy", ".zst")
_SHOWN = 3  # examples named in a message


@dataclass(frozen=True)
class Dataset:
    """Typed, cleaned and split data plus what tracking needs to describe it."""

    train: DataFrame
    test: DataFrame
    path: str
    digest: str
    rows: int
    train_rows: int
    test_rows: int
    features: list[str]
    label: str
    classes: list[int]


def resolve_path(path: str) -> str:
    """Turn ``pkg://package/file`` into a file path and check that local files exist."""
    if path.startswith("pkg://"):
        package, _, name = path[len("pkg://") :].partition("/")
        return str(files(package).joinpath(name))
    scheme = urlparse(path).scheme
    if scheme in ("", "file"):
        local = urlparse(path).path if scheme else path
        if not os.path.exists(local):
            raise RunnerError(f"data.path: file not found: {local}")
        return os.path.abspath(local)
    return path


def feature_columns(cfg: Any) -> list[str]:
    """The input columns a prediction request must carry: the schema minus the label."""
    return [c for c in cfg.schema if c != cfg.label]


def check_config(cfg: Any) -> None:
    """Checks that need no data: run before the JVM starts."""
    if cfg.label not in cfg.schema:
        raise RunnerError(f"data.label {cfg.label!r} is not a column of data.schema")
    for column, type_ in cfg.schema.items():
        _check_name(column)
        _check_type(column, str(type_))
    if cfg.schema[cfg.label].strip().lower() not in NUMERIC_TYPES:
        raise RunnerError(
            f"data.schema: label {cfg.label!r} must be numeric (class indices 0..k-1), "
            f"not {cfg.schema[cfg.label]}"
        )
    if not feature_columns(cfg):
        raise RunnerError("data.schema lists no feature columns besides the label")
    if cfg.split.train <= 0 or cfg.split.test <= 0:
        raise RunnerError("data.split.train and data.split.test must both be > 0")
    path = resolve_path(cfg.path)
    if "://" not in path and "pathGlobFilter" not in cfg.options:
        check_files(path, str(cfg.format))


def _atomic_type_names() -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    """The column type names Spark's DDL parser takes, read from pyspark itself (no JVM).

    pyspark parses DDL strings in the JVM only, so the names come from its type classes: the JSON
    names (``integer``, ``long``) and the SQL names (``int``, ``bigint``), plus its own patterns
    for the parameterized ones (``decimal(10,2)``, ``varchar(20)``).
    """
    from pyspark.sql import types as T

    names = set(T._all_mappable_types)
    for cls in T._all_mappable_types.values():
        try:
            names.add(cls().simpleString())
        except TypeError:  # a type that needs arguments
            continue
    names -= {"interval", "void", "decimal(10,0)"}  # Spark casts no value to these
    precision_only = re.compile(r"decimal\(\s*\d+\s*\)")  # Spark's parser takes it too
    patterns = (T._FIXED_DECIMAL, T._LENGTH_CHAR, T._LENGTH_VARCHAR, precision_only)
    return frozenset(names), patterns


def _check_name(column: str) -> None:
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


def _check_type(column: str, type_: str) -> None:
    """A schema type Spark does not know fails here, not as a parser traceback from the JVM."""
    names, patterns = _atomic_type_names()
    name = type_.strip().lower()
    if name in names or any(p.fullmatch(name) for p in patterns):
        return
    close = difflib.get_close_matches(name, sorted(names), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise RunnerError(
        f"data.schema.{column}: unknown Spark type {type_!r}; {hint}valid: "
        f"{', '.join(sorted(names))}, decimal(p,s), char(n), varchar(n)"
    )


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
        other = [f for f, ends in DATA_ENDINGS.items() if f != data_format and _is_data(path, ends)]
        if other and not _is_data(path, endings):
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


def _is_data(name: str, endings: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(lowered.endswith(e + c) for e in endings for c in CODEC_ENDINGS)


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
            elif _is_data(name, endings):
                found += 1
            else:
                bad.append(shown)
    return bad, found


def quoted(column: str) -> str:
    """A column name for Spark's column parser: dots and other characters taken literally."""
    return "`" + column.replace("`", "``") + "`"


def load(spark: SparkSession, cfg: Any) -> Dataset:
    """Read, type, clean and split the data; cached per process for the same config."""
    key = OmegaConf.to_yaml(cfg, resolve=True) if OmegaConf.is_config(cfg) else repr(cfg)
    if key not in _cache:
        _cache[key] = _prepare(spark, cfg)
    return _cache[key]


def _read(spark: SparkSession, cfg: Any) -> DataFrame:
    path = resolve_path(cfg.path)
    try:
        return spark.read.format(cfg.format).options(**dict(cfg.options)).load(path)
    except Exception as exc:
        raise RunnerError(
            f"data.path: cannot read {path} as {cfg.format}: {first_line(exc)}"
        ) from exc


def _casts(raw: DataFrame, cfg: Any) -> dict[str, Column]:
    """One typed column per schema entry; raise when a schema column is not in the data."""
    from pyspark.sql import functions as F

    missing = [c for c in cfg.schema if c not in raw.columns]
    if missing:
        raise RunnerError(f"data: column(s) {missing} not found; the file has {raw.columns}")
    return {c: F.col(quoted(c)).try_cast(t).alias(c) for c, t in cfg.schema.items()}


def _problems(raw: DataFrame, casts: dict[str, Column], cfg: Any) -> dict[str, Column]:
    """Per check and column, a condition a value must not meet: failed cast, NaN, infinity, and
    a fractional label. The profile counts each and keeps an example of the raw text."""
    from pyspark.sql import functions as F

    found: dict[str, Column] = {}
    for c, cast in casts.items():
        given = F.col(quoted(c))
        found[f"cast:{c}"] = (
            given.isNotNull() & (F.trim(given.cast("string")) != "") & cast.isNull()
        )
        if str(cfg.schema[c]).strip().lower() in FLOATING_TYPES:
            found[f"nan:{c}"] = F.isnan(cast)
            found[f"inf:{c}"] = cast.isin(float("inf"), float("-inf"))
            if c == cfg.label:
                found[f"fraction:{c}"] = ~F.isnan(cast) & (cast != F.floor(cast))
    return found


def _profile(raw: DataFrame, casts: dict[str, Column], needed: list[str], cfg: Any) -> Row:
    """One Spark job: per check and column the count of bad values and the smallest one as an
    example, kept rows, classes and content digest."""
    from pyspark.sql import functions as F

    kept = F.lit(True)
    for column in needed:
        kept = kept & casts[column].isNotNull()
    row_hash = F.xxhash64(*casts.values())
    checks = []
    for key, bad in _problems(raw, casts, cfg).items():
        given = F.col(quoted(key.partition(":")[2])).cast("string")
        checks += [F.sum(bad.cast("int")).alias(key), F.min(F.when(bad, given)).alias("e" + key)]
    try:
        profile = raw.agg(
            *checks,
            F.sum(kept.cast("int")).alias("kept"),
            F.array_sort(F.collect_set(F.when(kept, casts[cfg.label]))).alias("classes"),
            F.bit_xor(row_hash).alias("xor"),
            F.sum(row_hash.bitwiseAND(0xFFFFFFFF)).alias("low"),
        ).first()
    except Exception as exc:  # a file Spark cannot parse (a damaged .gz, a truncated Parquet)
        raise RunnerError(
            f"data.path: cannot read {resolve_path(cfg.path)} as {cfg.format}: {first_line(exc)}"
        ) from exc
    assert profile is not None  # a global aggregation always has one row
    return profile


def _check_values(profile: Row, cfg: Any) -> None:
    """Raise on the first column whose values failed a check of ``_problems``."""
    impute = str(getattr(cfg.missing, "value", cfg.missing)) == "impute"
    for key, count in profile.asDict().items():
        kind, _, column = key.partition(":")
        if not count or kind not in ("cast", "nan", "inf", "fraction"):
            continue
        if kind == "nan" and impute and column != cfg.label:
            continue  # the Imputer fills NaN as it fills nulls
        example = profile["e" + key]
        what = {
            "cast": f"do not cast to {cfg.schema[column]}",
            "nan": "are NaN (set data.missing=impute to fill them in features)",
            "inf": "are infinite",
            "fraction": "are not whole class indices",
        }[kind]
        name = f"label {column!r}" if column == cfg.label else f"column {column!r}"
        raise RunnerError(f"data: {name}: {count} value(s) {what}, e.g. {example!r}")


def _check_classes(classes: list[int], cfg: Any) -> None:
    """Labels are Spark class indices: k classes are exactly 0..k-1, k = len(data.class_names)
    when names are given. Spark would otherwise make a class per index up to the largest label
    (label 7: an 8-class model), and names would be paired with the wrong classes."""
    label, names = cfg.label, list(cfg.class_names or [])
    if len(classes) < 2:
        raise RunnerError(f"data: label {label!r} has a single class {classes}; need >= 2")
    k = len(names) or len(classes)
    outside = [c for c in classes if not 0 <= c < k]
    shown = classes if len(classes) <= 10 else [*classes[:10], "..."]
    where = f"data.class_names has {k} names" if names else f"{k} classes were found"
    if outside:
        raise RunnerError(
            f"data: label {label!r} has value(s) {outside[:_SHOWN]} outside 0..{k - 1} ({where}); "
            f"labels must be class indices 0..k-1, found {shown}"
        )
    if names and len(classes) != k:
        raise RunnerError(
            f"data.class_names has {k} names {names} but label {label!r} has {len(classes)} "
            f"classes {shown}"
        )


def _prepare(spark: SparkSession, cfg: Any) -> Dataset:
    from pyspark.sql import functions as F

    raw = _read(spark, cfg)
    casts = _casts(raw, cfg)
    features = feature_columns(cfg)
    needed = [*features, cfg.label] if cfg.missing == "drop" else [cfg.label]
    profile = _profile(raw, casts, needed, cfg)
    _check_values(profile, cfg)
    rows, classes = int(profile["kept"] or 0), [int(c) for c in profile["classes"]]
    if rows == 0:
        raise RunnerError(f"data: no rows left after dropping rows with missing {needed}")
    _check_classes(classes, cfg)
    # not dropna: it parses column names, so a dotted one failed. NaN needs no test here: in a
    # needed column it was refused above.
    kept = F.lit(True)
    for column in needed:
        kept = kept & F.col(quoted(column)).isNotNull()
    clean = raw.select(*casts.values()).where(kept)
    train, test = clean.randomSplit([cfg.split.train, cfg.split.test], seed=int(cfg.split.seed))
    # randomSplit sorts every partition each time a split is computed (to split the same way
    # twice); caching the splits, not their source, sorts once: fit and evaluate were ~1.7x
    # faster on 1M rows, same memory.
    train, test = train.cache(), test.cache()
    test_rows = test.count()
    if test_rows in (0, rows):
        raise RunnerError(
            f"data.split: {cfg.split.train}/{cfg.split.test} of {rows} rows leaves "
            f"{'test' if test_rows == 0 else 'train'} empty"
        )
    digest = f"{(profile['xor'] or 0) & 2**64 - 1:016x}{(profile['low'] or 0) & 2**32 - 1:08x}"
    return Dataset(
        train=train,
        test=test,
        path=resolve_path(cfg.path),
        digest=digest,
        rows=rows,
        train_rows=rows - test_rows,
        test_rows=test_rows,
        features=features,
        label=cfg.label,
        classes=classes,
    )


# ---- format_of: a minimal stand-in written for `runner predict` (issue 14, engineer N).
# Engineer D's data.format_of replaces this whole block when the branches merge. ----


def format_of(path: str, given: str | None = None) -> str:
    """``given`` if set, else the format told by the path: its extension (a codec's ending
    ignored), or for a local folder the extension its data files share. RunnerError if neither."""
    if given:
        return given
    local = resolve_path(path) if "://" not in path or path.startswith("file:") else path
    names = [os.path.basename(local.rstrip("/"))]
    if os.path.isdir(local):
        names = [n for n in os.listdir(local) if not n.startswith(("_", "."))]
    found = {fmt for fmt in map(_format_of_name, names) if fmt}
    if len(found) == 1:
        return found.pop()
    raise RunnerError(f"{path}: cannot tell its format from its name"
                      + (f" (files of {sorted(found)})" if found else ""))


def _format_of_name(name: str) -> str | None:
    for codec in CODEC_ENDINGS[1:]:
        name = name.removesuffix(codec)
    for fmt, endings in DATA_ENDINGS.items():
        if name.endswith(endings):
            return fmt
    return None
