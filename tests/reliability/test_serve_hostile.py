"""``runner serve`` under hostile clients (issue 13), over real sockets on 127.0.0.1.

A real ``runner serve`` process serving the lab model: 50,000 requests at 32 connections with 10%
malformed (nesting, huge numbers, non-finite numbers, broken HTTP) from plain, pipelining and
slow clients must get no 5xx, a 4xx JSON error for each malformed one, and leave the server alive
under 200 MB of RSS. A second server with short timeouts and a low connection limit shows that
silent, idle, half-sent and never-reading clients are cut off, and what they can make it hold.
Every loop here is bounded by a count and a deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runner import serving
from runner.config import check_serving
from runner.errors import RunnerError
from runner.serving import responses
from tests.conftest import LAB_REQUEST
from tests.serving_support import Server, Store, start_server, trained_store

pytestmark = pytest.mark.slow
LAB = LAB_REQUEST["dataframe_records"][0]
GOOD = json.dumps(LAB_REQUEST).encode()
GOOD_ANSWER = b'{"predictions": [1.0]}'
RSS_LIMIT_KB = 200 * 1024
# the strict server: short timeouts, few connections, an access log
TIMEOUT_S = 0.5
IDLE_S = 1.0
MAX_CONNECTIONS = 16


def _record(**raw: str) -> bytes:
    """The lab request with some values written verbatim as JSON text."""
    values = {k: json.dumps(v) for k, v in LAB.items()} | raw
    return ("{\"dataframe_records\": [{" + ", ".join(f'"{k}": {v}' for k, v in values.items())
            + "}]}").encode()


def post(body: bytes, content_type: str = "application/json", extra: bytes = b"") -> bytes:
    return (b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: " + content_type.encode()
            + b"\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n" + body)


# client mistakes in the body: answered with a 4xx, the connection kept
MALFORMED_BODIES = [
    post(b'{"dataframe_records": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
    post(b'{"dataframe_records": [{"Island": ' + b"[" * 900 + b"]" * 900 + b"}]}"),
    post(_record(BodyMass="9" * 400)),
    post(_record(BodyMass="9" * 5000)),
    post(_record(CulmenLength="NaN")),
    post(_record(CulmenLength="Infinity")),
    post(_record(CulmenDepth="-Infinity")),
    post(_record(FlipperLength="1e400")),
    post(_record(BodyMass='"heavy"')),
    post(_record(BodyMass="true")),
    post(_record(Island="7")),
    post(b'{"dataframe_records": ['),
    post(b"\xff\xfe\x00"),
    post(GOOD, "text/plain"),
    post(json.dumps({**LAB_REQUEST, "params": {"labels": [[[[1]]]]}}).encode()),
    post(json.dumps({"dataframe_split": {"columns": [1, 2], "data": [[1, 2]]}}).encode()),
]
# broken HTTP: answered with a 4xx, then the server closes the connection
MALFORMED_FRAMING = [
    b"garbage\r\n\r\n",
    b"POST /invocations HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n",
    b"GET /ping HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n",
    b"GET /ping HTTP/1.1\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
]


@pytest.fixture(scope="module")
def store(spark, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return trained_store(tmp_path_factory.getbasetemp() / "serving-store")


def _stopped(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def loaded(store: Store) -> Iterator[Server]:
    """The load test's server: the default timeouts and limits."""
    server = start_server(store, ["serving.port=0"])
    yield server
    _stopped(server)


@pytest.fixture(scope="module")
def strict(store: Store) -> Iterator[Server]:
    server = start_server(store, [
        "serving.port=0", f"serving.header_timeout={TIMEOUT_S}",
        f"serving.body_timeout={TIMEOUT_S}", f"serving.idle_timeout={IDLE_S}",
        f"serving.max_connections={MAX_CONNECTIONS}", "serving.access_log=true"])
    yield server
    _stopped(server)


def address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def rss_kb(server: Server) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def read_answer(sock: socket.socket) -> tuple[int, bytes, bytes]:
    """(status, head, body) of the next response; (0, b"", b"") when the server closed first.
    Reads byte by byte past the head, so a second response behind it stays in the socket."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            return 0, b"", head
        head += byte
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, "connection closed inside a response body"
        body += chunk
    return int(head.split(b" ")[1]), head, body


def is_error_json(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return set(doc) == {"error_code", "message"} and bool(doc["message"])


def ping(server: Server) -> int:
    with socket.create_connection(address(server), timeout=30) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        return read_answer(sock)[0]


# ---- 50,000 requests, 32 connections, 10% malformed -----------------------------------------

class Tally:
    """The answers of the load test: good and malformed requests kept apart."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.sent = 0
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.wrong: list[tuple[str, int, bytes]] = []

    def take(self, n: int) -> list[bytes]:
        """Up to ``n`` requests to send, every tenth malformed; empty when all are sent."""
        n = min(n, self.left)
        self.left -= n
        out = []
        for _ in range(n):
            self.sent += 1
            bad = self.sent % 10 == 0
            out.append(MALFORMED_BODIES[self.sent // 10 % len(MALFORMED_BODIES)] if bad
                       else post(GOOD))
        return out

    def check(self, request: bytes, status: int, body: bytes) -> None:
        good = request.endswith(GOOD) and b"text/plain" not in request
        kind = "good" if good else "malformed"
        self.statuses[kind, status] += 1
        ok = (status == 200 and body == GOOD_ANSWER) if good else (
            400 <= status < 500 and is_error_json(body))
        if not ok:
            self.wrong.append((kind, status, body[:200]))


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    body = await reader.readexactly(length)
    return int(head.split(b" ")[1]), body, b"connection: close" in head.lower()


async def _client(port: int, tally: Tally, style: str, index: int) -> None:
    """One keep-alive client: ``plain`` one request at a time (every 50th exchange a broken
    HTTP request, after which it reconnects), ``pipelined`` 8 per write, ``slow`` each request
    dripped in 3 pieces."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    exchanges = 0
    while batch := tally.take(8 if style == "pipelined" else 1):
        exchanges += 1
        if style == "slow":
            for piece in (batch[0][:20], batch[0][20:60], batch[0][60:]):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.002)
        else:
            writer.write(b"".join(batch))
        for request in batch:
            status, body, closed = await _answer(reader)
            tally.check(request, status, body)
            assert not closed
        if style == "plain" and exchanges % 50 == index % 50:
            writer.write(MALFORMED_FRAMING[exchanges // 50 % len(MALFORMED_FRAMING)])
            status, body, closed = await _answer(reader)
            tally.statuses["framing", status] += 1
            if not (closed and 400 <= status < 500 and is_error_json(body)):
                tally.wrong.append(("framing", status, body[:200]))
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


async def _load(port: int, tally: Tally, watch: Server, peak: list[int]) -> None:
    styles = ["plain"] * 26 + ["pipelined"] * 3 + ["slow"] * 3
    clients = asyncio.gather(*(_client(port, tally, s, i) for i, s in enumerate(styles)))

    async def sample() -> None:
        while True:
            peak.append(rss_kb(watch))
            await asyncio.sleep(0.2)

    sampler = asyncio.ensure_future(sample())
    try:
        await asyncio.wait_for(clients, timeout=300)
    finally:
        sampler.cancel()


def test_fifty_thousand_requests_with_hostile_ones_get_no_5xx(loaded: Server) -> None:
    tally = Tally(50_000)
    peak: list[int] = [rss_kb(loaded)]
    asyncio.run(_load(address(loaded)[1], tally, loaded, peak))
    answered = sum(n for (kind, _), n in tally.statuses.items() if kind != "framing")
    assert answered == 50_000
    assert tally.wrong == []
    assert not [key for key in tally.statuses if key[1] >= 500]
    assert tally.statuses["malformed", 200] == 0
    assert sum(n for (kind, _), n in tally.statuses.items() if kind == "malformed") == 5_000
    assert tally.statuses["framing", 431]
    assert tally.statuses["framing", 413]
    assert max(peak) < RSS_LIMIT_KB, f"peak RSS {max(peak)} kB"
    assert loaded.process.poll() is None
    assert ping(loaded) == 200
    log = "".join(loaded.lines)
    assert "Traceback" not in log  # client errors are not logged at all
    assert "internal error" not in log


# ---- the strict server: timeouts, bounds, the connection limit, the access log --------------

def closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends before it closes the connection (within ``seconds``)."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_silent_idle_and_half_sent_requests_are_closed_after_their_timeouts(
        strict: Server) -> None:
    with socket.create_connection(address(strict), timeout=10) as silent:
        assert closed_within(silent, 10) == b""  # nothing received: closed without an answer
    with socket.create_connection(address(strict), timeout=10) as idle:
        idle.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_answer(idle)[0] == 200
        assert closed_within(idle, 10) == b""  # keep-alive, then idle_timeout
    with socket.create_connection(address(strict), timeout=10) as partial:
        partial.sendall(b"GET /ping HTTP/1.1\r\nHost")
        answer = closed_within(partial, 10)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"serving.header_timeout" in answer
    assert ping(strict) == 200


def test_half_sent_bodies_get_408_and_are_not_held(strict: Server) -> None:
    """36 clients (in rounds under the connection limit) declare 1 MB and send 300 KB."""
    before = rss_kb(strict)
    answers = []
    for _ in range(3):
        socks = [socket.create_connection(address(strict), timeout=10) for _ in range(12)]
        try:
            for sock in socks:
                sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: "
                             b"application/json\r\nContent-Length: 1000000\r\n\r\n"
                             + b"1" * 300_000)
            answers += [closed_within(sock, 10) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") and b"serving.body_timeout" in a for a in answers)
    assert rss_kb(strict) - before < 50 * 1024
    assert ping(strict) == 200


def test_a_client_pipelining_without_reading_is_bounded_then_cut_off(strict: Server) -> None:
    """Before: RSS grew 60 -> 466 MB. Now the server stops reading once its answers go unread:
    the client's sends block long before 64 MB, RSS stays flat, and the server aborts the
    connection after the idle timeout (the client's next send fails). Scoring requests mixed
    with GET / (the 3 KB query page), so that the answers outgrow the kernel's socket buffers
    (up to 4 MB) in a second, not after tens of thousands of scorings."""
    before = rss_kb(strict)
    chunk = (post(GOOD) + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 20) * 50  # ~40 KB a send
    sent, peak, cut_off = 0, before, False
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32_768)  # few answers in flight
    sock.connect(address(strict))
    try:
        sock.setblocking(False)
        deadline = time.monotonic() + 20
        while sent < 64 << 20 and time.monotonic() < deadline:
            if not select.select([], [sock], [], 0.5)[1]:
                break  # blocked for half a second: the server has stopped reading
            sent += sock.send(chunk)
            peak = max(peak, rss_kb(strict))
        deadline = time.monotonic() + 10 + IDLE_S
        while not cut_off and time.monotonic() < deadline:
            peak = max(peak, rss_kb(strict))
            try:
                sock.send(b"x")
            except BlockingIOError:
                time.sleep(0.1)
            except (ConnectionResetError, BrokenPipeError):
                cut_off = True
    finally:
        sock.close()
    assert sent < 32 << 20, f"the server kept reading: {sent} bytes sent"
    assert peak - before < 50 * 1024, f"RSS grew by {peak - before} kB"
    assert cut_off
    assert strict.process.poll() is None
    assert ping(strict) == 200


def test_connections_over_the_limit_get_503_or_are_closed(strict: Server) -> None:
    time.sleep(IDLE_S + 0.5)  # earlier tests' connections closed
    held: list[socket.socket] = []
    refused: list[bytes] = []
    try:
        for _ in range(MAX_CONNECTIONS + 8):
            sock = socket.create_connection(address(strict), timeout=10)
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
            try:
                status, head, body = read_answer(sock)
            except ConnectionResetError:
                status, head, body = 0, b"", b""
            if status == 200:
                held.append(sock)
            else:
                refused.append(head + body)
                sock.close()
        assert len(held) == MAX_CONNECTIONS
        assert len(refused) == 8
        assert all(r == b"" or (r.startswith(b"HTTP/1.1 503 ") and b"max_connections" in r)
                   for r in refused)
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server notices the closes on its next loop turn
        try:
            if ping(strict) == 200:
                break
        except (ConnectionResetError, ValueError):
            pass
        time.sleep(0.1)
    assert ping(strict) == 200


def test_the_access_log_has_one_line_per_request(strict: Server) -> None:
    with socket.create_connection(address(strict), timeout=10) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: t\r\n\r\n" + post(b"{"))
        version = read_answer(sock)
        bad = read_answer(sock)
        port = sock.getsockname()[1]
    mine = re.compile(rf"^\S+Z 127\.0\.0\.1:{port} (\S+) (\S+) (\d+) (\d+) ([\d.]+)$")
    deadline = time.monotonic() + 10
    lines: list[re.Match[str]] = []
    while len(lines) < 2 and time.monotonic() < deadline:
        lines = [m for line in list(strict.lines) if (m := mine.match(line.rstrip("\n")))]
        time.sleep(0.05)
    assert [m.groups()[:4] for m in lines] == [
        ("GET", "/version", "200", str(len(version[2]))),
        ("POST", "/invocations", "400", str(len(bad[2])))]
    assert "Traceback" not in "".join(strict.lines)


# ---- in-process: range checks and a bug's one-line log --------------------------------------

class Serving:
    port, workers, max_body_bytes, max_connections = 5001, 1, 1024, 10
    header_timeout = body_timeout = idle_timeout = 1.0
    reload_interval, shutdown_timeout = 5.0, 25.0


@pytest.mark.parametrize(("key", "value"), [
    ("port", 70000), ("port", -1), ("workers", 0), ("max_body_bytes", 0), ("max_body_bytes", -5),
    ("header_timeout", 0), ("body_timeout", -1.0), ("idle_timeout", 0.0), ("max_connections", 0),
    ("reload_interval", -1.0), ("shutdown_timeout", -0.5),
])
def test_serving_keys_out_of_range_are_refused_naming_the_key(key: str, value: float) -> None:
    serving = Serving()
    setattr(serving, key, value)
    with pytest.raises(RunnerError, match=rf"^serving\.{key}={value} is out of range"):
        check_serving(serving)
    check_serving(Serving())


def test_an_out_of_range_port_is_one_line_before_anything_loads(tmp_path: Path) -> None:
    runner = Path(sys.executable).parent / "runner"
    done = subprocess.run([str(runner), "serve", "serving.port=70000",
                           f"tracking.uri=sqlite:///{tmp_path / 'none.db'}"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "runner: error: serving.port=70000 is out of range: it must be 0..65535 (0: a free port)"]
    assert not (tmp_path / "none.db").exists()


def test_a_bug_while_scoring_is_a_500_and_one_log_line(capfd: pytest.CaptureFixture[str]
                                                       ) -> None:
    class Broken:
        kind, class_names = "compiled", ["a"]

        def predict_columns(self, columns: dict[str, object]) -> dict[str, object]:
            return {"prediction": 1 / 0}

    info = serving.ModelInfo(uri="m", inputs=tuple((k, "string" if k == "Island" else "double")
                                                   for k in LAB))
    app = serving.App(Broken(), info, b"page")
    answer = app.handle("POST", "/invocations", "", responses.JSON, GOOD)
    assert answer.status == 500
    assert json.loads(answer.body)["error_code"] == "INTERNAL_ERROR"
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("runner serve: internal error while answering a request: "
                             "ZeroDivisionError: division by zero (at test_serve_hostile.py:")
