"""Load, type, check and split the data set described by the ``data`` config.

Every check that can fail on user data happens here and raises RunnerError with one line naming
the column or setting. Prepared splits are cached per process, keyed by the data config, so sweep
trials reuse them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from omegaconf import OmegaConf

from runner.errors import RunnerError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_cache: dict[str, Dataset] = {}


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
    if not feature_columns(cfg):
        raise RunnerError("data.schema lists no feature columns besides the label")
    if cfg.split.train <= 0 or cfg.split.test <= 0:
        raise RunnerError("data.split.train and data.split.test must both be > 0")
    resolve_path(cfg.path)


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
        raise RunnerError(f"data.path: cannot read {path} as {cfg.format}: {_first_line(exc)}")


def _typed(raw: DataFrame, cfg: Any) -> DataFrame:
    """Cast every schema column; raise when a column is missing or a value does not cast."""
    from pyspark.sql import functions as F

    missing = [c for c in cfg.schema if c not in raw.columns]
    if missing:
        raise RunnerError(f"data: column(s) {missing} not found; the file has {raw.columns}")
    casts = {c: F.col(f"`{c}`").try_cast(t) for c, t in cfg.schema.items()}
    failed = {
        c: F.col(f"`{c}`").isNotNull() & (F.trim(F.col(f"`{c}`").cast("string")) != "")
        & cast.isNull()
        for c, cast in casts.items()
    }
    counts = raw.agg(*[F.sum(f.cast("int")).alias(c) for c, f in failed.items()]).first()
    for column, count in (counts.asDict() if counts else {}).items():
        if count:
            example = raw.where(failed[column]).select(f"`{column}`").first()
            raise RunnerError(
                f"data: column {column!r}: {count} value(s) do not cast to "
                f"{cfg.schema[column]}, e.g. {example[0] if example else '?'!r}"
            )
    return raw.select([cast.alias(c) for c, cast in casts.items()])


def _digest(df: DataFrame) -> str:
    """Order-independent content hash of the typed rows (xor and low-word sum of row hashes)."""
    from pyspark.sql import functions as F

    row = F.xxhash64(*[F.col(f"`{c}`") for c in df.columns])
    xor, low = df.agg(F.bit_xor(row), F.sum(row.bitwiseAND(0xFFFFFFFF))).first()
    return f"{(xor or 0) & 0xFFFFFFFFFFFFFFFF:016x}{(low or 0) & 0xFFFFFFFF:08x}"


def _prepare(spark: SparkSession, cfg: Any) -> Dataset:
    typed = _typed(_read(spark, cfg), cfg)
    features = feature_columns(cfg)
    needed = [*features, cfg.label] if cfg.missing == "drop" else [cfg.label]
    clean = typed.dropna(subset=needed).cache()
    stats = clean.groupBy(cfg.label).count().collect()
    rows = sum(r["count"] for r in stats)
    if rows == 0:
        raise RunnerError(f"data: no rows left after dropping rows with missing {needed}")
    classes = sorted(int(r[cfg.label]) for r in stats)
    if len(classes) < 2:
        raise RunnerError(f"data: label {cfg.label!r} has a single class {classes}; need >= 2")
    train, test = clean.randomSplit([cfg.split.train, cfg.split.test], seed=int(cfg.split.seed))
    train, test = train.cache(), test.cache()
    train_rows, test_rows = train.count(), test.count()
    if test_rows == 0 or train_rows == 0:
        raise RunnerError(
            f"data.split: {cfg.split.train}/{cfg.split.test} of {rows} rows leaves "
            f"{'test' if test_rows == 0 else 'train'} empty"
        )
    return Dataset(
        train=train, test=test, path=resolve_path(cfg.path), digest=_digest(typed), rows=rows,
        train_rows=train_rows, test_rows=test_rows, features=features, label=cfg.label,
        classes=classes,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
