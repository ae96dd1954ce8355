"""The test split: a random part of ``data.path`` (``data.split``), or a file of its own.

With ``data.test_path`` the whole of ``data.path`` is training (and, in sweeps, validation) data
and the test file is the test split: read in its own format (told by its name, else
``data.path``'s), with ``data.path``'s options and column types, its rows with a missing needed
value dropped as ``data.path``'s are. Its columns must be ``data.path``'s: checked before the
JVM starts where both files can be read without it (``check_config``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.data import formats, missing, schema
from runner.data.schema import quoted
from runner.errors import RunnerError, first_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from runner.data.spec import DataSpec


def check_config(spec: DataSpec) -> None:
    """Before the JVM: the test file exists, reads, and has ``data.path``'s columns."""
    if spec.test_path is None or spec.test_format is None:
        return
    if "://" in spec.test_path:
        return  # not readable before the JVM: Spark's read checks it
    formats.check_files(spec.test_path, spec.test_format)
    theirs = schema.infer(spec.test_path, spec.test_format, dict(spec.options), spec.label,
                          spec.na_values)
    if theirs is None:
        return
    ours = list(spec.schema)
    if sorted(ours) != sorted(theirs):
        only_ours = [c for c in ours if c not in theirs]
        only_test = [c for c in theirs if c not in ours]
        raise RunnerError(
            f"data.test_path: {spec.test_source} has other columns than data.path "
            f"{spec.source}: missing {only_ours}, extra {only_test}")


def split(spark: SparkSession, spec: DataSpec, clean: DataFrame, needed: list[str]
          ) -> tuple[DataFrame, DataFrame]:
    """Train and test: ``clean`` split by ``data.split``, or all of it and the test file."""
    if spec.test_path is None:
        train, test = clean.randomSplit([spec.split.train, spec.split.test],
                                        seed=spec.split.seed)
        return train, test
    return clean, read_test(spark, spec, needed)


def read_test(spark: SparkSession, spec: DataSpec, needed: list[str]) -> DataFrame:
    """The test file with ``data.path``'s column types; a row with a missing ``needed`` value
    is dropped, a value that does not cast is refused in one line."""
    from pyspark.sql import functions as F

    assert spec.test_path is not None
    assert spec.test_format is not None
    try:
        raw = spark.read.format(spec.test_format).options(**spec.options).load(spec.test_path)
    except Exception as exc:
        raise RunnerError(f"data.test_path: cannot read {spec.test_path} as "
                          f"{spec.test_format}: {first_line(exc)}") from exc
    raw = missing.markers_as_null(raw, spec.test_format, list(spec.na_values))
    types = dict(spec.schema)
    absent = [c for c in types if c not in raw.columns]
    if absent:
        raise RunnerError(f"data.test_path: column(s) {absent} not found; the file has "
                          f"{raw.columns}")
    casts = {c: F.col(quoted(c)).try_cast(t).alias(c) for c, t in types.items()}
    failed = F.lit(None).cast("string")
    for c, cast in casts.items():  # the first column with a value that does not cast
        given = F.col(quoted(c)).cast("string")
        failed = F.coalesce(failed, F.when(given.isNotNull() & (F.trim(given) != "")
                                           & cast.isNull(), F.concat(F.lit(f"{c}: "), given)))
    bad = raw.select(failed.alias("bad")).where(F.col("bad").isNotNull()).first()
    if bad is not None:
        raise RunnerError(f"data.test_path: a value does not cast to data.path's type, column "
                          f"{bad[0]!r}")
    kept = F.lit(True)
    for column in needed:
        kept = kept & casts[column].isNotNull()
    return raw.select(*casts.values()).where(kept)
