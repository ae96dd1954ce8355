"""A request's body and query string decoded, as MLflow's scoring protocol sends them.

JSON with exactly one of ``dataframe_records``, ``dataframe_split``, ``instances`` or ``inputs``
(plus optional ``params``), CSV with a header, or a Parquet file
(``application/vnd.apache.parquet``). The result is records (a list of dicts) or columns (a dict
of lists) of plain Python values; ``columns.to_columns`` types them against the model's inputs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from runner.errors import first_line
from runner.serving.responses import JSON, RequestError, shown

CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)  # what MLflow's scoring server takes
INPUT_FIELDS = ("dataframe_records", "dataframe_split", "instances", "inputs")
PARAMS = ("probabilities", "labels")


class CsvText(str):
    """A CSV field: numeric columns may parse it, unlike a JSON string."""


def parse(body: bytes, content_type: str | None, query: str = "") -> tuple[Any, dict[str, bool]]:
    """Decode a request into records (list of dicts) or columns (dict of lists), and params."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    params = _query_params(query)
    if media == JSON:
        data, json_params = _parse_json(body)
        return data, {**_check_params(json_params), **params}
    if media == CSV:
        return _parse_csv(body), params
    if media == PARQUET:
        return _parse_parquet(body), params
    given = media or "none"
    raise RequestError(f"unsupported Content-Type {given!r}: send one of "
                       f"{', '.join(CONTENT_TYPES)}", 415)


def _query_params(query: str) -> dict[str, bool]:
    if not query:
        return {}
    try:  # a bare flag (?labels) means true
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=len(PARAMS) + 1)
    except ValueError as exc:
        raise RequestError(f"malformed query string: {exc}") from exc
    return _check_params(dict(pairs))


def _check_params(params: Any) -> dict[str, bool]:
    if not isinstance(params, Mapping):
        raise RequestError('"params" must be a JSON object, e.g. {"probabilities": true}')
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        allowed = ", ".join(PARAMS)
        raise RequestError(f"unknown param(s) {', '.join(unknown)}: allowed are {allowed}")
    return {k: _flag(k, v) for k, v in params.items()}


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise RequestError(f"param {name} must be true or false, got {shown(value)}")


def _parse_json(body: bytes) -> tuple[Any, Any]:
    try:
        doc = json.loads(body)
    except RecursionError:  # the C scanner's own depth guard
        raise RequestError("JSON nested too deeply: send records of plain values") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        if "integer string conversion" in str(exc):  # Python's int-string limit
            raise RequestError("malformed JSON: a number with over 4300 digits") from None
        raise RequestError(f"malformed JSON: {exc}") from None
    fields = [k for k in INPUT_FIELDS if k in doc] if isinstance(doc, dict) else []
    extra = sorted(set(doc) - set(INPUT_FIELDS) - {"params"}) if isinstance(doc, dict) else []
    if len(fields) != 1 or extra:
        got = shown(sorted(doc)) if isinstance(doc, dict) else type(doc).__name__
        raise RequestError("the JSON body must be an object with exactly one of "
                           f"{list(INPUT_FIELDS)} (and optionally 'params'); got {got}")
    data = doc[fields[0]]
    if fields[0] == "dataframe_split":
        data = _split_to_records(data)
    return data, doc.get("params") or {}


def _split_to_records(split: Any) -> list[dict[str, Any]]:
    if not isinstance(split, dict) or "columns" not in split or "data" not in split:
        raise RequestError('dataframe_split must be {"columns": [...], "data": [[...], ...]}')
    columns, rows = split["columns"], split["data"]
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise RequestError("dataframe_split: columns and data must be lists")
    if not all(isinstance(c, str) for c in columns):
        raise RequestError("dataframe_split: columns must be a list of column names (strings)")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise RequestError(f"dataframe_split: row {i} must be a list of {len(columns)} values")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _parse_csv(body: bytes) -> dict[str, list[Any]]:
    try:
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RequestError(f"malformed CSV: {exc}") from exc
    rows = [r for r in rows if r]
    if not rows:
        raise RequestError("empty CSV: send a header row and at least one data row")
    header, data = rows[0], rows[1:]
    for i, row in enumerate(data):
        if len(row) != len(header):
            raise RequestError(f"CSV row {i + 1} has {len(row)} fields, the header {len(header)}")
    # CSV carries only text: empty fields are nulls, numbers are converted in to_columns
    return {name: [_csv_value(r[j]) for r in data] for j, name in enumerate(header)}


def _csv_value(text: str) -> Any:
    return None if text == "" else CsvText(text)


def _parse_parquet(body: bytes) -> dict[str, list[Any]]:
    """A Parquet file (``pandas.DataFrame.to_parquet``, as MLflow's server reads it) -> columns
    of plain Python values, as a JSON ``inputs`` object of columns would give: nulls are None and
    NaN stays NaN, so the same type checks and messages apply. A pandas index kept as a column
    (``__index_level_0__``) is dropped, as ``pandas.read_parquet`` makes it the index."""
    import pyarrow as pa  # only for Parquet requests: ~0.1 s to import
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise RequestError(f"malformed Parquet: {first_line(exc)}") from None
    index = (table.schema.pandas_metadata or {}).get("index_columns", [])
    names = [n for n in table.column_names if n not in {i for i in index if isinstance(i, str)}]
    try:
        return {name: table.column(name).to_pylist() for name in names}
    except (pa.ArrowException, ValueError) as exc:  # a type with no Python value, e.g. a null
        raise RequestError(f"Parquet column cannot be read: {first_line(exc)}") from None
