"""Read, type, check and split the data set described by the ``data`` config.

Every check of user data raises RunnerError with one line naming the column or setting: those
before the JVM starts are ``checks``; the values are checked here, in the one Spark job that
profiles the data. Prepared splits are cached in the task's RunContext, keyed by the data
spec, so sweep trials reuse them. The data is described by its ``DataSpec`` (``spec``), which
resolves where it is and its format (``formats``) and its columns and types (``schema``); its
classes: ``labels``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.config.types import FLOATING
from runner.context import RunContext, config_key
from runner.data import holdout, missing
from runner.data.labels import label_classes
from runner.data.schema import quoted
from runner.errors import RunnerError, first_line

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

    from runner.data.spec import DataSpec


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


def settled(cfg: Any, spec: DataSpec) -> Any:
    """A copy of a run's whole config with the schema, class names and format the run used
    (``spec``) written out in ``data``: what is logged, so the config artifact says how the data
    was read.
    Not while another thread reads ``cfg``: OmegaConf's deepcopy unhooks the source's nodes from
    their parents while it copies them."""
    import copy

    from omegaconf import read_write

    out = copy.deepcopy(cfg)
    with read_write(out):
        out.data.schema = dict(spec.schema)
        out.data.class_names = list(spec.class_names)
        out.data.format = spec.format
        out.data.written_for = spec.written_for
    return out


def load(spark: SparkSession, spec: DataSpec, context: RunContext | None = None,
         read: list[str] | None = None) -> Dataset:
    """Read, type, clean and split the data; kept in ``context`` for the same spec (a sweep's
    trials share it), prepared afresh without one.

    ``read``: the feature columns the pipeline reads (``features.read_columns``; every feature
    column by default). Only they and the label are checked and, with ``data.missing=drop``,
    make a row be dropped: a null in a column no stage reads (an ID) costs no row.
    """
    read = spec.feature_columns if read is None else list(read)
    if context is None:
        return _prepare(spark, spec, read)
    key = config_key(spec.key, read)
    with context.data_lock:  # trials asking at once wait for one preparation
        if key not in context.datasets:
            context.datasets[key] = _prepare(spark, spec, read)
        dataset: Dataset = context.datasets[key]
        return dataset


def _read(spark: SparkSession, spec: DataSpec) -> DataFrame:
    path = spec.path
    data_format = spec.format
    try:
        raw = spark.read.format(data_format).options(**spec.options).load(path)
    except Exception as exc:
        raise RunnerError(
            f"data.path: cannot read {path} as {data_format}: {first_line(exc)}"
        ) from exc
    return missing.as_null(raw, spec)


def _casts(raw: DataFrame, spec: DataSpec) -> dict[str, Column]:
    """One typed column per schema entry; raise when a schema column is not in the data."""
    from pyspark.sql import functions as F

    schema = spec.schema
    missing = [c for c in schema if c not in raw.columns]
    if missing:
        raise RunnerError(f"data: column(s) {missing} not found; the file has {raw.columns}")
    return {c: F.col(quoted(c)).try_cast(t).alias(c) for c, t in schema.items()}


def _problems(raw: DataFrame, casts: dict[str, Column], checked: list[str], spec: DataSpec
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
        if spec.schema[c].strip().lower() in FLOATING:
            found[f"nan:{c}"] = F.isnan(cast)
            found[f"inf:{c}"] = cast.isin(float("inf"), float("-inf"))
    return found


def _profile(raw: DataFrame, casts: dict[str, Column], needed: list[str], checked: list[str],
             spec: DataSpec) -> Row:
    """One Spark job: per check and column of ``checked`` the count of bad values and the
    smallest one as an example, kept rows (no null in ``needed``), classes and content digest."""
    from pyspark.sql import functions as F

    kept = F.lit(True)
    for column in needed:
        kept = kept & casts[column].isNotNull()
    row_hash = F.xxhash64(*casts.values())
    checks = []
    for key, bad in _problems(raw, casts, checked, spec).items():
        given = F.col(quoted(key.partition(":")[2])).cast("string")
        checks += [F.sum(bad.cast("int")).alias(key), F.min(F.when(bad, given)).alias("e" + key)]
    try:
        profile = raw.agg(
            *checks,
            *missing.profile_columns(spec, needed),
            F.sum(kept.cast("int")).alias("kept"),
            F.array_sort(F.collect_set(F.when(kept, casts[spec.label]))).alias("classes"),
            F.bit_xor(row_hash).alias("xor"),
            F.sum(row_hash.bitwiseAND(0xFFFFFFFF)).alias("low"),
        ).first()
    except Exception as exc:  # a file Spark cannot parse (a damaged .gz, a truncated Parquet)
        raise RunnerError(
            f"data.path: cannot read {spec.path} as {spec.format}: {first_line(exc)}"
        ) from exc
    assert profile is not None  # a global aggregation always has one row
    return profile


def _check_values(profile: Row, spec: DataSpec) -> None:
    """Raise on the first column whose values failed a check of ``_problems``."""
    impute = spec.imputes
    for key, count in profile.asDict().items():
        kind, _, column = key.partition(":")
        if not count or kind not in ("cast", "nan", "inf"):
            continue
        if kind == "nan" and impute and column != spec.label:
            continue  # the Imputer fills NaN as it fills nulls
        example = profile["e" + key]
        what = {
            "cast": f"do not cast to {spec.schema[column]}",
            "nan": "are NaN (set data.missing=impute to fill them in features)",
            "inf": "are infinite",
        }[kind]
        name = f"label {column!r}" if column == spec.label else f"column {column!r}"
        raise RunnerError(f"data: {name}: {count} value(s) {what}, e.g. {example!r}")


def _prepare(spark: SparkSession, spec: DataSpec, features: list[str] | None = None
             ) -> Dataset:
    from pyspark.sql import functions as F

    features = spec.feature_columns if features is None else features
    raw = _read(spark, spec)
    casts = _casts(raw, spec)
    needed = [*features, spec.label] if spec.missing == "drop" else [spec.label]
    profile = _profile(raw, casts, needed, [*features, spec.label], spec)
    _check_values(profile, spec)
    missing.note_dropped(profile, spec)
    rows = int(profile["kept"] or 0)
    if rows == 0:
        raise RunnerError(f"data: no rows left after dropping rows with missing {needed}")
    # not dropna: it parses column names, so a dotted one failed. NaN needs no test here: in a
    # needed column it was refused above.
    kept = F.lit(True)
    for column in needed:
        kept = kept & F.col(quoted(column)).isNotNull()
    clean = raw.select(*casts.values()).where(kept)
    classes, class_names, label_values = label_classes(clean, list(profile["classes"]), spec)
    split = spec.split
    train, test = holdout.split(spark, spec, clean, needed)  # data.test_path: all is train
    # randomSplit sorts every partition each time a split is computed (to split the same way
    # twice); caching the splits, not their source, sorts once: fit and evaluate were ~1.7x
    # faster on 1M rows, same memory.
    train, test = train.cache(), test.cache()
    test_rows = test.count()
    train_rows = rows if spec.test_path else rows - test_rows
    if 0 in (test_rows, train_rows):
        raise RunnerError(
            f"data.split: {split.train}/{split.test} of {rows} rows leaves "
            f"{'test' if test_rows == 0 else 'train'} empty"
        )
    digest = f"{(profile['xor'] or 0) & 2**64 - 1:016x}{(profile['low'] or 0) & 2**32 - 1:08x}"
    return Dataset(
        train=train,
        test=test,
        path=spec.path,
        digest=digest,
        rows=rows,
        train_rows=train_rows,
        test_rows=test_rows,
        features=features,
        label=spec.label,
        classes=classes,
        class_names=class_names,
        label_values=label_values,
    )
