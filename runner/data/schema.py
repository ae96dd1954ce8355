"""The columns a run reads and their Spark types, inferred without the JVM.

CSV and JSON are sampled with pandas, Parquet and ORC read from pyarrow's metadata; listed
``data.schema`` entries win; ``DataSpec.resolve`` calls them, once per task. The names and types
a config gives are checked in ``checks``.
"""

from __future__ import annotations

import difflib
import functools
import os
from typing import Any

from runner.data.formats import data_files, is_data, resolve_path
from runner.errors import RunnerError, first_line

INFER_ROWS = 100_000  # CSV/JSON rows pandas reads to infer a local file's column types


def schema_of(cfg: Any, inferred: dict[str, str] | None) -> dict[str, str]:
    """Column -> Spark SQL type of the data a run reads: every column of the source in its order,
    types inferred without the JVM (``infer``: CSV and JSON sampled with pandas, Parquet and ORC
    from pyarrow's metadata), listed ``data.schema`` entries winning. A remote or Avro source is
    not inferred: there ``data.schema`` lists the columns read. Called by ``DataSpec.resolve``.
    """
    listed = {str(c): str(t) for c, t in (cfg.schema or {}).items()}
    if inferred is None:
        if not listed:
            raise RunnerError(
                f"data.schema: runner cannot read the columns of {cfg.path} before Spark "
                "starts; list them: data.schema={column: type, ...}"
            )
        return listed
    if not own_file(cfg, inferred):  # the shipped entries, written for another file, are left out
        _check_given(cfg, listed, inferred)
        # even for a column this file has too: penguins-raw.csv's Species holds names, not
        # the lab's int class indices
        shipped = _shipped_schema(str(cfg.written_for or ""))
        listed = {c: t for c, t in listed.items() if c in inferred and shipped.get(c) != t}
    missing = [c for c in listed if c not in inferred]
    if missing:
        raise RunnerError(
            f"data.schema: column(s) {missing} not found in {cfg.path}; it has {list(inferred)}"
        )
    return {c: listed.get(c, t) for c, t in inferred.items()}


def _check_given(cfg: Any, listed: dict[str, str], inferred: dict[str, str]) -> None:
    """Refuse a ``data.schema`` entry the user gave (not one the data config shipped for its own
    file) for a column the file lacks: ``+data.schema.Alcohol=double`` for a file whose column
    is ``alcohol`` would otherwise be dropped silently and the column read as inferred."""
    shipped = _shipped_schema(str(cfg.written_for or ""))
    for column, type_ in listed.items():
        if column in inferred or shipped.get(column) == type_:
            continue
        folded = {c.lower(): c for c in inferred}
        close = difflib.get_close_matches(column.lower(), list(folded), n=1)
        nearest = f"nearest {folded[close[0]]!r}" if close else "no column close to it"
        raise RunnerError(f"data.schema.{column}: {cfg.path} has no column {column!r} "
                          f"({nearest}); it has {list(inferred)}")


@functools.lru_cache(maxsize=4)
def _shipped_schema(written_for: str) -> dict[str, str]:
    """The schema runner's own data configs list for the file they were written for
    (``runner/conf/data/*.yaml`` with that ``written_for``): entries a user did not give."""
    from importlib.resources import files

    from omegaconf import OmegaConf

    found: dict[str, str] = {}
    for entry in files("runner.conf").joinpath("data").iterdir():
        if not entry.name.endswith(".yaml"):
            continue
        shipped = OmegaConf.to_container(OmegaConf.create(entry.read_text(encoding="utf-8")))
        if isinstance(shipped, dict) and written_for and shipped.get("written_for") == written_for:
            found.update({str(c): str(t) for c, t in (shipped.get("schema") or {}).items()})
    return found


def own_file(cfg: Any, inferred: dict[str, str] | None) -> bool:
    """Whether the data config's ``schema`` and ``class_names`` describe ``data.path``: it is
    ``data.written_for`` (or that is null), or it has at least half the columns ``data.schema``
    lists (a copy or variant of that data: a listed column it lacks is named as missing; a few
    ``+data.schema.<column>`` entries for another data set do not make it one).
    ``runner data.path=wine.csv`` with the default penguins config must not read wine with the
    penguin columns and class names."""
    written_for = cfg.written_for
    if not written_for or written_for == cfg.path:
        return True
    try:
        if resolve_path(str(written_for)) == resolve_path(str(cfg.path)):
            return True
    except RunnerError:  # a missing or unreadable file: DataSpec.resolve names it
        return True
    listed = set(cfg.schema or {})
    return inferred is None or 2 * len(listed & set(inferred)) >= len(listed)


def reader_options(cfg: Any, path: str) -> dict[str, str]:
    """``data.options``, plus a tab separator for ``.tsv`` data (at resolved ``path``) given
    none."""
    options = {str(k): str(v) for k, v in (cfg.options or {}).items()}
    if "sep" not in options and "delimiter" not in options:
        local = os.path.isdir(path) and "://" not in path
        names = data_files(path, "csv")[:1] if local else [path]
        if names and is_data(names[0], (".tsv",)):
            options["sep"] = "\t"
    return options


def quoted(column: str) -> str:
    """A column name for Spark's column parser: dots and other characters taken literally."""
    return "`" + column.replace("`", "``") + "`"


def infer(path: str, data_format: str, options: dict[str, str], label: str,
          na_values: tuple[str, ...] = ()) -> dict[str, str] | None:
    """Column -> Spark type of a local source (resolved ``path``), None where that needs Spark;
    ``na_values``: the CSV cells read as missing. Read afresh on every call: ``DataSpec.resolve``
    calls it once per task."""
    if "://" in path or data_format not in ("csv", "json", "parquet", "orc"):
        return None
    files_ = data_files(path, data_format)
    if not files_:
        raise RunnerError(f"data.path: {path} holds no {data_format} files")
    try:
        kinds = _read_kinds(files_[0], data_format, options, na_values)
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


def _read_kinds(file: str, data_format: str, options: dict[str, str],
                na_values: tuple[str, ...] = ()) -> dict[str, str]:
    """Column -> numpy kind letter (i, u: integers, f: floating, else text) of one data file;
    ``na_values`` (``missing.markers``) are the CSV cells read as missing."""
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
        frame = pd.read_csv(file, **pandas_csv(options), nrows=INFER_ROWS,
                            na_values=list(na_values), keep_default_na=False)
        if not header:  # Spark's names for a file without a header
            frame.columns = [f"_c{i}" for i in range(len(frame.columns))]
    return {str(c): frame[c].dtype.kind for c in frame.columns}


# the escapes Spark's CSV reader takes in ``sep`` (CSVExprUtils.toChar): `data.options.sep='\t'`
# reaches runner as backslash-t, which pandas would take as a regular expression
_SEP_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\b": "\b", "\\f": "\f",
                "\\\"": "\"", "\\'": "'", "\\\\": "\\", "\\u0000": "\0"}


def pandas_csv(options: dict[str, str]) -> dict[str, Any]:
    """``pandas.read_csv`` arguments for Spark's CSV reader options: separator (its escapes
    translated), header, quote character."""
    sep = options.get("sep", options.get("delimiter", ","))
    header = options.get("header", "false").lower() == "true"
    return {"sep": _SEP_ESCAPES.get(sep, sep), "header": 0 if header else None,
            "quotechar": options.get("quote", '"')[:1] or '"'}
