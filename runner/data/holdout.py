"""The test split: a random part of ``data.path`` (``data.split``), or a file of its own.

With ``data.test_path`` the whole of ``data.path`` is training (and, in sweeps, validation) data
and the test file is the test split: read in its own format (told by its name, else
``data.format``), with ``data.path``'s options and column types, its rows with a missing needed
value dropped as ``data.path``'s are. Its columns must be ``data.path``'s: checked before the
JVM starts where both files can be read without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from runner.data.formats import check_files, format_of, resolve_path
from runner.data.schema import quoted, reader_options, schema_of
from runner.errors import RunnerError, first_line

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def of_file(cfg: Any) -> Any:
    """``cfg`` (data) pointed at the test file: its own format, the same options."""
    test = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    test.path = test.written_for = str(cfg.test_path)
    test.format = _format(cfg)
    return test


def _format(cfg: Any) -> str:
    path = resolve_path(str(cfg.test_path))
    try:
        return format_of(path, None)
    except RunnerError:  # a name that says nothing: the training data's format
        return format_of(path, cfg.format or format_of(resolve_path(cfg.path), None))


def check_config(cfg: Any) -> None:
    """Before the JVM: the test file exists, reads, and has ``data.path``'s columns."""
    if not cfg.get("test_path"):
        return
    test = of_file(cfg)
    path = resolve_path(test.path)
    if "://" not in path:
        check_files(path, test.format)
    test.schema = {}  # the file's own columns, not those data.schema lists
    try:
        theirs = list(schema_of(test))
    except RunnerError:  # not readable before the JVM (remote): Spark's read checks it
        return
    ours = list(schema_of(cfg))
    if sorted(ours) != sorted(theirs):
        only_ours = [c for c in ours if c not in theirs]
        only_test = [c for c in theirs if c not in ours]
        raise RunnerError(
            f"data.test_path: {cfg.test_path} has other columns than data.path {cfg.path}: "
            f"missing {only_ours}, extra {only_test}")


def split(spark: SparkSession, cfg: Any, clean: DataFrame, needed: list[str]
          ) -> tuple[DataFrame, DataFrame]:
    """Train and test: ``clean`` split by ``data.split``, or all of it and the test file."""
    if not cfg.get("test_path"):
        train, test = clean.randomSplit([cfg.split.train, cfg.split.test],
                                        seed=int(cfg.split.seed))
        return train, test
    return clean, read_test(spark, cfg, needed)


def read_test(spark: SparkSession, cfg: Any, needed: list[str]) -> DataFrame:
    """The test file with ``data.path``'s column types; a row with a missing ``needed`` value
    is dropped, a value that does not cast is refused in one line."""
    from pyspark.sql import functions as F

    test = of_file(cfg)
    path = resolve_path(test.path)
    try:
        raw = spark.read.format(test.format).options(**reader_options(test)).load(path)
    except Exception as exc:
        raise RunnerError(f"data.test_path: cannot read {path} as {test.format}: "
                          f"{first_line(exc)}") from exc
    types = schema_of(cfg)
    missing = [c for c in types if c not in raw.columns]
    if missing:
        raise RunnerError(f"data.test_path: column(s) {missing} not found; the file has "
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
