"""Read, type, check and split the data set described by the ``data`` config.

Every check that can fail on user data happens here and raises RunnerError with one line naming
the column or setting: ``check_config`` before the JVM starts, the rest in the one Spark job that
profiles the data. Prepared splits are cached in the task's RunContext, keyed by the data
config, so sweep trials reuse them. Where the data is and its format: ``formats``; its columns
and types: ``schema``; its classes: ``labels``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.config.types import FLOATING
from runner.context import RunContext, config_key
from runner.data import missing
from runner.data.formats import check_files, format_of, resolve_path
from runner.data.labels import class_names_of, label_classes
from runner.data.schema import (
    check_name,
    check_type,
    feature_columns,
    quoted,
    reader_options,
    schema_of,
)
from runner.errors import RunnerError, first_line

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession



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
    classes: list[int]  # Spark's class indices 0..k-1
    # the name of each class index: data.class_names, or the label values when runner indexes them
    class_names: list[str] = field(default_factory=list)
    # the label's values in class-index order when a StringIndexer maps them to indices; empty
    # when the label already holds the indices
    label_values: list[Any] = field(default_factory=list)

    @property
    def indexed(self) -> bool:
        """Whether the pipeline indexes the label (its values are not the class indices)."""
        return bool(self.label_values)


def check_config(cfg: Any) -> None:
    """Checks that need no data: run before the JVM starts."""
    for column, type_ in cfg.schema.items():
        check_type(column, str(type_))
    if cfg.split.train <= 0 or cfg.split.test <= 0:
        raise RunnerError("data.split.train and data.split.test must both be > 0")
    path = resolve_path(cfg.path)
    if "://" not in path and "pathGlobFilter" not in cfg.options:
        check_files(path, format_of(path, cfg.format))
    schema = schema_of(cfg)
    if cfg.label not in schema:
        odd = len(schema) == 1 and any(sep in next(iter(schema)) for sep in ";|\t,")
        hint = "; is data.options.sep right?" if odd else ""
        raise RunnerError(
            f"data.label {cfg.label!r} is not a column of {cfg.path}; it has {list(schema)}{hint}"
        )
    for column in schema:
        check_name(column)
    if not feature_columns(cfg):
        raise RunnerError(f"data: {cfg.path} has no feature columns besides the label")


def settled(cfg: Any) -> Any:
    """A copy of a run's whole config with the schema, class names and format the run used
    written out in ``data``: what is logged, so the config artifact says how the data was read.
    Not while another thread reads ``cfg``: OmegaConf's deepcopy unhooks the source's nodes from
    their parents while it copies them."""
    import copy

    from omegaconf import read_write

    out = copy.deepcopy(cfg)
    with read_write(out):
        out.data.schema = schema_of(cfg.data)
        out.data.class_names = class_names_of(cfg.data)
        out.data.format = format_of(resolve_path(cfg.data.path), cfg.data.format)
    return out


def load(spark: SparkSession, cfg: Any, context: RunContext | None = None,
         read: list[str] | None = None) -> Dataset:
    """Read, type, clean and split the data; kept in ``context`` for the same config (a sweep's
    trials share it), prepared afresh without one.

    ``read``: the feature columns the pipeline reads (``features.read_columns``; every feature
    column by default). Only they and the label are checked and, with ``data.missing=drop``,
    make a row be dropped: a null in a column no stage reads (an ID) costs no row.
    """
    read = feature_columns(cfg) if read is None else list(read)
    if context is None:
        return _prepare(spark, cfg, read)
    key = config_key(cfg, read)
    with context.data_lock:  # trials asking at once wait for one preparation
        if key not in context.datasets:
            context.datasets[key] = _prepare(spark, cfg, read)
        dataset: Dataset = context.datasets[key]
        return dataset


def _read(spark: SparkSession, cfg: Any) -> DataFrame:
    path = resolve_path(cfg.path)
    data_format = format_of(path, cfg.format)
    try:
        raw = spark.read.format(data_format).options(**reader_options(cfg)).load(path)
    except Exception as exc:
        raise RunnerError(
            f"data.path: cannot read {path} as {data_format}: {first_line(exc)}"
        ) from exc
    return missing.as_null(raw, cfg)


def _casts(raw: DataFrame, cfg: Any) -> dict[str, Column]:
    """One typed column per schema entry; raise when a schema column is not in the data."""
    from pyspark.sql import functions as F

    schema = schema_of(cfg)
    missing = [c for c in schema if c not in raw.columns]
    if missing:
        raise RunnerError(f"data: column(s) {missing} not found; the file has {raw.columns}")
    return {c: F.col(quoted(c)).try_cast(t).alias(c) for c, t in schema.items()}


def _problems(raw: DataFrame, casts: dict[str, Column], checked: list[str], cfg: Any
              ) -> dict[str, Column]:
    """Per check and column of ``checked``, a condition a value must not meet: failed cast, NaN,
    infinity. The profile counts each and keeps an example of the raw text. Any other label
    value is a class (``labels.label_classes``)."""
    from pyspark.sql import functions as F

    found: dict[str, Column] = {}
    for c, cast in casts.items():
        if c not in checked:
            continue
        given = F.col(quoted(c))
        found[f"cast:{c}"] = (
            given.isNotNull() & (F.trim(given.cast("string")) != "") & cast.isNull()
        )
        if schema_of(cfg)[c].strip().lower() in FLOATING:
            found[f"nan:{c}"] = F.isnan(cast)
            found[f"inf:{c}"] = cast.isin(float("inf"), float("-inf"))
    return found


def _profile(raw: DataFrame, casts: dict[str, Column], needed: list[str], checked: list[str],
             cfg: Any) -> Row:
    """One Spark job: per check and column of ``checked`` the count of bad values and the
    smallest one as an example, kept rows (no null in ``needed``), classes and content digest."""
    from pyspark.sql import functions as F

    kept = F.lit(True)
    for column in needed:
        kept = kept & casts[column].isNotNull()
    row_hash = F.xxhash64(*casts.values())
    checks = []
    for key, bad in _problems(raw, casts, checked, cfg).items():
        given = F.col(quoted(key.partition(":")[2])).cast("string")
        checks += [F.sum(bad.cast("int")).alias(key), F.min(F.when(bad, given)).alias("e" + key)]
    try:
        profile = raw.agg(
            *checks,
            *missing.profile_columns(cfg, needed),
            F.sum(kept.cast("int")).alias("kept"),
            F.array_sort(F.collect_set(F.when(kept, casts[cfg.label]))).alias("classes"),
            F.bit_xor(row_hash).alias("xor"),
            F.sum(row_hash.bitwiseAND(0xFFFFFFFF)).alias("low"),
        ).first()
    except Exception as exc:  # a file Spark cannot parse (a damaged .gz, a truncated Parquet)
        raise RunnerError(
            f"data.path: cannot read {resolve_path(cfg.path)} as "
            f"{format_of(resolve_path(cfg.path), cfg.format)}: {first_line(exc)}"
        ) from exc
    assert profile is not None  # a global aggregation always has one row
    return profile


def _check_values(profile: Row, cfg: Any) -> None:
    """Raise on the first column whose values failed a check of ``_problems``."""
    impute = str(getattr(cfg.missing, "value", cfg.missing)) == "impute"
    for key, count in profile.asDict().items():
        kind, _, column = key.partition(":")
        if not count or kind not in ("cast", "nan", "inf"):
            continue
        if kind == "nan" and impute and column != cfg.label:
            continue  # the Imputer fills NaN as it fills nulls
        example = profile["e" + key]
        what = {
            "cast": f"do not cast to {schema_of(cfg)[column]}",
            "nan": "are NaN (set data.missing=impute to fill them in features)",
            "inf": "are infinite",
        }[kind]
        name = f"label {column!r}" if column == cfg.label else f"column {column!r}"
        raise RunnerError(f"data: {name}: {count} value(s) {what}, e.g. {example!r}")


def _prepare(spark: SparkSession, cfg: Any, features: list[str] | None = None) -> Dataset:
    from pyspark.sql import functions as F

    features = feature_columns(cfg) if features is None else features
    raw = _read(spark, cfg)
    casts = _casts(raw, cfg)
    needed = [*features, cfg.label] if cfg.missing == "drop" else [cfg.label]
    profile = _profile(raw, casts, needed, [*features, cfg.label], cfg)
    _check_values(profile, cfg)
    missing.note_dropped(profile, cfg)
    rows = int(profile["kept"] or 0)
    if rows == 0:
        raise RunnerError(f"data: no rows left after dropping rows with missing {needed}")
    # not dropna: it parses column names, so a dotted one failed. NaN needs no test here: in a
    # needed column it was refused above.
    kept = F.lit(True)
    for column in needed:
        kept = kept & F.col(quoted(column)).isNotNull()
    clean = raw.select(*casts.values()).where(kept)
    classes, class_names, label_values = label_classes(clean, list(profile["classes"]), cfg)
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
        class_names=class_names,
        label_values=label_values,
    )
