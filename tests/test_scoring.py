"""The scoring core without a server: every payload format and every bad-input case."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from runner.compiled import ScoringError
from runner.serving import invocations, model, payloads, responses
from runner.serving.model import ModelInfo
from runner.serving.scorers import SparkRejected
from tests.conftest import LAB_REQUEST

INPUTS = (("Island", "string"), ("CulmenLength", "double"), ("CulmenDepth", "double"),
          ("FlipperLength", "double"), ("BodyMass", "double"))
INFO = ModelInfo(uri="models:/penguin-classifier/1", inputs=INPUTS,
                 class_names=("Adelie", "Gentoo", "Chinstrap"), name="penguin-classifier",
                 version="1", run_id="abc", scorer="fake")
ISLANDS = {"Torgersen": 0.0, "Biscoe": 1.0, "Dream": 2.0}


class FakeScorer:
    """Predicts the island's index; rejects unseen islands, null and NaN (handleInvalid=error)."""

    kind = "fake"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
        self.calls.append(columns)
        for name, values in columns.items():
            for v in values:
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    raise ScoringError(name, v, "null or NaN")
        unseen = [v for v in columns["Island"] if v not in ISLANDS]
        if unseen:
            raise ScoringError("Island", unseen[0], "unseen label")
        prediction = np.array([ISLANDS[v] for v in columns["Island"]])
        probability = np.eye(3)[prediction.astype(int)] * 0.9 + 0.1 / 3
        return {"prediction": prediction, "probability": probability}


def invoke(payload: Any, content_type: str = "application/json", query: str = "",
           scorer: Any = None) -> tuple[int, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = invocations.answer(body, content_type, query, scorer or FakeScorer(), INFO)
    return response.status, json.loads(response.body)


LAB = LAB_REQUEST["dataframe_records"][0]
COLUMNS = list(LAB)


@pytest.mark.parametrize("payload", [
    LAB_REQUEST,
    {"dataframe_split": {"columns": COLUMNS, "data": [[LAB[c] for c in COLUMNS]]}},
    {"dataframe_split": {"index": [7], "columns": COLUMNS, "data": [[LAB[c] for c in COLUMNS]]}},
    {"instances": [LAB]},
    {"inputs": [LAB]},
    {"inputs": {c: [LAB[c]] for c in COLUMNS}},
    {"instances": {c: [LAB[c]] for c in COLUMNS}},
], ids=["records", "split", "split-index", "instances", "inputs-records", "inputs-columns",
        "instances-columns"])
def test_every_json_format_gives_mlflows_answer(payload: dict[str, Any]) -> None:
    assert invoke(payload) == (200, {"predictions": [1.0]})


def test_csv_with_header() -> None:
    body = b"Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass\nBiscoe,48.7,14.1,210,4450\n"
    assert invoke(body, "text/csv; charset=utf-8") == (200, {"predictions": [1.0]})


def test_integers_are_accepted_for_double_columns_and_arrive_as_floats() -> None:
    scorer = FakeScorer()
    invoke(LAB_REQUEST, scorer=scorer)
    flipper = scorer.calls[0]["FlipperLength"]
    assert flipper.dtype == np.float64
    assert flipper.tolist() == [210.0]


def test_many_records_keep_their_order() -> None:
    records = [{**LAB, "Island": island} for island in ("Dream", "Biscoe", "Torgersen")]
    assert invoke({"dataframe_records": records}) == (200, {"predictions": [2.0, 1.0, 0.0]})


@pytest.mark.parametrize("where", ["json", "query"])
def test_probabilities_and_labels_on_request(where: str) -> None:
    params = {"probabilities": True}
    payload = {**LAB_REQUEST, "params": params} if where == "json" else LAB_REQUEST
    query = "probabilities=true" if where == "query" else ""
    status, body = invoke(payload, query=query)
    assert status == 200
    (prediction,) = body["predictions"]
    assert prediction["prediction"] == 1.0
    assert prediction["label"] == "Gentoo"
    assert len(prediction["probability"]) == 3
    assert max(range(3), key=prediction["probability"].__getitem__) == 1


def test_labels_only() -> None:
    status, body = invoke(LAB_REQUEST, query="labels")
    assert (status, body) == (200, {"predictions": [{"prediction": 1.0, "label": "Gentoo"}]})


def test_probabilities_of_a_model_without_them_is_a_client_error() -> None:
    class NoProba(FakeScorer):
        def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
            return {"prediction": super().predict_columns(columns)["prediction"]}

    status, body = invoke(LAB_REQUEST, query="probabilities=true", scorer=NoProba())
    assert status == 400
    assert "no class probabilities" in body["message"]


def test_nulls_and_nan_reach_the_model_which_decides() -> None:
    scorer = FakeScorer()
    status, body = invoke({"dataframe_records": [{**LAB, "BodyMass": None}]}, scorer=scorer)
    assert status == 400
    assert body["error_code"] == "BAD_REQUEST"
    assert "BodyMass" in body["message"]
    assert scorer.calls[0]["BodyMass"] == [None]  # a list keeps NULL apart from NaN
    nan_body = b'{"dataframe_records": [{"Island": "Biscoe", "CulmenLength": NaN, ' \
               b'"CulmenDepth": 14.1, "FlipperLength": 210, "BodyMass": 4450}]}'
    assert invoke(nan_body)[0] == 400


def mutate(**changes: Any) -> dict[str, Any]:
    record = {k: v for k, v in {**LAB, **changes}.items() if v is not DROP}
    return {"dataframe_records": [record]}


DROP = object()
BAD_REQUESTS = {
    "malformed-json": (b'{"dataframe_records": [', "malformed JSON"),
    "not-utf8": (b"\xff\xfe\x00", "malformed JSON"),
    "json-array": ([1, 2], "exactly one of"),
    "no-input-field": ({"records": [LAB]}, "exactly one of"),
    "two-input-fields": ({"inputs": [LAB], "instances": [LAB]}, "exactly one of"),
    "missing-column": (mutate(BodyMass=DROP), "missing column(s) BodyMass"),
    "extra-column": (mutate(Sex="MALE"), "unknown column(s) Sex"),
    "string-in-number": (mutate(CulmenLength="x"), "column CulmenLength row 0: expected a number"),
    "bool-in-number": (mutate(BodyMass=True), "expected a number"),
    "number-in-string": (mutate(Island=3), "column Island row 0: expected a string"),
    "list-in-number": (mutate(BodyMass=[1]), "expected a number"),
    "unseen-category": (mutate(Island="Atlantis"), "Atlantis"),
    "empty-records": ({"dataframe_records": []}, "no rows"),
    "record-not-object": ({"dataframe_records": [[1, 2, 3]]}, "record 0 must be an object"),
    "ragged-columns": ({"inputs": {**{c: [LAB[c]] for c in COLUMNS}, "BodyMass": [1, 2]}},
                       "all of one length"),
    "split-bad-row": ({"dataframe_split": {"columns": COLUMNS, "data": [[1]]}}, "row 0"),
    "split-no-data": ({"dataframe_split": {"columns": COLUMNS}}, "dataframe_split must be"),
    "scalar-input": ({"inputs": 3}, "expected a list of records"),
    "unknown-param": ({**LAB_REQUEST, "params": {"temp": 1}}, "unknown param(s) temp"),
    "params-not-object": ({**LAB_REQUEST, "params": [1]}, '"params" must be a JSON object'),
    "bad-flag": ({**LAB_REQUEST, "params": {"labels": "maybe"}}, "must be true or false"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_json_requests_are_400_naming_the_problem(name: str) -> None:
    payload, expected = BAD_REQUESTS[name]
    status, body = invoke(payload)
    assert status == 400
    assert body["error_code"] == "BAD_REQUEST"
    assert expected in body["message"]


@pytest.mark.parametrize(("body", "expected"), [
    (b"", "empty CSV"),
    (b"Island,CulmenLength\nBiscoe,1\n", "missing column(s)"),
    (b"Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass\nBiscoe,x,14.1,210,4450\n",
     "expected a number"),
    (b"Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass\nBiscoe,1\n", "CSV row 1"),
    (b"Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass\n", "no rows"),
])
def test_bad_csv_is_400(body: bytes, expected: str) -> None:
    status, answer = invoke(body, "text/csv")
    assert status == 400
    assert expected in answer["message"]


def test_empty_csv_field_is_a_null_for_the_model() -> None:
    body = b"Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass\n,48.7,14.1,210,4450\n"
    status, answer = invoke(body, "text/csv")
    assert status == 400
    assert "null" in answer["message"]


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/xml"])
def test_wrong_content_type_is_415(content_type: str | None) -> None:
    response = invocations.answer(json.dumps(LAB_REQUEST).encode(), content_type, "",
                                  FakeScorer(), INFO)
    assert response.status == 415
    message = json.loads(response.body)["message"]
    assert "unsupported Content-Type" in message
    for accepted in ("application/json", "text/csv", "application/vnd.apache.parquet"):
        assert accepted in message


def parquet(frame: Any, **options: Any) -> bytes:
    """A Parquet body as MLflow's clients send it: ``DataFrame.to_parquet``."""
    import io

    out = io.BytesIO()
    frame.to_parquet(out, **options)
    return out.getvalue()


def test_parquet_body_parses_to_the_columns_json_gives() -> None:
    import pandas as pd

    frame = pd.DataFrame([LAB, {**LAB, "Island": None, "CulmenLength": float("nan")}],
                         index=[10, 11])  # a kept index column, dropped as read_parquet does
    data, params = payloads.parse(parquet(frame), payloads.PARQUET)
    as_json, _ = payloads.parse(json.dumps({"inputs": {c: [LAB[c], None] for c in COLUMNS}}
                                           ).encode(), responses.JSON)
    assert params == {}
    assert list(data) == COLUMNS
    assert data["FlipperLength"] == [210, 210]
    assert type(data["FlipperLength"][0]) is int
    assert data["Island"] == ["Biscoe", None]  # a null is None, as JSON's null
    assert data["CulmenLength"][1] is None  # pandas writes its NaN (= missing) as a null
    assert {c: data[c][:1] for c in COLUMNS} == {c: as_json[c][:1] for c in COLUMNS}
    assert invoke(parquet(frame.iloc[:1]), payloads.PARQUET)[1] == {"predictions": [1.0]}


def test_parquet_gets_the_json_paths_type_checks_and_messages() -> None:
    import pandas as pd

    wrong = pd.DataFrame([{**LAB, "BodyMass": "heavy"}])
    status, answer = invoke(parquet(wrong), payloads.PARQUET)
    as_json = invoke({"dataframe_records": [{**LAB, "BodyMass": "heavy"}]})
    assert (status, answer) == as_json
    assert status == 400
    assert "column BodyMass row 0: expected a number" in answer["message"]
    status, answer = invoke(parquet(pd.DataFrame([{**LAB, "Extra": 1}])), payloads.PARQUET)
    assert status == 400
    assert "unknown column(s) Extra" in answer["message"]
    status, answer = invoke(b"PAR1 not parquet", payloads.PARQUET)
    assert status == 400
    assert answer["message"].startswith("malformed Parquet:")


def test_malformed_query_string_is_400() -> None:
    assert invoke(LAB_REQUEST, query="probabilities=true&&=")[0] == 400


def test_a_scorer_bug_is_not_reported_as_a_client_error() -> None:
    class Broken(FakeScorer):
        def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
            raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        invoke(LAB_REQUEST, scorer=Broken())


def test_the_spark_scorers_rejection_is_a_400_with_sparks_reason() -> None:
    class Spark(FakeScorer):
        def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
            raise SparkRejected("Unseen label: Atlantis")

    status, body = invoke(LAB_REQUEST, scorer=Spark())
    assert status == 400
    assert body["message"] == "the model rejected the input: Unseen label: Atlantis"


def test_metadata_and_example() -> None:
    meta = INFO.metadata()
    assert meta["name"] == "penguin-classifier"
    assert meta["class_labels"] == ["Adelie", "Gentoo", "Chinstrap"]
    assert meta["input_schema"][0] == {"name": "Island", "type": "string"}
    assert meta["example"] == LAB_REQUEST
    other = model.example_request([("x", "double"), ("s", "string")])
    assert other == {"dataframe_records": [{"x": 0, "s": ""}]}


def _record_json(**raw: str) -> bytes:
    """The lab record as JSON text with some values written verbatim (NaN, 1e400, 400 digits)."""
    values = {k: json.dumps(v) for k, v in LAB.items()} | raw
    return ("{\"dataframe_records\": [{" + ", ".join(f'"{k}": {v}' for k, v in values.items())
            + "}]}").encode()


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_400_naming_the_column(text: str) -> None:
    """NaN reaches the model, which rejects it for the lab model (handleInvalid=error); the
    infinities are refused while parsing: either way a 400 naming the column."""
    status, body = invoke(_record_json(CulmenLength=text))
    assert status == 400
    assert body["error_code"] == "BAD_REQUEST"
    assert "CulmenLength" in body["message"]


def test_csv_infinities_are_refused_like_json_ones() -> None:
    body = b"Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass\nBiscoe,inf,14.1,210,4450\n"
    status, answer = invoke(body, "text/csv")
    assert status == 400
    assert "column CulmenLength row 0: inf is not a finite number" in answer["message"]


@pytest.mark.parametrize(("digits", "expected"), [
    (400, "BodyMass row 0: the integer"),  # beyond a float64: int -> float overflow
    # beyond Python's int-string limit: refused by the parser
    (5000, "malformed JSON: a number with over 4300 digits"),
])
def test_huge_integers_are_400(digits: int, expected: str) -> None:
    status, body = invoke(_record_json(BodyMass="9" * digits))
    assert status == 400
    assert expected in body["message"]
    assert len(body["message"]) < 300  # the number is not echoed in full


def test_integer_columns_check_their_range() -> None:
    info = ModelInfo(uri="m", inputs=(("n", "long"), ("i", "integer")))
    ok = invocations.prepare(b'{"inputs": {"n": [9007199254740993], "i": [7]}}', responses.JSON,
                             "", info)
    assert isinstance(ok, invocations.Prepared)
    assert ok.columns["n"].tolist() == [9007199254740993]  # exact: not through a float
    for payload, where in [(b'{"inputs": {"n": [9223372036854775808], "i": [1]}}', "column n"),
                           (b'{"inputs": {"n": [1], "i": [2147483648]}}', "column i"),
                           (b'{"inputs": {"n": [1e19], "i": [1]}}', "column n"),
                           (b'{"inputs": {"n": [NaN], "i": [1]}}', "column n")]:
        answer = invocations.prepare(payload, responses.JSON, "", info)
        assert isinstance(answer, responses.Response)
        assert answer.status == 400
        assert where in json.loads(answer.body)["message"]


@pytest.mark.parametrize("payload", [
    b'{"dataframe_records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"dataframe_records": [{"Island": ' + b"[" * 900 + b"]" * 900 + b"}]}",
    b'{"dataframe_records": [{"Island": "Biscoe"}], "params": {"labels": '
    + b"[" * 900 + b"]" * 900 + b"}}",
], ids=["past-the-parsers-depth", "deep-value", "deep-param"])
def test_deeply_nested_json_is_a_short_400(payload: bytes) -> None:
    status, body = invoke(payload)
    assert status == 400
    assert len(body["message"]) < 400


@pytest.mark.parametrize(("payload", "expected"), [
    ({"dataframe_split": {"columns": [1, "Island"], "data": [[1, "Biscoe"]]}}, "column names"),
    ({"dataframe_split": {"columns": [["x"]], "data": [[1]]}}, "column names"),
    (mutate(BodyMass="x" * 100_000), "expected a number"),
    (mutate(BodyMass={"a": [1, {"b": 2}]}), "expected a number"),
    (mutate(Island=False), "expected a string"),
    (mutate(CulmenDepth=[]), "expected a number"),
    ({"dataframe_records": [{**LAB, **{f"extra{i}": i for i in range(500)}}]}, "unknown column"),
    ({"inputs": {c: 5 for c in COLUMNS}}, "columnar input"),
    ({"dataframe_records": "Biscoe"}, "expected a list of records"),
    ({"instances": None}, "expected a list of records"),
    ({"dataframe_records": [LAB], "params": {"labels": "x" * 10_000}}, "must be true or false"),
], ids=["split-int-names", "split-list-names", "huge-string", "object-in-number",
        "bool-in-string", "list-in-number", "500-unknown-columns", "columns-not-lists",
        "string-records", "null-input", "huge-flag"])
def test_more_client_mistakes_are_short_400s(payload: Any, expected: str) -> None:
    status, body = invoke(payload)
    assert status == 400
    assert expected in body["message"]
    assert len(body["message"]) < 600
