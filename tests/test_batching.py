"""Micro-batching in ``runner serve``: requests scored together get the answers they get alone.

Three levels: the compiled classifiers give a row the same bits whatever rows share the call
(no Spark); ``invocations.score_together`` answers each request as ``invocations.score`` does
alone, including the ones the model rejects and the rows handleInvalid=skip drops (no Spark);
and real servers over HTTP on 127.0.0.1: one in this process on a made-up pipeline, where a
counting wrapper around the real scorer shows that requests of one wake-up share one call, and
``runner serve`` subprocesses on the trained lab model, under concurrent keep-alive clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from runner import serving
from runner.compiled.classifiers import (
    Classifier,
    FactorizationMachine,
    LinearSVC,
    LogisticRegression,
    MultilayerPerceptron,
    NaiveBayes,
    OneVsRest,
)
from runner.compiled.frame import Column, Frame
from runner.compiled.trees import GradientBoostedTrees
from runner.serving import batching, invocations, payloads, responses, workers
from runner.serving.connections import Limits, protocol_factory
from runner.serving.invocations import Prepared
from runner.serving.model import ModelInfo
from runner.serving.scorers import CompiledScorer
from tests.compiled_support import ISLANDS, LAB_INPUTS, lab_shaped_pipeline
from tests.conftest import LAB_REQUEST
from tests.serving_support import Server, Store, running_server, start_server, trained_store

LAB = LAB_REQUEST["dataframe_records"][0]


# ---- the compiled classifiers: a row's bits do not depend on the rows beside it -------------

def _classifiers() -> dict[str, Classifier]:
    rng = np.random.default_rng(3)
    cols = ("features", "prediction", "raw", "probability")

    def lr(k: int, d: int) -> LogisticRegression:
        return LogisticRegression(*cols, None, rng.normal(size=(k, d)), rng.normal(size=k),
                                  k > 2, 0.5)

    def svc() -> LinearSVC:
        return LinearSVC(*cols[:3], "", rng.normal(size=6), 0.3, 0.0)

    def nb(kind: str) -> NaiveBayes:
        theta = np.log(rng.uniform(0.05, 0.95, size=(3, 6)))
        return NaiveBayes(*cols, None, kind, np.log([0.2, 0.3, 0.5]), theta,
                          rng.uniform(0.5, 2.0, size=(3, 6)) if kind == "gaussian" else [])

    def gbt() -> GradientBoostedTrees:
        # 8 stumps: node 0 splits on one feature, nodes 1 and 2 are leaves (pointing to themselves)
        roots, feature, threshold, left, right, values = [], [], [], [], [], []
        for tree in range(8):
            base = 3 * tree
            roots.append(base)
            feature += [tree % 6, 0, 0]
            threshold += [rng.normal(), 0.0, 0.0]
            left += [base + 1, base + 1, base + 2]
            right += [base + 2, base + 1, base + 2]
            values += [[0.0], [rng.normal()], [rng.normal()]]
        forest = {"roots": roots, "feature": feature, "threshold": threshold, "left": left,
                  "right": right, "num_categories": [0] * len(feature),
                  "left_categories": [[] for _ in feature], "leaf_values": values, "depth": 1}
        return GradientBoostedTrees(*cols, None, forest, rng.uniform(0.1, 1.0, size=8))

    return {
        "lr-multinomial": lr(3, 6), "lr-multinomial-9": lr(9, 40), "lr-binomial": lr(1, 6),
        "linear-svc": svc(), "nb-multinomial": nb("multinomial"),
        "nb-complement": nb("complement"), "nb-bernoulli": nb("bernoulli"),
        "nb-gaussian": nb("gaussian"),
        "mlp": MultilayerPerceptron(*cols, None, [6, 16, 8, 3],
                                    rng.normal(size=6 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3)),
        "fm": FactorizationMachine(*cols, None, 0.2, rng.normal(size=6),
                                   rng.normal(size=(6, 4))),
        "gbt": gbt(),
        "one-vs-rest": OneVsRest(*cols[:3], "", [lr(1, 6), lr(1, 6), lr(1, 6)]),
    }


CLASSIFIERS = _classifiers()


def _features(name: str, rows: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    width = 40 if name == "lr-multinomial-9" else 6
    if name == "nb-bernoulli":
        return rng.integers(0, 2, size=(rows, width)).astype(np.float64)
    scale = rng.choice([1e-3, 1.0, 1e3], size=(rows, width))  # wide ranges: rounding shows
    x = rng.normal(size=(rows, width)) * scale
    return np.abs(x) if name.startswith("nb-") and name != "nb-gaussian" else x


def _score(stage: Classifier, x: np.ndarray) -> list[np.ndarray]:
    frame = Frame({"features": Column(x)}, np.arange(len(x)))
    with np.errstate(all="ignore"):  # as CompiledPipeline scores
        stage.apply(frame)
    names = ("prediction", "raw", "probability")
    return [frame[n].values for n in names if n in frame.columns]


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_a_row_gets_the_same_bits_whatever_rows_share_the_call(name: str) -> None:
    stage, x = CLASSIFIERS[name], _features(name, 1400)
    alone = [np.concatenate(parts) for parts in zip(*(_score(stage, x[i:i + 1])
                                                        for i in range(len(x))), strict=True)]
    for rows in (2, 3, 7, 8, 9, 16, 31, 32, 33, 100, 257, 1024):
        for start in (0, 1, 5):
            together = _score(stage, x[start:start + rows])
            for got, want in zip(together, alone, strict=True):
                np.testing.assert_array_equal(got, want[start:start + rows], err_msg=f"{rows=}")


# ---- score_together: each request's answer as alone -----------------------------------------

INPUTS = tuple(LAB_INPUTS.items())


def _scorer(handle_invalid: str) -> CompiledScorer:
    return CompiledScorer(lab_shaped_pipeline(handle_invalid))


def _info(scorer: CompiledScorer) -> ModelInfo:
    return ModelInfo(uri="test", inputs=INPUTS, class_names=tuple(scorer.class_names))


def _record(rng: random.Random) -> dict[str, Any]:
    return {"Island": rng.choice(ISLANDS), "CulmenLength": round(rng.uniform(30, 60), 1),
            "FlipperLength": rng.choice([rng.randint(170, 235), rng.uniform(170, 235)])}


def _bodies(seed: int) -> list[tuple[str, bytes]]:
    """(query, JSON body): one or more rows, each params, and rows a model may reject or skip
    (an unseen island, null island, null or NaN measurement)."""
    rng = random.Random(seed)
    queries = ["", "probabilities=true", "labels=true", "probabilities=true&labels=true"]
    odd = [{"Island": "Atlantis"}, {"Island": None}, {"CulmenLength": None},
           {"FlipperLength": float("nan")}]
    out = []
    for i in range(60):
        records = [_record(rng) for _ in range(rng.choice([1, 1, 1, 2, 5]))]
        if i % 4 == 3:
            records.insert(rng.randrange(len(records) + 1), {**_record(rng), **odd[i // 4 % 4]})
        out.append((rng.choice(queries), json.dumps({"dataframe_records": records}).encode()))
    return out


@pytest.mark.parametrize("handle_invalid", ["error", "skip", "keep"])
def test_score_together_answers_each_request_as_it_is_answered_alone(handle_invalid: str) -> None:
    scorer = _scorer(handle_invalid)
    info = _info(scorer)
    prepared = [invocations.prepare(body, responses.JSON, query, info)
                for query, body in _bodies(5)]
    requests = [r for r in prepared if isinstance(r, Prepared)]
    assert len(requests) == len(prepared)
    alone = [invocations.score(r, scorer, info) for r in requests]
    assert {a.status for a in alone} == ({200, 400} if handle_invalid == "error" else {200})
    for size in (2, 7, len(requests)):
        together = [answer for i in range(0, len(requests), size)
                    for answer in invocations.score_together(requests[i:i + size], scorer, info)]
        assert together == alone


@pytest.mark.parametrize("handle_invalid", ["skip", "keep"])
def test_a_large_input_scored_in_chunks_gives_the_same_bits(
        handle_invalid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs over CHUNK_ROWS are scored chunk by chunk: the same outputs, bit for bit, as one
    call over all rows, and ``kept`` numbers the input rows across chunks (skipped rows in
    every chunk)."""
    from runner.compiled import pipeline as compiled_pipeline

    rng = np.random.default_rng(5)
    n = 2 * compiled_pipeline.CHUNK_ROWS + 123
    islands = np.array([*ISLANDS, "Atlantis"], dtype=object)
    columns = {"Island": islands[rng.integers(0, len(islands), n)],
               "CulmenLength": rng.normal(44.0, 6.0, n), "FlipperLength": rng.normal(200, 15, n)}
    scorer = lab_shaped_pipeline(handle_invalid)
    chunked = scorer.predict_columns(columns)
    monkeypatch.setattr(compiled_pipeline, "CHUNK_ROWS", n)
    whole = scorer.predict_columns(columns)
    assert chunked.keys() == whole.keys()
    for name, values in whole.items():
        np.testing.assert_array_equal(chunked[name], values, err_msg=name)
    assert len(whole["kept"]) < n if handle_invalid == "skip" else len(whole["kept"]) == n


# ---- serve's HttpConnection and Batcher in this process: one wake-up, one model call ---------

class CountingScorer:
    """The real compiled scorer, recording the rows of each call."""

    kind = "compiled"

    def __init__(self, scorer: CompiledScorer) -> None:
        self.scorer, self.class_names = scorer, scorer.class_names
        self.calls: list[int] = []

    def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
        self.calls.append(len(next(iter(columns.values()))))
        return self.scorer.predict_columns(columns)


@dataclass
class InProcess:
    loop: asyncio.AbstractEventLoop
    port: int
    scorer: CountingScorer
    info: ModelInfo

    def hold(self, seconds: float) -> None:
        """Block the event loop for ``seconds`` from now: what arrives meanwhile is read in one
        wake-up."""
        held = threading.Event()
        self.loop.call_soon_threadsafe(lambda: (held.set(), time.sleep(seconds)))
        assert held.wait(10)

    def alone(self, body: bytes, query: str = "") -> tuple[int, bytes]:
        answer = invocations.answer(body, responses.JSON, query, self.scorer.scorer, self.info)
        return answer.status, answer.body


@pytest.fixture
def in_process() -> Iterator[InProcess]:
    """serve's protocol on its own event loop (uvloop where installed) in a thread."""
    scorer = CountingScorer(_scorer("error"))
    app = serving.App(scorer, _info(scorer.scorer), b"page")
    loop = workers.new_loop()
    factory, connections = protocol_factory(app, Limits(1 << 22), loop)
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield InProcess(loop, server.sockets[0].getsockname()[1], scorer, app.info)
    finally:
        loop.call_soon_threadsafe(connections.close)
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def http_request(body: bytes, query: str = "", content_type: str = responses.JSON) -> bytes:
    path = "/invocations" + (f"?{query}" if query else "")
    return (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_response(stream: Any) -> tuple[int, bytes]:
    """One HTTP/1.1 response from a socket's file: (status, body)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()
        assert line, "connection closed before a response"
        head += line
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    return int(head.split(b" ")[1]), stream.read(length)


def send_held(server: InProcess, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    """One connection per body, all sent while the loop is held; the answers."""
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in bodies]
    try:
        time.sleep(0.2)  # every connection accepted
        server.hold(0.5)
        for sock, body in zip(socks, bodies, strict=True):
            sock.sendall(http_request(body))
        return [read_response(sock.makefile("rb")) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def test_requests_of_one_wake_up_share_one_model_call(in_process: InProcess) -> None:
    rng = random.Random(1)
    bodies = [json.dumps({"dataframe_records": [_record(rng)]}).encode() for _ in range(16)]
    assert send_held(in_process, bodies) == [in_process.alone(b) for b in bodies]
    assert in_process.scorer.calls == [16]


def test_a_request_over_max_batch_rows_is_scored_on_its_own(in_process: InProcess) -> None:
    rng = random.Random(2)
    big = json.dumps({"dataframe_records": [_record(rng) for _ in range(1100)]}).encode()
    small = [json.dumps({"dataframe_records": [_record(rng)]}).encode() for _ in range(3)]
    assert send_held(in_process, [*small, big]) == [in_process.alone(b) for b in [*small, big]]
    assert batching.MAX_BATCH_ROWS < 1100
    assert 1100 in in_process.scorer.calls
    assert sum(in_process.scorer.calls) == 1103


def test_pipelined_requests_are_answered_in_order(in_process: InProcess) -> None:
    sent = _bodies(9)[:12]
    raw = [http_request(body, query) for query, body in sent]
    raw[5:5] = [b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", http_request(b"{")]
    with socket.create_connection(("127.0.0.1", in_process.port), timeout=30) as sock:
        sock.sendall(b"".join(raw))  # all in one write: pipelined
        stream = sock.makefile("rb")
        answers = [read_response(stream) for _ in raw]
    want = [in_process.alone(body, query) for query, body in sent]
    want[5:5] = [(200, b"\n"), in_process.alone(b"{")]
    assert answers == want


# ---- runner serve on the trained lab model, real clients ------------------------------------

Item = tuple[str, str, bytes]  # query, content type, body


def lab_bodies(seed: int) -> list[Item]:
    """Good rows, rows the model rejects (or skips), client mistakes, several rows, each params,
    and CSV."""
    rng = random.Random(seed)

    def record() -> dict[str, Any]:
        return {"Island": rng.choice(ISLANDS), "CulmenLength": round(rng.uniform(32, 60), 1),
                "CulmenDepth": round(rng.uniform(13, 22), 1),
                "FlipperLength": rng.choice([rng.randint(172, 232), rng.uniform(172, 232)]),
                "BodyMass": rng.randint(2700, 6300)}

    odd = [{**record(), "Island": "Atlantis"}, {**record(), "FlipperLength": None},
           {**record(), "BodyMass": "heavy"},  # a client mistake: 400 before any scoring
           {k: v for k, v in record().items() if k != "CulmenDepth"}]
    queries = ["", "probabilities=true", "labels=true", "probabilities=true&labels=true"]
    out: list[Item] = []
    for i in range(40):
        records = [record() for _ in range(rng.choice([1, 1, 1, 3, 20]))]
        if i % 5 == 4:
            records.insert(rng.randrange(len(records) + 1), odd[i // 5 % len(odd)])
        out.append((rng.choice(queries), responses.JSON,
                    json.dumps({"dataframe_records": records}).encode()))
    out += [("", responses.JSON, json.dumps({"dataframe_records": [odd[0]]}).encode()),
            ("labels=true", payloads.CSV, ",".join(LAB).encode() + b"\nDream,40.1,18.9,190,3900\n")]
    return out


def wire(item: Item) -> bytes:
    query, content_type, body = item
    return http_request(body, query, content_type)


def ask_alone(url: str, items: list[Item]) -> list[tuple[int, bytes]]:
    """Each request on one connection, one at a time: every one is scored alone."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        stream = sock.makefile("rb")
        answers = []
        for item in items:
            sock.sendall(wire(item))
            answers.append(read_response(stream))
    return answers


def ask_concurrently(url: str, items: list[Item], clients: int, rounds: int
                     ) -> dict[int, list[tuple[int, bytes]]]:
    """``clients`` keep-alive connections, each sending every item ``rounds`` times in its own
    order, every other send two requests pipelined; the answers by item."""
    parts = urlsplit(url)
    got: dict[int, list[tuple[int, bytes]]] = {i: [] for i in range(len(items))}
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        order = [i for _ in range(rounds) for i in rng.sample(range(len(items)), len(items))]
        with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
            stream = sock.makefile("rb")
            at, sends = 0, 0
            while at < len(order):
                chunk = order[at:at + 1 + sends % 2]
                at, sends = at + len(chunk), sends + 1
                sock.sendall(b"".join(wire(items[i]) for i in chunk))
                answers = [read_response(stream) for _ in chunk]
                with lock:
                    for i, answer in zip(chunk, answers, strict=True):
                        got[i].append(answer)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return got


def ask_together(server: Server, items: list[Item]) -> list[tuple[int, bytes]]:
    """One connection per request, all sent while the server process is stopped (SIGSTOP): it
    wakes to find them all, and scores them in one call when no row is rejected."""
    parts = urlsplit(server.url)
    socks = [socket.create_connection((parts.hostname, parts.port), timeout=60) for _ in items]
    try:
        time.sleep(0.3)  # every connection accepted
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            for sock, item in zip(socks, items, strict=True):
                sock.sendall(wire(item))
            time.sleep(0.2)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        return [read_response(sock.makefile("rb")) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def check_against_alone(server: Server, items: list[Item], clients: int) -> None:
    alone = ask_alone(server.url, items)
    scored = [item for item, (status, _) in zip(items, alone, strict=True) if status == 200]
    assert ask_together(server, scored) == [a for a in alone if a[0] == 200]
    assert ask_together(server, items) == alone
    for i, answers in ask_concurrently(server.url, items, clients, rounds=3).items():
        assert answers == [alone[i]] * clients * 3, items[i]
    assert server.process.poll() is None


@pytest.fixture(scope="module")
def lab_store(spark, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return trained_store(tmp_path_factory.getbasetemp() / "serving-store")


@pytest.mark.slow
def test_concurrent_clients_get_the_answers_they_get_alone(lab_store: Store) -> None:
    server = running_server(lab_store)
    items = lab_bodies(7)
    statuses = [status for status, _ in ask_alone(server.url, items)]
    assert statuses.count(400) == 9  # 8 inserted odd rows and the lone unseen island
    check_against_alone(server, items, clients=32)


@pytest.mark.slow
def test_a_skip_model_answers_together_as_alone(lab_store: Store, tmp_path: Path) -> None:
    """The lab model with its compiled stages set to handleInvalid=skip (an unseen island or a
    null measurement drops its row), served from a model directory."""
    import mlflow

    mlflow.set_tracking_uri(lab_store.uri)
    local = mlflow.artifacts.download_artifacts(artifact_uri=lab_store.model_uri,
                                                dst_path=str(tmp_path / "model"))
    pipeline = Path(local) / "compiled" / "pipeline.json"
    doc = json.loads(pipeline.read_text())
    for stage in doc["stages"]:
        if stage["kind"] in ("StringIndexer", "VectorAssembler"):
            stage["handle_invalid"] = "skip"
    pipeline.write_text(json.dumps(doc))
    server = start_server(lab_store, ["serving.port=0", f"serving.model_uri={local}"])
    try:
        items = lab_bodies(8)
        answers = ask_alone(server.url, items)
        assert answers[-2] == (200, b'{"predictions": []}')  # the lone unseen island: skipped
        assert [status for status, _ in answers].count(400) == 4  # the client mistakes
        check_against_alone(server, items, clients=16)
    finally:
        server.process.terminate()
        server.process.wait(timeout=20)
