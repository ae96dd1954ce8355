"""What the server answers: a ``Response`` value, MLflow's error shape and the predictions JSON.

A client mistake anywhere in a request's handling is a ``RequestError``; it becomes a 4xx with
MLflow's error shape ``{"error_code": ..., "message": ...}`` naming the problem.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON


class RequestError(Exception):
    """A client mistake: becomes a 4xx response with MLflow's error shape."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def error(message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> Response:
    body = json.dumps({"error_code": error_code, "message": message})
    return Response(status, body.encode())


def refused(exc: RequestError) -> Response:
    """The 4xx answer to a client mistake."""
    return error(str(exc), exc.status, exc.error_code)


_SHOWN = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 2, 60, 60, 40
_SHOWN.maxlist = _SHOWN.maxdict = 4


def shown(value: Any) -> str:
    """A client's value for an error message: short whatever its size or nesting."""
    return _SHOWN.repr(value)


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
