"""Missing values as data files write them: ``NA`` (R), an empty cell (pandas, Spark), a quoted
empty ``""`` (Excel), ``NULL``, ``N/A``, ``NaN``, ... ``data.na_values`` lists the markers
(default: pandas' own list, so inference and Spark's read agree).

pandas applies the list when it infers the schema; Spark's CSV reader knows one ``nullValue``,
so the other markers are mapped to null here, on the raw text, before any column is cast. Rows
whose label is missing are dropped with a note (``data.missing`` applies to features only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner import console
from runner.data.formats import data_files
from runner.data.schema import pandas_csv, quoted

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row

    from runner.data.spec import DataSpec

# the profile's counts: all rows, rows whose label is missing, missing values per feature
ALL_ROWS, MISSING_LABELS, MISSING_IN = "all_rows", "missing_label", "missing_in:"
# rows dropped for a missing feature are noted above this share of all rows: the lab's 2 empty
# rows of 344 are its design (data.missing=drop), penguins-raw.csv's 310 are a surprise
NOTED_SHARE = 0.01
_SHOWN = 4  # markers named per column


def as_null(raw: DataFrame, spec: DataSpec) -> DataFrame:
    """``raw`` with every marker in its text columns made null (CSV only)."""
    return markers_as_null(raw, spec.format, list(spec.na_values))


def markers_as_null(raw: DataFrame, data_format: str, found: list[str]) -> DataFrame:
    """``raw`` read as ``data_format`` with the ``found`` markers in its text columns made null
    (CSV only: other formats have nulls of their own). ``runner predict`` reads its input with
    the markers of the model's training run."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    if data_format != "csv" or not found:
        return raw
    text = {f.name for f in raw.schema.fields if isinstance(f.dataType, StringType)}
    return raw.select(*[
        F.when(_col(c).isin(found), F.lit(None).cast("string")).otherwise(_col(c)).alias(c)
        if c in text else _col(c) for c in raw.columns])


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(quoted(name))


def profile_columns(spec: DataSpec, needed: list[str]) -> list[Column]:
    """Aggregates for the data's profile job: all rows, the rows whose label is missing, and per
    feature column of ``needed`` (a missing value drops the row) its missing values."""
    from pyspark.sql import functions as F

    label = spec.label
    return [F.count(F.lit(1)).alias(ALL_ROWS),
            F.sum(_col(label).isNull().cast("int")).alias(MISSING_LABELS),
            *[F.sum(_col(c).isNull().cast("int")).alias(f"{MISSING_IN}{c}")
              for c in needed if c != label]]


def note_dropped(profile: Row, spec: DataSpec) -> None:
    """One note per reason rows were dropped: a missing label, a missing feature value (over
    ``NOTED_SHARE`` of the rows; with the column missing most, as a hint where to look)."""
    found = profile.asDict()
    labels = int(found.get(MISSING_LABELS) or 0)
    if labels:
        console.note(f"data: {labels} row(s) with a missing label {spec.label!r} dropped "
                     "(data.na_values lists what counts as missing)")
    dropped = int(found.get(ALL_ROWS) or 0) - int(found.get("kept") or 0) - labels
    per_column = {k[len(MISSING_IN):]: int(v or 0) for k, v in found.items()
                  if k.startswith(MISSING_IN)}
    if dropped > found[ALL_ROWS] * NOTED_SHARE and per_column:
        worst = max(per_column, key=lambda c: per_column[c])
        console.note(f"data: {dropped} of {found[ALL_ROWS]} row(s) dropped for a missing feature "
                     f"value (data.missing=drop), most for {worst!r} ({per_column[worst]} "
                     "missing): set data.missing=impute or leave such columns out")


def counts(spec: DataSpec) -> dict[str, tuple[int, list[str]]]:
    """Column -> (missing cells, markers seen) of a local CSV source, read without the JVM; empty
    for other formats and remote data. An empty unquoted cell shows as ``''``."""
    import pandas as pd

    path = spec.path
    if "://" in path or spec.format != "csv":
        return {}
    options, found = dict(spec.options), list(spec.na_values)
    header = options.get("header", "false").lower() == "true"
    seen: dict[str, dict[str, int]] = {}
    for file in data_files(path, "csv"):
        frame = pd.read_csv(file, **pandas_csv(options), dtype=str, keep_default_na=False)
        if not header:
            frame.columns = [f"_c{i}" for i in range(len(frame.columns))]
        for column in frame.columns:
            hits = frame[column][frame[column].isin(found)].value_counts()
            per = seen.setdefault(str(column), {})
            for marker, n in hits.items():
                per[str(marker)] = per.get(str(marker), 0) + int(n)
    return {c: (sum(m.values()), sorted(m, key=lambda k: -m[k])[:_SHOWN])
            for c, m in seen.items()}
