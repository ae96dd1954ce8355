"""Pure request handling for the scoring server: payload bytes + content type -> (status, body).

Speaks MLflow's scoring protocol: JSON with exactly one of ``dataframe_records``,
``dataframe_split``, ``instances`` or ``inputs`` (plus optional ``params``), CSV with a header,
or a Parquet file (``application/vnd.apache.parquet``).
Columns are built straight from the parsed JSON into numpy arrays (no pandas on the hot path) and
checked against the model's input schema, so every client mistake becomes a 4xx with MLflow's error
shape ``{"error_code": ..., "message": ...}`` naming the problem. No I/O here: the HTTP shell in
``runner.serving`` only adapts these functions, and the tests call them without a server.
"""

from __future__ import annotations

import csv
import io
import json
import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

import numpy as np

from runner.errors import first_line

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)  # what MLflow's scoring server takes
INPUT_FIELDS = ("dataframe_records", "dataframe_split", "instances", "inputs")
PARAMS = ("probabilities", "labels")
NUMERIC = frozenset({"double", "float"})
INTEGER = frozenset({"long", "integer"})
INT_RANGE = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
# the lab's request: the page's example when the model takes the lab's columns
LAB_RECORD = {"Island": "Biscoe", "CulmenLength": 48.7, "CulmenDepth": 14.1,
              "FlipperLength": 210, "BodyMass": 4450}


class ScoringError(Exception):
    """Rows the model rejects (unseen category, null or NaN where handleInvalid=error)."""


class RequestError(Exception):
    """A client mistake: becomes a 4xx response with MLflow's error shape."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class Scorer(Protocol):
    """What the server needs from a model: columns in, output columns out.

    ``predict_columns`` takes one numpy array (or list) per input column and returns at least
    ``prediction`` (n,), and ``probability`` (n, k) when the model has it. It raises
    ``ScoringError`` (or the compiled scorer's own) for rows the model rejects.
    """

    kind: str  # "compiled" or "spark"
    class_names: list[str]  # the name of each class index, when the model carries them

    def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class ModelInfo:
    """What /metadata reports and what parsing checks requests against."""

    uri: str
    inputs: tuple[tuple[str, str], ...]  # (column, MLflow type) in signature order
    class_names: tuple[str, ...] = ()
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    scorer: str = ""
    scorer_note: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "model_uri": self.uri, "name": self.name, "version": self.version,
            "run_id": self.run_id, "scorer": self.scorer, "scorer_note": self.scorer_note,
            "input_schema": [{"name": n, "type": t} for n, t in self.inputs],
            "class_labels": list(self.class_names), "example": example_request(self.inputs),
            **self.versions,
        }


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON


_SHOWN = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 2, 60, 60, 40
_SHOWN.maxlist = _SHOWN.maxdict = 4


def shown(value: Any) -> str:
    """A client's value for an error message: short whatever its size or nesting."""
    return _SHOWN.repr(value)


def error(message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> Response:
    body = json.dumps({"error_code": error_code, "message": message})
    return Response(status, body.encode())


@dataclass(frozen=True)
class Prepared:
    """A request ready for the model: its columns (checked against the schema) and params."""

    columns: dict[str, Any]
    params: dict[str, bool]
    rows: int


def invocations(body: bytes, content_type: str | None, query: str, scorer: Scorer,
                info: ModelInfo) -> Response:
    """Answer one POST /invocations; never raises for anything the client sent.

    Args:
        body: the raw request body.
        content_type: the Content-Type header (parameters such as charset are ignored).
        query: the URL's query string; ``probabilities`` and ``labels`` may be set there too.
        scorer: the model.
        info: the model's input schema and class labels.
    """
    prepared = prepare(body, content_type, query, info)
    return prepared if isinstance(prepared, Response) else score(prepared, scorer, info)


def prepare(body: bytes, content_type: str | None, query: str,
            info: ModelInfo) -> Prepared | Response:
    """Parse a request and type its columns; a client mistake comes back as its 4xx Response."""
    try:
        data, params = parse(body, content_type, query)
        columns = to_columns(data, info.inputs)
    except RequestError as exc:
        return error(str(exc), exc.status, exc.error_code)
    except RecursionError:  # a value nested deeper than Python's stack, e.g. [[[[...]]]]
        return error("JSON nested too deeply: send records of plain values")
    return Prepared(columns, params, len(next(iter(columns.values()))))


def score(request: Prepared, scorer: Scorer, info: ModelInfo) -> Response:
    """The predictions, or a 400 naming the row the model rejects."""
    try:
        outputs = scorer.predict_columns(request.columns)
    except Exception as exc:
        if not _is_scoring_error(exc):
            raise
        return error(f"the model rejected the input: {exc}")
    return _formatted(outputs, request.params, info)


def score_together(requests: Sequence[Prepared], scorer: Scorer,
                   info: ModelInfo) -> list[Response]:
    """``score`` for each request, with one ``predict_columns`` call for all of them.

    A call costs about as much for 32 rows as for one, so a busy server scores the requests that
    arrive together at once: their columns laid end to end, the outputs split back by each
    request's rows (``kept``, the input rows scored, places the rows a handleInvalid=skip stage
    drops). Compiled stages compute each row alike whatever rows share the call, so the answers
    are the same bits as alone. When the call raises (one request holds a row the model rejects),
    every request is scored alone: each gets exactly the answer, or the 400, it would get alone.
    """
    if len(requests) == 1:
        return [score(requests[0], scorer, info)]
    try:
        outputs = scorer.predict_columns(_end_to_end([r.columns for r in requests]))
        shares = _split(outputs, [r.rows for r in requests])
    except Exception:  # alone, each request gets its own 400 (or raises its own bug)
        shares = None
    if shares is None:
        return [score(r, scorer, info) for r in requests]
    return [_formatted(share, r.params, info) for share, r in zip(shares, requests, strict=True)]


def _end_to_end(requests: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each input column of several requests in one. ``to_columns`` types a column alike in
    every request, except that a numeric column holding nulls is a list: then all become one."""
    columns: dict[str, Any] = {}
    for name in requests[0]:
        parts = [r[name] for r in requests]
        if all(isinstance(p, np.ndarray) for p in parts):
            columns[name] = np.concatenate(parts)
        else:
            columns[name] = [v for p in parts for v in (p.tolist() if isinstance(p, np.ndarray)
                                                          else p)]
    return columns


def _split(outputs: Mapping[str, np.ndarray], rows: Sequence[int]
           ) -> list[dict[str, np.ndarray]] | None:
    """Each request's rows of the outputs; None when a scorer dropped rows without saying which."""
    starts = np.cumsum([0, *rows])
    if "kept" in outputs:
        bounds = np.searchsorted(outputs["kept"], starts)
    elif len(outputs["prediction"]) == starts[-1]:
        bounds = starts
    else:
        return None
    return [{name: values[a:b] for name, values in outputs.items() if name != "kept"}
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _formatted(outputs: Mapping[str, np.ndarray], params: Mapping[str, bool],
               info: ModelInfo) -> Response:
    try:
        return Response(200, format_predictions(outputs, params, info.class_names))
    except RequestError as exc:
        return error(str(exc), exc.status, exc.error_code)


def _is_scoring_error(exc: Exception) -> bool:
    # the compiled scorer has its own ScoringError class; match it by name to stay decoupled
    return isinstance(exc, ScoringError) or type(exc).__name__ == "ScoringError"


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
    shown = media or "none"
    raise RequestError(f"unsupported Content-Type {shown!r}: send one of "
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


def _csv_value(text: str) -> Any:
    return None if text == "" else _CsvText(text)


class _CsvText(str):
    """A CSV field: numeric columns may parse it, unlike a JSON string."""


def to_columns(data: Any, inputs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Records (list of dicts) or columns (dict of lists) -> one typed array per model input.

    Raises RequestError for no rows, missing or unknown columns, and values of the wrong type.
    Nulls stay None (a column with any is a list) and NaN stays NaN: whether they are allowed is
    the model's call (its handleInvalid), so the scorer raises for them, not the parser.
    """
    raw: Mapping[str, Any]
    if isinstance(data, list):
        raw = _records_to_lists(data, inputs)
    elif isinstance(data, dict):
        raw = _check_names(data, inputs)
        lengths = {len(v) if isinstance(v, list) else -1 for v in raw.values()}
        if -1 in lengths or len(lengths) > 1:
            raise RequestError("columnar input must map each column to a list, all of one length")
    else:
        got = type(data).__name__
        raise RequestError(f"expected a list of records or an object of columns, got {got}")
    if not raw or not next(iter(raw.values())):
        raise RequestError("no rows to score: send at least one record")
    return {name: _typed(name, kind, raw[name]) for name, kind in inputs}


def _records_to_lists(records: list[Any], inputs: Sequence[tuple[str, str]]
                      ) -> dict[str, list[Any]]:
    names = [n for n, _ in inputs]
    expected = set(names)
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            got = type(rec).__name__
            raise RequestError(f"record {i} must be an object of column: value, got {got}")
        if rec.keys() != expected:
            _check_names(rec, inputs, f"record {i}: ")
    return {n: [rec[n] for rec in records] for n in names}


def _check_names(given: Mapping[str, Any], inputs: Sequence[tuple[str, str]],
                 where: str = "") -> Mapping[str, Any]:
    names = [n for n, _ in inputs]
    missing = [n for n in names if n not in given]
    unknown = sorted(set(given) - set(names), key=str)
    unknown = [shown(u)[1:-1] for u in unknown[:10]] + (
        [f"and {len(unknown) - 10} more"] if len(unknown) > 10 else [])
    problems = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
        [f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
    if problems:
        schema = ", ".join(f"{n} ({t})" for n, t in inputs)
        raise RequestError(f"{where}{'; '.join(problems)}. The model takes: {schema}")
    return given


def _typed(name: str, kind: str, values: list[Any]) -> Any:
    if kind in NUMERIC or kind in INTEGER:
        numbers = [_number(name, kind, i, v) for i, v in enumerate(values)]
        if None in numbers:  # Spark keeps NULL apart from NaN: a list keeps None for the scorer
            return numbers
        return np.array(numbers, dtype=np.float64 if kind in NUMERIC else np.int64)
    if kind == "string":
        for i, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                raise RequestError(f"column {name} row {i}: expected a string, got {shown(v)}")
        return np.array([None if v is None else str(v) for v in values], dtype=object)
    if kind == "boolean":
        return np.array([_boolean(name, i, v) for i, v in enumerate(values)], dtype=object)
    column = np.empty(len(values), dtype=object)  # one value per row, whatever its nesting
    for i, v in enumerate(values):
        column[i] = v
    return column


def _number(name: str, kind: str, row: int, value: Any) -> float | int | None:
    """A JSON or CSV value of a numeric column, checked to fit it.

    NaN passes: Spark reads it as a missing value that the model's handleInvalid or Imputer
    decides about. Infinities (JSON ``Infinity``, ``1e400``, CSV ``inf``) and integers too large
    for the column are the client's mistake: no trained stage has a meaning for them.
    """
    t = type(value)
    if t is float:  # bool is an int subclass but not `int` itself: rejected below
        if math.isinf(value):
            raise RequestError(f"column {name} row {row}: {value} is not a finite number; "
                               "send a finite number, or null for a missing value")
        if kind in INTEGER:
            if not value.is_integer():
                raise RequestError(f"column {name} row {row}: expected an integer, got {value!r}")
            return _checked_int(name, kind, row, int(value))
        return value
    if t is int:
        return _checked_int(name, kind, row, value)
    if value is None:
        return None
    if t is _CsvText:
        try:
            number: float | int = float(value) if kind in NUMERIC else int(value)
        except ValueError:
            pass
        else:
            return _number(name, kind, row, number)
    raise RequestError(f"column {name} row {row}: expected a number ({kind}), got {shown(value)}")


def _checked_int(name: str, kind: str, row: int, value: int) -> float | int:
    low, high = INT_RANGE.get(kind, (-(2**63), 2**63 - 1))
    if kind in NUMERIC:
        try:
            return float(value) if not low <= value <= high else value
        except OverflowError:
            pass
    elif low <= value <= high:
        return value
    raise RequestError(f"column {name} row {row}: the integer {shown(value)} is out of range for "
                       f"a {kind} column")


def _boolean(name: str, row: int, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, _CsvText) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RequestError(f"column {name} row {row}: expected true or false, got {shown(value)}")


def format_predictions(outputs: Mapping[str, np.ndarray], params: Mapping[str, bool],
                       class_names: Sequence[str]) -> bytes:
    """``{"predictions": [1.0, ...]}`` as ``mlflow models serve`` answers for the spark flavor.

    With ``probabilities`` each prediction becomes ``{"prediction", "probability": [p per class
    index], "label"}``, as the compiled pyfunc answers under MLflow's own server for the same
    params; with ``labels`` alone, ``{"prediction", "label"}``. Class names come from /metadata.
    """
    predictions = [float(p) for p in outputs["prediction"]]
    want_proba, want_labels = params.get("probabilities", False), params.get("labels", False)
    if not (want_proba or want_labels):
        return json.dumps({"predictions": predictions}).encode()
    records: list[dict[str, Any]] = [{"prediction": p} for p in predictions]
    if want_proba:
        proba = outputs.get("probability")
        if proba is None:
            raise RequestError("this model has no class probabilities; ask for labels only")
        for rec, row in zip(records, np.asarray(proba).tolist(), strict=True):
            rec["probability"] = row
    if class_names:
        for rec in records:
            rec["label"] = _label(rec["prediction"], class_names)
    return json.dumps({"predictions": records}).encode()


def _label(prediction: float, class_names: Sequence[str]) -> str | None:
    index = int(prediction)
    return class_names[index] if 0 <= index < len(class_names) else None


def example_request(inputs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A request the page can prefill: the lab's penguin when the columns match, else zeros."""
    if {n for n, _ in inputs} == set(LAB_RECORD):
        return {"dataframe_records": [dict(LAB_RECORD)]}
    blank = {"string": "", "boolean": False}
    return {"dataframe_records": [{n: blank.get(t, 0) for n, t in inputs}]}
