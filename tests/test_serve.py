"""``runner serve`` over real HTTP on 127.0.0.1: a subprocess serving a model trained into a tmp
store. Protocol answers, health endpoints, malformed requests (4xx, server keeps serving), and a
bounded load loop mixing good and bad requests that must end with no 5xx."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import LAB_REQUEST
from tests.serving_support import (
    MAX_BODY,
    Server,
    Store,
    running_server,
    start_server,
    trained_store,
)

pytestmark = pytest.mark.slow
LAB = LAB_REQUEST["dataframe_records"][0]


@pytest.fixture(scope="module")
def server(spark, tmp_path_factory: pytest.TempPathFactory) -> Server:
    return running_server(trained_store(tmp_path_factory.getbasetemp() / "serving-store"))


def connect(server: Server) -> http.client.HTTPConnection:
    parts = urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)


def request(server: Server, method: str, path: str, body: Any = None,
            content_type: str = "application/json") -> tuple[int, bytes, dict[str, str]]:
    conn = connect(server)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def test_lab_request_is_gentoo(server: Server) -> None:
    status, body, headers = request(server, "POST", "/invocations", LAB_REQUEST)
    assert status == 200
    assert json.loads(body) == {"predictions": [1.0]}
    assert headers["Content-Type"] == "application/json"


def test_probabilities_and_label_names(server: Server) -> None:
    status, body, _ = request(server, "POST", "/invocations?probabilities=true&labels=true",
                              LAB_REQUEST)
    (prediction,) = json.loads(body)["predictions"]
    assert status == 200
    assert prediction["label"] == "Gentoo"
    assert abs(sum(prediction["probability"]) - 1) < 1e-6


def test_csv_and_split_formats(server: Server) -> None:
    csv = (b"Island,CulmenLength,CulmenDepth,FlipperLength,BodyMass\n"
           b"Biscoe,48.7,14.1,210,4450\n")
    assert json.loads(request(server, "POST", "/invocations", csv, "text/csv")[1]) == {
        "predictions": [1.0]}
    split = {"dataframe_split": {"columns": list(LAB), "data": [list(LAB.values())]}}
    assert json.loads(request(server, "POST", "/invocations", split)[1]) == {"predictions": [1.0]}


def test_parquet_bodies_as_mlflows_server_takes_them(server: Server) -> None:
    import io

    import pandas as pd

    def body(frame: pd.DataFrame) -> bytes:
        out = io.BytesIO()
        frame.to_parquet(out)
        return out.getvalue()

    parquet = "application/vnd.apache.parquet"
    status, answer, _ = request(server, "POST", "/invocations?labels=true",
                                body(pd.DataFrame([LAB])), parquet)  # the lab's ints as int64
    assert status == 200
    assert json.loads(answer) == {"predictions": [{"prediction": 1.0, "label": "Gentoo"}]}
    status, answer, _ = request(server, "POST", "/invocations",
                                body(pd.DataFrame([{**LAB, "BodyMass": "heavy"}])), parquet)
    assert status == 400
    assert "column BodyMass row 0: expected a number" in json.loads(answer)["message"]
    status, answer, _ = request(server, "POST", "/invocations", b"a=1", "application/x-www-form")
    assert status == 415
    assert "text/csv, application/vnd.apache.parquet" in json.loads(answer)["message"]


def test_health_version_and_metadata(server: Server) -> None:
    assert request(server, "GET", "/ping")[0] == 200
    assert request(server, "GET", "/health")[0] == 200
    status, version, _ = request(server, "GET", "/version")
    assert status == 200
    assert version.decode().count(".") == 2  # MLflow's version, as `mlflow models serve`
    meta = json.loads(request(server, "GET", "/metadata")[1])
    assert meta["name"] == "penguin-classifier"
    assert meta["version"] == "1"
    assert len(meta["run_id"]) == 32
    assert [c["name"] for c in meta["input_schema"]] == list(LAB)
    assert meta["class_labels"] == ["Adelie", "Gentoo", "Chinstrap"]
    assert meta["scorer"] in ("compiled", "spark")


def test_keep_alive_serves_many_requests_on_one_connection(server: Server) -> None:
    conn = connect(server)
    try:
        for _ in range(3):
            conn.request("POST", "/invocations", body=json.dumps(LAB_REQUEST),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read()) == {"predictions": [1.0]}
    finally:
        conn.close()


BAD = [
    ("POST", "/invocations", b'{"dataframe_records": [', "application/json", 400, "malformed JSON"),
    ("POST", "/invocations", b"{}", "text/plain", 415, "Content-Type"),
    ("POST", "/invocations", {"dataframe_records": [{**LAB, "Sex": "MALE"}]}, "application/json",
     400, "unknown column"),
    ("POST", "/invocations", {"dataframe_records": [{**LAB, "BodyMass": "heavy"}]},
     "application/json", 400, "expected a number"),
    ("POST", "/invocations", {"dataframe_records": [{**LAB, "Island": "Atlantis"}]},
     "application/json", 400, "Atlantis"),
    ("POST", "/invocations", {"dataframe_records": [{**LAB, "BodyMass": None}]},
     "application/json", 400, "null"),
    ("POST", "/invocations", {"dataframe_records": []}, "application/json", 400, "no rows"),
    ("POST", "/invocations", b"x" * (MAX_BODY + 1), "application/json", 413, "limit"),
    ("GET", "/invocations", None, "application/json", 405, "POST"),
    ("GET", "/nope", None, "application/json", 404, "no endpoint"),
]


@pytest.mark.parametrize(("method", "path", "body", "content_type", "status", "text"), BAD,
                         ids=[f"{b[4]}-{b[5]}" for b in BAD])
def test_bad_requests_are_4xx_with_mlflows_error_shape(server: Server, method: str, path: str,
                                                       body: Any, content_type: str, status: int,
                                                       text: str) -> None:
    got, answer, _ = request(server, method, path, body, content_type)
    error = json.loads(answer)
    assert got == status
    assert set(error) == {"error_code", "message"}
    assert text.lower() in error["message"].lower()
    assert request(server, "GET", "/ping")[0] == 200


@pytest.mark.parametrize("raw", [
    b"garbage\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 20_000 + b"\r\n\r\n",
])
def test_broken_http_gets_a_4xx_and_a_closed_connection(server: Server, raw: bytes) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.split(b" ", 2)[1].startswith(b"4")
    assert request(server, "GET", "/ping")[0] == 200


def test_mixed_load_ends_with_no_5xx_and_the_server_alive(server: Server) -> None:
    """4 keep-alive clients, 40 requests each, 1 in 20 valid (the Spark fallback is slow)."""
    bad_bodies = [b"{", b"[]", json.dumps({"inputs": 3}).encode(),
                  json.dumps({"dataframe_records": [{**LAB, "Island": 7}]}).encode(),
                  json.dumps({"dataframe_records": [{"Island": "Dream"}]}).encode(),
                  json.dumps({"dataframe_records": [{**LAB, "Island": "Atlantis"}]}).encode(),
                  b"\xff\xfe"]
    statuses: list[int] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        conn = connect(server)
        for i in range(40):
            valid = (i + seed) % 20 == 0
            body = json.dumps(LAB_REQUEST).encode() if valid else bad_bodies[i % len(bad_bodies)]
            conn.request("POST", "/invocations", body=body,
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=client, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert len(statuses) == 160
    assert not [s for s in statuses if s >= 500]
    assert statuses.count(200) == 8
    assert request(server, "POST", "/invocations", LAB_REQUEST)[0] == 200
    assert server.process.poll() is None


def test_a_model_directory_is_served_without_the_tracking_store(server: Server,
                                                                 tmp_path: Path) -> None:
    import mlflow
    from mlflow.models import Model

    from runner import tracking

    store = trained_store(tmp_path)  # the session's store (trained once)
    mlflow.set_tracking_uri(store.uri)
    local = mlflow.artifacts.download_artifacts(artifact_uri=store.model_uri,
                                                dst_path=str(tmp_path / "model"))
    ours = Model.load(local)  # runner reads the MLmodel as YAML: it must agree with MLflow
    # numeric columns are `any` to MLflow; runner reads their declared type from the metadata
    from mlflow.types.schema import AnyType

    declared = ours.metadata[tracking.DECLARED_TYPES_KEY]
    assert tracking.model_inputs(local) == [
        (s.name, declared[s.name] if isinstance(s.type, AnyType) else s.type.name)
        for s in ours.get_input_schema().inputs]
    assert tracking.model_flavors(local) == ours.flavors
    # an unreachable tracking store: serving a directory must not need one
    nowhere = Store("http://127.0.0.1:9", tmp_path, store.run_id, local)
    served = start_server(nowhere, ["serving.port=0", f"serving.model_uri={local}"])
    try:
        status, body, _ = request(served, "POST", "/invocations?labels=true", LAB_REQUEST)
        assert status == 200
        assert json.loads(body) == {"predictions": [{"prediction": 1.0, "label": "Gentoo"}]}
        meta = json.loads(request(served, "GET", "/metadata")[1])
        assert meta["run_id"] == store.run_id
        assert meta["class_labels"] == ["Adelie", "Gentoo", "Chinstrap"]
    finally:
        served.process.terminate()
        served.process.wait(timeout=20)
