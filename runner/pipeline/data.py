"""Load, type, check and split the data set described by the ``data`` config.

Every check that can fail on user data happens here and raises RunnerError with one line naming
the column or setting. Prepared splits are cached in the task's RunContext, keyed by the data
config, so sweep trials reuse them.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from runner.errors import RunnerError, first_line
from runner.pipeline.context import RunContext, config_key

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

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
# the first bytes of a file in each binary format: a data file with no known ending is sniffed
MAGIC = {b"PAR1": "parquet", b"ORC": "orc", b"Obj\x01": "avro"}
# type names of pandas, numpy or other tools, told as the Spark name meant
TYPE_ALIASES = {"float64": "double", "float32": "float", "int64": "bigint", "int32": "int",
                "str": "string", "object": "string", "bool": "boolean", "text": "string"}
INFER_ROWS = 100_000  # CSV/JSON rows pandas reads to infer a local file's column types
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
    return [c for c in schema_of(cfg) if c != cfg.label]


def check_config(cfg: Any) -> None:
    """Checks that need no data: run before the JVM starts."""
    for column, type_ in cfg.schema.items():
        _check_type(column, str(type_))
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
        _check_name(column)
    if not feature_columns(cfg):
        raise RunnerError(f"data: {cfg.path} has no feature columns besides the label")


def own_file(cfg: Any) -> bool:
    """Whether the data config's ``schema`` and ``class_names`` describe ``data.path``: it is
    ``data.written_for`` (or that is null), or it has at least half the columns ``data.schema``
    lists (a copy or variant of that data: a listed column it lacks is named as missing; a few
    ``+data.schema.<column>`` entries for another data set do not make it one).
    ``runner data.path=wine.csv`` with the default penguins config must not read wine with the
    penguin columns and class names."""
    written_for = cfg.get("written_for")
    if not written_for or written_for == cfg.path:
        return True
    try:
        if resolve_path(str(written_for)) == resolve_path(str(cfg.path)):
            return True
        inferred = _inferred_of(cfg)
    except RunnerError:  # a missing or unreadable file: check_config names it
        return True
    listed = set(cfg.schema or {})
    return inferred is None or 2 * len(listed & set(inferred)) >= len(listed)


def class_names_of(cfg: Any) -> list[str]:
    """``data.class_names``, or none when they were written for another file (``own_file``)."""
    return [str(n) for n in cfg.class_names or []] if own_file(cfg) else []


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


def schema_of(cfg: Any) -> dict[str, str]:
    """Column -> Spark SQL type of the data a run reads: every column of the source in its order,
    types inferred without the JVM (CSV and JSON sampled with pandas, Parquet and ORC from
    pyarrow's metadata), listed ``data.schema`` entries winning. A remote or Avro source is not
    inferred: there ``data.schema`` lists the columns read. Cached per process.
    """
    listed = {str(c): str(t) for c, t in (cfg.schema or {}).items()}
    inferred = _inferred_of(cfg)
    if inferred is None:
        if not listed:
            raise RunnerError(
                f"data.schema: runner cannot read the columns of {cfg.path} before Spark "
                "starts; list them: data.schema={column: type, ...}"
            )
        return listed
    if not own_file(cfg):  # entries for another file's columns are left out, the user's kept
        listed = {c: t for c, t in listed.items() if c in inferred}
    missing = [c for c in listed if c not in inferred]
    if missing:
        raise RunnerError(
            f"data.schema: column(s) {missing} not found in {cfg.path}; it has {list(inferred)}"
        )
    return {c: listed.get(c, t) for c, t in inferred.items()}


def reader_options(cfg: Any) -> dict[str, str]:
    """``data.options``, plus a tab separator for ``.tsv`` data given none."""
    options = {str(k): str(v) for k, v in (cfg.options or {}).items()}
    if "sep" not in options and "delimiter" not in options:
        path = resolve_path(str(cfg.path))
        local = os.path.isdir(path) and "://" not in path
        names = _data_files(path, "csv")[:1] if local else [path]
        if names and _is_data(names[0], (".tsv",)):
            options["sep"] = "\t"
    return options


def _inferred_of(cfg: Any) -> dict[str, str] | None:
    options = tuple(sorted(reader_options(cfg).items()))
    found = _inferred(resolve_path(str(cfg.path)), cfg.format, options, str(cfg.label))
    return None if found is None else dict(found)


@functools.lru_cache(maxsize=64)
def _inferred(path: str, given_format: str | None, options: tuple[tuple[str, str], ...],
              label: str) -> tuple[tuple[str, str], ...] | None:
    inferred = _infer(path, format_of(path, given_format), dict(options), label)
    return None if inferred is None else tuple(inferred.items())


def format_of(path: str, given: str | None) -> str:
    """``data.format`` if given, else the format a local or remote path's name says (codec
    endings allowed: ``x.csv.gz``), the format of a local folder's data files, or for a local file
    with no known ending the one its first bytes say (CSV when none)."""
    if given:
        return str(given)
    local = urlparse(path).path if urlparse(path).scheme in ("", "file") else None
    if local is not None and os.path.isdir(local):
        return _folder_format(local)
    named = _named_format(os.path.basename(urlparse(path).path.rstrip("/")))
    if named:
        return named
    if local is not None and os.path.isfile(local):
        with open(local, "rb") as stream:
            head = stream.read(4)
        return next((f for magic, f in MAGIC.items() if head.startswith(magic)), "csv")
    raise RunnerError(f"data.format: cannot tell the format of {path} from its name; set "
                      f"data.format (one of {', '.join(DATA_ENDINGS)})")


def _named_format(name: str) -> str | None:
    return next((f for f, ends in DATA_ENDINGS.items() if _is_data(name, ends)), None)


def _folder_format(folder: str) -> str:
    """The format most of a folder's data files have (ties: the first in ``DATA_ENDINGS``, none:
    csv); ``check_files`` then names any file of another format, or says it holds none."""
    counts = dict.fromkeys(DATA_ENDINGS, 0)
    for _, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d[0] not in "._"]
        for name in names:
            found = _named_format(name) if name[0] not in "._" else None
            if found:
                counts[found] += 1
    return max(counts, key=lambda f: counts[f])


def _data_files(path: str, data_format: str) -> list[str]:
    """A local file, or a folder's data files in name order (what Spark reads)."""
    if os.path.isfile(path):
        return [path]
    endings = DATA_ENDINGS[data_format]
    return sorted(os.path.join(folder, n) for folder, dirs, names in os.walk(path)
                  for n in names if n[0] not in "._" and _is_data(n, endings))


def _infer(path: str, data_format: str, options: dict[str, str], label: str
           ) -> dict[str, str] | None:
    """Column -> Spark type of a local source, None where that needs Spark."""
    if "://" in path or data_format not in ("csv", "json", "parquet", "orc"):
        return None
    files_ = _data_files(path, data_format)
    if not files_:
        raise RunnerError(f"data.path: {path} holds no {data_format} files")
    try:
        kinds = _read_kinds(files_[0], data_format, options)
    except Exception as exc:  # a file pandas or pyarrow cannot parse: Spark could not either
        raise RunnerError(f"data.path: cannot read {files_[0]} as {data_format}: "
                          f"{first_line(exc)}") from exc
    return {c: _spark_type(k, c == label) for c, k in kinds.items()}


def _spark_type(kind: str, is_label: bool) -> str:
    """Numbers are read as double, as ML stages take them (and as the lab casts them): a
    serving request may then send 210 or 210.5 alike. An integer label stays int (class
    indices). Everything else (text, booleans, dates) is read as a string, a category."""
    if kind in "iu":
        return "int" if is_label else "double"
    return "double" if kind == "f" else "string"


def _read_kinds(file: str, data_format: str, options: dict[str, str]) -> dict[str, str]:
    """Column -> numpy kind letter (i, u: integers, f: floating, else text) of one data file."""
    if data_format in ("parquet", "orc"):
        import pyarrow as pa
        import pyarrow.orc
        import pyarrow.parquet

        schema = (pyarrow.parquet.read_schema(file) if data_format == "parquet"
                  else pyarrow.orc.ORCFile(file).schema)
        return {f.name: "i" if pa.types.is_integer(f.type) else
                "f" if pa.types.is_floating(f.type) or pa.types.is_decimal(f.type) else "O"
                for f in schema}
    import pandas as pd

    if data_format == "json":
        frame = pd.read_json(file, lines=True, nrows=INFER_ROWS)
    else:
        header = options.get("header", "false").lower() == "true"
        null = [options["nullValue"]] if "nullValue" in options else None
        frame = pd.read_csv(file, sep=options.get("sep", options.get("delimiter", ",")),
                            header=0 if header else None, nrows=INFER_ROWS, na_values=null,
                            quotechar=options.get("quote", '"')[:1] or '"')
        if not header:  # Spark's names for a file without a header
            frame.columns = [f"_c{i}" for i in range(len(frame.columns))]
    return {str(c): frame[c].dtype.kind for c in frame.columns}


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
    close = [TYPE_ALIASES[name]] if name in TYPE_ALIASES else difflib.get_close_matches(
        name, sorted(names), n=1)
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


def load(spark: SparkSession, cfg: Any, context: RunContext | None = None) -> Dataset:
    """Read, type, clean and split the data; kept in ``context`` for the same config (a sweep's
    trials share it), prepared afresh without one."""
    if context is None:
        return _prepare(spark, cfg)
    key = config_key(cfg)
    with context.data_lock:  # trials asking at once wait for one preparation
        if key not in context.datasets:
            context.datasets[key] = _prepare(spark, cfg)
        dataset: Dataset = context.datasets[key]
        return dataset


def _read(spark: SparkSession, cfg: Any) -> DataFrame:
    path = resolve_path(cfg.path)
    data_format = format_of(path, cfg.format)
    try:
        return spark.read.format(data_format).options(**reader_options(cfg)).load(path)
    except Exception as exc:
        raise RunnerError(
            f"data.path: cannot read {path} as {data_format}: {first_line(exc)}"
        ) from exc


def _casts(raw: DataFrame, cfg: Any) -> dict[str, Column]:
    """One typed column per schema entry; raise when a schema column is not in the data."""
    from pyspark.sql import functions as F

    schema = schema_of(cfg)
    missing = [c for c in schema if c not in raw.columns]
    if missing:
        raise RunnerError(f"data: column(s) {missing} not found; the file has {raw.columns}")
    return {c: F.col(quoted(c)).try_cast(t).alias(c) for c, t in schema.items()}


def _problems(raw: DataFrame, casts: dict[str, Column], cfg: Any) -> dict[str, Column]:
    """Per check and column, a condition a value must not meet: failed cast, NaN, infinity. The
    profile counts each and keeps an example of the raw text. Any other label value is a class
    (``_label_classes``)."""
    from pyspark.sql import functions as F

    found: dict[str, Column] = {}
    for c, cast in casts.items():
        given = F.col(quoted(c))
        found[f"cast:{c}"] = (
            given.isNotNull() & (F.trim(given.cast("string")) != "") & cast.isNull()
        )
        if schema_of(cfg)[c].strip().lower() in FLOATING_TYPES:
            found[f"nan:{c}"] = F.isnan(cast)
            found[f"inf:{c}"] = cast.isin(float("inf"), float("-inf"))
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


def _is_index(value: Any, k: int) -> bool:
    """A number that is a whole class index in 0..k-1 (a boolean is a value, not an index)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    return float(value).is_integer() and 0 <= value < k


def _label_classes(clean: DataFrame, values: list[Any], cfg: Any
                   ) -> tuple[list[int], list[str], list[Any]]:
    """Class indices, class names and (when indexed) the label values in class-index order.

    The rule: numeric labels that are all whole numbers in 0..k-1 (k = len(data.class_names), or
    the number of distinct labels without names) are Spark's class indices, as the lab's Species
    0/1/2, and data.class_names name those indices. Any other label (strings, 1..3, -1/1) is
    indexed by a StringIndexer in the pipeline: data.class_names, when given, must then be the
    label values (as Spark prints them) in class order; else data.label_order orders them.
    Labels 1..3 with three names that are not those values stay refused: which is meant is
    ambiguous.
    """
    label, names = cfg.label, [str(n) for n in class_names_of(cfg)]
    shown = values if len(values) <= 10 else [*values[:10], "..."]
    if len(values) < 2:
        raise RunnerError(f"data: label {label!r} has a single class {values}; need >= 2")
    k = len(names) or len(values)
    if all(_is_index(v, k) for v in values):
        if names and len(values) != k:
            raise RunnerError(
                f"data.class_names has {k} names {names} but label {label!r} has {len(values)} "
                f"classes {shown}"
            )
        return [int(v) for v in values], names, []
    counts = _label_counts(clean, label)
    if names and sorted(names) != sorted(counts):
        raise RunnerError(_names_mismatch(label, values, names, list(counts)))
    order = names or _ordered(counts, _enum_value(cfg.get("label_order", "frequencyDesc")))
    typed = {text: value for text, (value, _) in counts.items()}
    return list(range(len(order))), order, [typed[n] for n in order]


def _label_counts(clean: DataFrame, label: str) -> dict[str, tuple[Any, int]]:
    """Per label value as a string (what StringIndexer indexes): a typed value and its rows."""
    from pyspark.sql import functions as F

    rows = (clean.groupBy(F.col(quoted(label)).cast("string").alias("s"))
            .agg(F.first(quoted(label)).alias("v"), F.count(F.lit(1)).alias("n")).collect())
    return {r["s"]: (r["v"], int(r["n"])) for r in rows}


def _ordered(counts: dict[str, tuple[Any, int]], order: str) -> list[str]:
    """The label strings in Spark StringIndexer's ``stringOrderType`` order (frequency ties are
    broken alphabetically, as Spark does)."""
    if order == "frequencyDesc":
        return sorted(counts, key=lambda s: (-counts[s][1], s))
    if order == "frequencyAsc":
        return sorted(counts, key=lambda s: (counts[s][1], s))
    return sorted(counts, reverse=order == "alphabetDesc")


def _names_mismatch(label: str, values: list[Any], names: list[str], texts: list[str]) -> str:
    """One line for data.class_names that neither name indices 0..k-1 nor list the values."""
    k = len(names)
    shown = values if len(values) <= 10 else [*values[:10], "..."]
    outside = [v for v in values if not _is_index(v, k)]
    hint = ("name the class indices 0..k-1, list the label values in class order, or set "
            "data.class_names=[] to take them from the data")
    if all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values):
        return (f"data: label {label!r} has value(s) {outside[:_SHOWN]} outside 0..{k - 1} "
                f"(data.class_names has {k} names) and data.class_names {names} are not its "
                f"values either; labels found {shown}: {hint}")
    missing = sorted(set(texts) - set(names))[:_SHOWN]
    return (f"data: label {label!r} has values {shown} but data.class_names is {names} "
            f"(not naming {missing}): {hint}")


def _enum_value(value: Any) -> str:
    return str(value.value) if hasattr(value, "value") else str(value)


def label_index_column(cfg: Any) -> str:
    """The column the label's StringIndexer writes: ``<label>_index``, made unique."""
    name = f"{cfg.label}_index"
    while name in schema_of(cfg):
        name = "_" + name
    return name


def _prepare(spark: SparkSession, cfg: Any) -> Dataset:
    from pyspark.sql import functions as F

    raw = _read(spark, cfg)
    casts = _casts(raw, cfg)
    features = feature_columns(cfg)
    needed = [*features, cfg.label] if cfg.missing == "drop" else [cfg.label]
    profile = _profile(raw, casts, needed, cfg)
    _check_values(profile, cfg)
    rows = int(profile["kept"] or 0)
    if rows == 0:
        raise RunnerError(f"data: no rows left after dropping rows with missing {needed}")
    # not dropna: it parses column names, so a dotted one failed. NaN needs no test here: in a
    # needed column it was refused above.
    kept = F.lit(True)
    for column in needed:
        kept = kept & F.col(quoted(column)).isNotNull()
    clean = raw.select(*casts.values()).where(kept)
    classes, class_names, label_values = _label_classes(clean, list(profile["classes"]), cfg)
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
