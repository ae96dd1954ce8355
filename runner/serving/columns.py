"""Decoded request values -> one typed column per model input, checked against its signature.

Columns are built straight from the parsed values into numpy arrays (no pandas on the hot path),
so every client mistake (missing or unknown column, a value of the wrong type, a number out of
range) becomes a ``RequestError`` naming the column and row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from runner.config.types import INT_RANGE, MLFLOW_FLOATING, MLFLOW_INTEGER
from runner.serving.payloads import CsvText
from runner.serving.responses import RequestError, shown


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
    if kind in MLFLOW_FLOATING or kind in MLFLOW_INTEGER:
        numbers = [_number(name, kind, i, v) for i, v in enumerate(values)]
        if None in numbers:  # Spark keeps NULL apart from NaN: a list keeps None for the scorer
            return numbers
        return np.array(numbers, dtype=np.float64 if kind in MLFLOW_FLOATING else np.int64)
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
        if kind in MLFLOW_INTEGER:
            if not value.is_integer():
                raise RequestError(f"column {name} row {row}: expected an integer, got {value!r}")
            return _checked_int(name, kind, row, int(value))
        return value
    if t is int:
        return _checked_int(name, kind, row, value)
    if value is None:
        return None
    if t is CsvText:
        try:
            number: float | int = float(value) if kind in MLFLOW_FLOATING else int(value)
        except ValueError:
            pass
        else:
            return _number(name, kind, row, number)
    raise RequestError(f"column {name} row {row}: expected a number ({kind}), got {shown(value)}")


def _checked_int(name: str, kind: str, row: int, value: int) -> float | int:
    low, high = INT_RANGE.get(kind, INT_RANGE["long"])
    if kind in MLFLOW_FLOATING:
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
    if isinstance(value, CsvText) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RequestError(f"column {name} row {row}: expected true or false, got {shown(value)}")
