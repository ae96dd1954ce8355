"""``runner serve`` as operators run it, over real sockets on 127.0.0.1: the served alias moved
under a steady load of 32 connections (one good version swapped in, one that cannot score its
input example refused), ``/metrics`` parsed by Prometheus' own parser against the requests sent,
and SIGTERM under load (every received request answered, exit 0). One server process of two
workers, on a copy of the session's trained store whose new versions are copies of its model:
no second training run."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runner.serving import App, ModelInfo, metrics
from tests.conftest import LAB_REQUEST
from tests.serving_support import Server, Store, start_server, trained_store

pytestmark = pytest.mark.slow
NAME = "penguin-classifier"
BODY = json.dumps(LAB_REQUEST).encode()
INTERVAL = 0.5  # serving.reload_interval of the server under test
WORKERS = 2


@dataclass
class Versions:
    store: Store
    good: str  # a copy of the champion's model
    broken: str  # a copy whose logged input example cannot be scored


def _register_copy(store: Store, source: Path, target: Path, example: dict | None) -> str:
    from mlflow import MlflowClient

    shutil.copytree(source, target)
    if example is not None:
        (target / "serving_input_example.json").write_text(json.dumps(example))
    client = MlflowClient(store.uri)
    return str(client.create_model_version(NAME, str(target), run_id=store.run_id).version)


@pytest.fixture(scope="module")
def versions(spark, tmp_path_factory: pytest.TempPathFactory) -> Versions:
    """The session's trained store copied (its artifacts stay where they are, read only), with
    two more versions of the same model: one as it is, one whose example has a text FlipperLength
    (it cannot score it, so it must not be swapped in)."""
    from mlflow import MlflowClient

    shared = trained_store(tmp_path_factory.getbasetemp() / "serving-store")
    root = tmp_path_factory.mktemp("ops-store")
    shutil.copy(shared.root / "mlflow.db", root / "mlflow.db")
    store = Store(f"sqlite:///{root / 'mlflow.db'}", root, shared.run_id, shared.model_uri)
    client = MlflowClient(store.uri)
    champion = client.get_model_version_by_alias(NAME, "champion")
    source = Path(client.get_model_version_download_uri(NAME, champion.version).replace(
        "file://", ""))
    if not (source / "MLmodel").exists():  # a runs:/ or logged-model source: MLflow downloads
        import mlflow

        source = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}/{champion.version}",
                                                          tracking_uri=store.uri))
    example = json.loads((source / "serving_input_example.json").read_text())
    records = example["dataframe_split"]
    flipper = records["columns"].index("FlipperLength")
    records["data"][0][flipper] = "two hundred"
    good = _register_copy(store, source, root / "good-copy", None)
    broken = _register_copy(store, source, root / "broken-copy", example)
    return Versions(store, good, broken)


@pytest.fixture(scope="module")
def server(versions: Versions) -> Iterator[Server]:
    started = start_server(versions.store, [
        "serving.port=0", f"serving.workers={WORKERS}", f"serving.reload_interval={INTERVAL}",
        "serving.shutdown_timeout=10"])
    yield started
    if started.process.poll() is None:  # a test failed before the SIGTERM test
        started.process.terminate()
        try:
            started.process.wait(20)
        except subprocess.TimeoutExpired:
            started.process.kill()


# ---- a steady load: keep-alive clients recording each answer's status and version ------------

@dataclass
class Load:
    port: int
    connections: int = 32
    answers: list[tuple[float, int, str]] = field(default_factory=list)  # (time, status, ver)
    failures: list[str] = field(default_factory=list)  # a request sent, no full answer back
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> Load:
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(30)

    async def _run(self) -> None:
        await asyncio.gather(*(self._client() for _ in range(self.connections)))

    async def _client(self) -> None:
        request = (b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return  # the server stopped accepting: nothing sent
        while not self.stop.is_set():
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                # closed with no byte of an answer: at shutdown, an idle keep-alive connection
                # the server closed before it read this request (the server counts what it read)
                if getattr(exc, "partial", b""):
                    self.failures.append(f"partial answer: {exc!r}")
                break
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            await reader.readexactly(length)
            version = re.search(rb"X-Model-Version: (\S+)", head)
            self.answers.append((time.monotonic(), int(head.split(b" ")[1]),
                                 version.group(1).decode() if version else "none"))
            if b"Connection: close" in head:
                break
        writer.close()


def port_of(server: Server) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


def wait_for(what: str, check, timeout: float, server: Server | None = None  # noqa: ANN001
             ) -> float:
    started = time.monotonic()
    while not check():
        tail = "".join(server.lines[-15:]) if server else ""
        assert time.monotonic() - started < timeout, f"not within {timeout} s: {what}\n{tail}"
        time.sleep(0.05)
    return time.monotonic() - started


def count_lines(server: Server, pattern: str) -> int:
    return sum(bool(re.search(pattern, line)) for line in list(server.lines))


def move_alias(versions: Versions, version: str) -> float:
    from mlflow import MlflowClient

    MlflowClient(versions.store.uri).set_registered_model_alias(NAME, "champion", version)
    return time.monotonic()


def get(server: Server, path: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=10) as r:  # noqa: S310
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


# ---- the tests, in order: they share the one server ----------------------------------------

def test_alias_moved_twice_under_load(server: Server, versions: Versions) -> None:
    """Moved to a good version: every worker swaps within the interval, no request fails.
    Moved on to one that cannot score its example: refused, the good one keeps serving."""
    old = json.loads(get(server, "/metadata")[1])["version"]
    load = Load(port_of(server)).start()
    try:
        time.sleep(0.5)
        moved = move_alias(versions, versions.good)
        wait_for("every worker swaps", lambda: count_lines(
            server, rf"now serving {NAME} version {versions.good} ") == WORKERS, 10 * INTERVAL,
            server)
        wait_for("answers carry the new version", lambda: any(
            t > moved and v == versions.good for t, _, v in load.answers[-50:]), 5)
        time.sleep(0.3)
        move_alias(versions, versions.broken)
        wait_for("every worker refuses", lambda: count_lines(  # loads it first: may take longer
            server, rf"not swapping in {NAME} version {versions.broken}: .*input example"
        ) == WORKERS, 30, server)
        time.sleep(2 * INTERVAL)  # refused once: not retried, not swapped in later
    finally:
        load.finish()
    statuses = Counter(status for _, status, _ in load.answers)
    assert statuses == {200: len(load.answers)}, statuses
    assert not load.failures
    seen = [v for _, _, v in load.answers]
    assert set(seen) == {old, versions.good}, Counter(seen)
    last_old = max(t for t, _, v in load.answers if v == old)
    assert last_old - moved < 10 * INTERVAL
    assert seen[-1] == versions.good
    assert count_lines(server, rf"not swapping in {NAME} version {versions.broken}") == WORKERS
    assert count_lines(server, r"now serving ") == WORKERS
    status, body, headers = get(server, "/metadata")
    assert json.loads(body)["version"] == versions.good == headers["X-Model-Version"]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_the_requests_sent(server: Server, versions: Versions) -> None:
    before = _samples(get(server, "/metrics")[1].decode())
    good, bad, missing = 40, 7, 3
    rows = [dict(LAB_REQUEST["dataframe_records"][0]) for _ in range(3)]
    three = json.dumps({"dataframe_records": rows}).encode()
    for _ in range(good):
        req = urllib.request.Request(server.url + "invocations", three,  # noqa: S310
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
            assert r.status == 200
    for _ in range(bad):
        req = urllib.request.Request(server.url + "invocations", b'{"dataframe_records": 1}',
                                     {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError, match="400"):
            urllib.request.urlopen(req, timeout=10)  # noqa: S310
    for _ in range(missing):
        assert get(server, "/nowhere")[0] == 404
    after = _samples(get(server, "/metrics")[1].decode())  # either worker: the server's counts

    def delta(name: str, **labels: str) -> float:
        key = (f"runner_serve_{name}", tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert delta("requests_total", code="2xx") == good + 1  # + the first scrape
    assert delta("requests_total", code="4xx") == bad + missing
    assert delta("requests_total", code="5xx") == 0
    assert delta("errors_total", kind="bad_request") == bad
    assert delta("errors_total", kind="not_found") == missing
    assert delta("rows_scored_total") == 3 * good
    assert delta("batch_rows_sum") == 3 * good
    assert delta("request_duration_seconds_count") == good + bad + missing + 1
    assert delta("scoring_duration_seconds_count") == delta("batch_rows_count") > 0
    assert after[("runner_serve_reloads_total", (("result", "ok"),))] == WORKERS
    assert after[("runner_serve_reloads_total", (("result", "failed"),))] == WORKERS
    info = [k for k in after if k[0] == "runner_serve_model_info"]
    assert info
    assert dict(info[0][1])["version"] == versions.good
    for worker in range(WORKERS):
        served = after[("runner_serve_model_version", (("worker", str(worker)),))]
        assert served == float(versions.good)


def test_sigterm_under_load_answers_every_received_request(server: Server) -> None:
    load = Load(port_of(server)).start()
    try:
        wait_for("load running", lambda: len(load.answers) > 200, 20)
        assert get(server, "/ready")[0] == 200
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=15)
    finally:
        load.finish()
    assert code == 0
    assert time.monotonic() - signalled < 10 + 2  # serving.shutdown_timeout, and the exit
    assert not load.failures
    assert {status for _, status, _ in load.answers} == {200}
    time.sleep(0.2)  # the output reader thread catches up
    stops = [re.search(r"stopped .*: every request received was answered; (\d+) received, "
                       r"(\d+) answered", line) for line in server.lines]
    counts = [(int(m.group(1)), int(m.group(2))) for m in stops if m]
    assert len(counts) == WORKERS, "".join(server.lines[-20:])
    assert all(received == answered for received, answered in counts)


def test_ready_is_false_while_draining() -> None:
    """Readiness vs liveness, on the App itself: draining answers /ready 503, /health 200."""
    info = ModelInfo(uri="m", inputs=(("x", "double"),), name="m", version="4")
    app = App(_Constant(), info, b"page")
    assert app.handle("GET", "/ready", "", None, b"").status == 200
    app.draining = True
    assert app.handle("GET", "/ready", "", None, b"").status == 503
    assert app.handle("GET", "/health", "", None, b"").status == 200
    exposition = app.handle("GET", "/metrics", "", None, b"")
    assert exposition.content_type == metrics.CONTENT_TYPE
    samples = _samples(exposition.body.decode())
    assert samples[("runner_serve_model_info",
                    (("name", "m"), ("run_id", ""), ("version", "4")))] == 1


class _Constant:
    kind = "compiled"
    class_names: list[str] = []

    def predict_columns(self, columns: dict) -> dict:
        import numpy as np

        return {"prediction": np.zeros(len(columns["x"]))}


def test_a_batch_never_mixes_versions() -> None:
    """Requests parsed by the old version before a swap are scored by it; those after, by the new:
    the Batcher cuts the batch where the version changes."""
    from runner.serving.app import Loaded
    from runner.serving.batching import Batcher

    old, new = (Loaded.of(_Constant(), ModelInfo(uri="m", inputs=(("x", "double"),),
                                                 version=v)) for v in ("1", "2"))
    calls: list[tuple[str | None, int]] = []

    def score_together(requests: list, loaded: Loaded) -> list:
        calls.append((loaded.info.version, len(requests)))
        return [loaded.info.version] * len(requests)

    loop = asyncio.new_event_loop()
    try:
        batcher = Batcher(score_together, loop)
        answers: list = []
        prepared = App(_Constant(), old.info, b"").prepare("", "application/json",
                                                          b'{"inputs": {"x": [1.0]}}', old)
        for loaded in (old, old, new, new, new):
            batcher.add(prepared, loaded, answers.append)
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    assert calls == [("1", 2), ("2", 3)]
    assert answers == ["1", "1", "2", "2", "2"]
