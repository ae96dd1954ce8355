"""POST /invocations as pure functions: payload bytes + content type -> ``Response``.

``answer`` handles one request: ``prepare`` (decode, type against the model's inputs), then
``score``. Under load the shell scores the requests one event-loop wake-up brings in with one
model call (``score_together``), each answered as if alone. No I/O here: the HTTP shell only
adapts these functions, and the tests call them without a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from runner.compiled import ScoringError
from runner.serving import columns, payloads, responses
from runner.serving.model import ModelInfo, Scorer
from runner.serving.responses import RequestError, Response


@dataclass(frozen=True)
class Prepared:
    """A request ready for the model: its columns (checked against the schema) and params."""

    columns: dict[str, Any]
    params: dict[str, bool]
    rows: int


def answer(body: bytes, content_type: str | None, query: str, scorer: Scorer,
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
        data, params = payloads.parse(body, content_type, query)
        typed = columns.to_columns(data, info.inputs)
    except RequestError as exc:
        return responses.refused(exc)
    except RecursionError:  # a value nested deeper than Python's stack, e.g. [[[[...]]]]
        return responses.error("JSON nested too deeply: send records of plain values")
    return Prepared(typed, params, len(next(iter(typed.values()))))


def score(request: Prepared, scorer: Scorer, info: ModelInfo) -> Response:
    """The predictions, or a 400 naming the row the model rejects."""
    try:
        outputs = scorer.predict_columns(request.columns)
    except ScoringError as exc:
        return responses.error(f"the model rejected the input: {exc}")
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
    joined: dict[str, Any] = {}
    for name in requests[0]:
        parts = [r[name] for r in requests]
        if all(isinstance(p, np.ndarray) for p in parts):
            joined[name] = np.concatenate(parts)
        else:
            joined[name] = [v for p in parts for v in (p.tolist() if isinstance(p, np.ndarray)
                                                        else p)]
    return joined


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
        return Response(200, responses.format_predictions(outputs, params, info.class_names))
    except RequestError as exc:
        return responses.refused(exc)
