"""``runner serve``: MLflow's scoring protocol over a minimal asyncio HTTP/1.1 server.

The shell only frames HTTP (keep-alive, Content-Length, bounded heads and bodies) and routes;
everything about a request's content is ``serving.scoring``. Hostile clients are bounded: header,
body and idle timeouts, what a connection may buffer either way, and open connections per worker.
A stdlib ``asyncio.Protocol`` instead of a web framework because on 2 cores the framework, not
the model, would be the latency: the compiled scorer answers in tens of microseconds. Under load,
the scoring requests one event-loop wake-up brings in are scored with one model call
(``Batcher``), each answered as if alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from importlib.resources import files
from typing import Any, TypeVar, cast

from runner import __version__, console, tracking
from runner.config import check_serving
from runner.errors import RunnerError, first_line
from runner.serving import scorers, scoring
from runner.serving.scoring import ModelInfo, Response

MAX_HEAD_BYTES = 16_384
MAX_HEADERS = 100
MAX_BATCH_ROWS = 1024  # rows scored in one model call; a larger request is scored alone
# input read beyond the request in flight before a connection stops reading (a pipelining
# client): with the head and body limits, what one connection can make the server hold
READ_AHEAD_BYTES = 65_536
WRITE_HIGH_WATER = 65_536  # answers a client has not read: over this, its requests wait
LINGER_S = 1.0
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
REASONS = {200: "OK", 100: "Continue", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
           413: "Payload Too Large", 415: "Unsupported Media Type",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           503: "Service Unavailable"}
T = TypeVar("T")


class App:
    """Routes a parsed request to the scoring core; returns a Response, never raises."""

    def __init__(self, scorer: Any, info: ModelInfo, page: bytes) -> None:
        self.scorer, self.info, self.page = scorer, info, page
        self.blocking = scorer.kind == "spark"  # ~100 ms per call: off the event loop
        self.metadata = json.dumps(info.metadata(), indent=1).encode()
        self.version = info.versions.get("mlflow_version", __version__).encode()

    def handle(self, method: str, path: str, query: str, content_type: str | None,
               body: bytes) -> Response:
        return _guarded(self._route, method, path, query, content_type, body)

    def prepare(self, query: str, content_type: str | None,
                body: bytes) -> scoring.Prepared | Response:
        """A POST /invocations parsed and typed for ``score_together``, or its 4xx."""
        return _guarded(scoring.prepare, body, content_type, query, self.info)

    def score_together(self, requests: list[scoring.Prepared]) -> list[Response]:
        try:
            return scoring.score_together(requests, self.scorer, self.info)
        except Exception:  # a bug in one request's scoring: alone, only that one gets the 500
            return [_guarded(scoring.score, r, self.scorer, self.info) for r in requests]

    def _route(self, method: str, path: str, query: str, content_type: str | None,
               body: bytes) -> Response:
        if path == "/invocations":
            if method != "POST":
                return scoring.error("use POST for /invocations", 405)
            return scoring.invocations(body, content_type, query, self.scorer, self.info)
        static = {"/ping": (b"\n", TEXT), "/health": (b"\n", TEXT),
                  "/version": (self.version, TEXT), "/metadata": (self.metadata, scoring.JSON),
                  "/": (self.page, HTML)}
        if path not in static:
            return scoring.error(f"no endpoint {path}", 404, "ENDPOINT_NOT_FOUND")
        if method not in ("GET", "HEAD"):
            return scoring.error(f"use GET for {path}", 405)
        content, kind = static[path]
        return Response(200, content, kind)


def _guarded(function: Callable[..., T], *args: Any) -> T | Response:
    try:
        return function(*args)
    except Exception as exc:  # a bug of ours, not the client's: say so in one line, keep serving
        log_error("internal error while answering a request", exc)
        return scoring.error("internal error while scoring; see the server log", 500,
                             "INTERNAL_ERROR")


def log_error(what: str, exc: BaseException | None) -> None:
    """One line on stderr: a traceback per request would bury the log under load."""
    where = ""
    if exc is not None and exc.__traceback__ is not None:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" (at {os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"
    detail = f": {type(exc).__name__}: {first_line(exc)}" if exc is not None else ""
    sys.stderr.write(f"runner serve: {what}{detail}{where}\n")
    console.to_job_log(f"runner serve: {what}{detail}{where}", logging.ERROR)


@dataclass(frozen=True)
class Limits:
    """What one connection may take: sizes, timeouts (s), connections per worker."""

    max_body: int
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_connections: int = 1000
    access_log: bool = False

    @classmethod
    def of(cls, serving: Any) -> Limits:
        return cls(serving.max_body_bytes, serving.header_timeout, serving.body_timeout,
                   serving.idle_timeout, serving.max_connections, serving.access_log)


class HttpError(Exception):
    """A framing problem: answered, then the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    query: str
    content_type: str | None
    body: bytes
    keep_alive: bool
    started: float = 0.0  # perf_counter when complete, for the access log


def encode(response: Response, keep_alive: bool, head_only: bool = False) -> bytes:
    reason = REASONS.get(response.status, "")
    connection = "keep-alive" if keep_alive else "close"
    head = (f"HTTP/1.1 {response.status} {reason}\r\nContent-Type: {response.content_type}\r\n"
            f"Content-Length: {len(response.body)}\r\nConnection: {connection}\r\n"
            "Server: runner\r\n\r\n")
    return head.encode("latin-1") + (b"" if head_only else response.body)


def parse_head(buf: bytearray, end: int, max_body: int) -> tuple[Request, int]:
    """The request line and headers in ``buf[:end]``; returns the request (body empty) and the
    body's length. Raises HttpError for anything malformed, chunked or oversize."""
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    if len(lines) > MAX_HEADERS + 1:
        raise HttpError(431, f"over {MAX_HEADERS} header lines")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed HTTP request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, f"malformed HTTP header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "chunked bodies are not supported: send a Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "Content-Length is not a number") from None
    if length < 0 or length > max_body:
        raise HttpError(413, f"body of {length} bytes; the limit is {max_body} "
                             "(serving.max_body_bytes)")
    connection = headers.get("connection", "").lower()
    keep = connection != "close" if parts[2] == "HTTP/1.1" else connection == "keep-alive"
    path, _, query = parts[1].partition("?")
    request = Request(parts[0], path, query, headers.get("content-type"), b"", keep)
    return request, length


class Connections:
    """One worker's open connections: enforces serving.max_connections and, on a timer that
    ticks a few times per timeout, closes those past their deadline. A sweep instead of a timer
    per request keeps the request path to two float assignments."""

    def __init__(self, limits: Limits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits, self.loop = limits, loop
        self.open: set[HttpConnection] = set()
        shortest = min(limits.header_timeout, limits.body_timeout, limits.idle_timeout)
        self.tick = min(1.0, max(0.02, shortest / 4))
        self.timer = loop.call_later(self.tick, self.sweep)

    def sweep(self) -> None:
        now = self.loop.time()
        for connection in [c for c in self.open if c.deadline <= now]:
            connection.time_out()
        self.timer = self.loop.call_later(self.tick, self.sweep)

    def close(self) -> None:
        self.timer.cancel()


def protocol_factory(app: App, limits: Limits, executor: ThreadPoolExecutor | None,
                     loop: asyncio.AbstractEventLoop) -> tuple[Callable[[], HttpConnection],
                                                              Connections]:
    """What ``loop.create_server`` needs, and the connections it will make (close it after)."""
    batcher = None if executor is not None else Batcher(app, loop)
    connections = Connections(limits, loop)
    return lambda: HttpConnection(app, connections, executor, batcher), connections


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection: requests are answered in order, one at a time.

    POST /invocations goes to the Spark executor (``executor``) or, on the compiled scorer, to
    the worker's ``batcher``; the connection reads its next request once that one is answered.
    What a client can make it hold is bounded: a head, a body, READ_AHEAD_BYTES of pipelined
    input (then it stops reading) and WRITE_HIGH_WATER of unread answers (then it stops
    answering and reading). ``deadline`` is when the sweep of ``Connections`` times it out.
    """

    def __init__(self, app: App, connections: Connections, executor: ThreadPoolExecutor | None,
                 batcher: Batcher | None = None) -> None:
        self.app, self.connections, self.executor, self.batcher = (app, connections, executor,
                                                                   batcher)
        self.limits = connections.limits
        self.max_body = self.limits.max_body
        self.loop = connections.loop
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closing: asyncio.Transport | None = None  # a rejected connection's, lingering
        self.busy = False
        self.continued = False
        self.rejected = False
        self.reading_paused = False
        self.writing_paused = False
        self.waiting = "head"  # what the connection waits for: head, body, idle, answer, write
        self.deadline = self.loop.time() + self.limits.header_timeout
        self.client = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.connections.open) >= self.limits.max_connections:
            answer = scoring.error(f"over {self.limits.max_connections} open connections "
                                   "(serving.max_connections): retry later", 503,
                                   "TOO_MANY_CONNECTIONS")
            transport.write(encode(answer, keep_alive=False))  # type: ignore[attr-defined]
            transport.close()
            self.rejected = True
            return
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(WRITE_HIGH_WATER)
        self.connections.open.add(self)
        if self.limits.access_log:
            peer = transport.get_extra_info("peername")
            self.client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = self.closing = None
        self.connections.open.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.rejected:
            return  # the rest of a refused request: read and dropped until we close
        self.buf += data
        if not self.busy and not self.writing_paused:
            self._process()
        elif len(self.buf) > READ_AHEAD_BYTES:
            self._pause_reading()

    def pause_writing(self) -> None:
        """The client does not read its answers: answer and read nothing more until it does."""
        self.writing_paused = True
        self.waiting, self.deadline = "write", self.loop.time() + self.limits.idle_timeout
        self._pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if not self.busy:
            self._process()

    def _process(self) -> None:
        while self.transport is not None and not self.busy and not self.writing_paused:
            try:
                request = self._next_request()
            except HttpError as exc:
                self._reject(scoring.error(str(exc), exc.status))
                return
            if request is None:
                break
            if self.limits.access_log:
                request.started = time.perf_counter()
            scoring_call = request.path == "/invocations" and request.method == "POST"
            if scoring_call and self.executor is not None:
                self._answer_later(request)
            elif scoring_call and self.batcher is not None:
                self._score_together(request, self.batcher)
            else:
                self._send(request, self._answer(request))
        if self.transport is None:
            return
        if self.busy or self.writing_paused:
            if len(self.buf) > READ_AHEAD_BYTES:
                self._pause_reading()
        elif self.reading_paused:  # all complete requests answered: at most one partial left
            self.reading_paused = False
            self.transport.resume_reading()

    def _pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def _wait(self, what: str, timeout: float) -> None:
        """Start the clock for what the connection now waits for (unless it already runs)."""
        if self.waiting != what:
            self.waiting, self.deadline = what, self.loop.time() + timeout

    def time_out(self) -> None:
        """Past the deadline: 408 for a request partly received, else just closed."""
        self.deadline = float("inf")
        if self.closing is not None:  # the rejected connection's answer was never read
            self.closing.abort()
        elif self.transport is None:
            return
        elif self.waiting in ("head", "body") and self.buf:
            key = "header_timeout" if self.waiting == "head" else "body_timeout"
            seconds = getattr(self.limits, key)
            self._reject(scoring.error(f"request {self.waiting} not received within {seconds:g} "
                                       f"s (serving.{key})", 408, "REQUEST_TIMEOUT"))
        elif self.waiting == "write":
            self.transport.abort()  # its unread answers would never drain
        else:
            self.transport.close()

    def _next_request(self) -> Request | None:
        end = self.buf.find(b"\r\n\r\n")
        if end > MAX_HEAD_BYTES or (end < 0 and len(self.buf) > MAX_HEAD_BYTES):
            raise HttpError(431, f"request head over {MAX_HEAD_BYTES} bytes")
        if end < 0:
            if self.buf:
                self._wait("head", self.limits.header_timeout)
            elif self.waiting != "head":  # a new connection waits for its first head
                self._wait("idle", self.limits.idle_timeout)
            return None
        request, length = parse_head(self.buf, end, self.max_body)
        total = end + 4 + length
        if len(self.buf) < total:
            if not self.continued and b"100-continue" in self.buf[:end].lower():
                self.continued = True  # curl waits for this before sending bodies over 1 KB
                assert self.transport is not None
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._wait("body", self.limits.body_timeout)
            return None
        request.body = bytes(self.buf[end + 4:total])
        del self.buf[:total]
        self.continued = False
        self.waiting, self.deadline = "answer", float("inf")
        return request

    def _answer(self, request: Request) -> Response:
        return self.app.handle(request.method, request.path, request.query,
                               request.content_type, request.body)

    def _answer_later(self, request: Request) -> None:
        self.busy = True
        future = self.loop.run_in_executor(self.executor, self._answer, request)

        future.add_done_callback(lambda fut: self.finish(request, fut.result()))

    def _score_together(self, request: Request, batcher: Batcher) -> None:
        prepared = self.app.prepare(request.query, request.content_type, request.body)
        if isinstance(prepared, Response):  # the client's mistake: answered at once
            self._send(request, prepared)
        else:
            self.busy = True
            batcher.add(self, request, prepared)

    def finish(self, request: Request, response: Response) -> None:
        """Send the answer to the request in flight, then go on with those buffered behind it."""
        self.busy = False
        self._send(request, response)
        self._process()

    def _reject(self, response: Response) -> None:
        """Answer, stop reading requests, close a little later: closing a socket with unread
        input sends a reset, which can destroy the answer before the client reads it. A client
        that never reads the answer is cut off after the idle timeout."""
        assert self.transport is not None
        transport, self.transport = self.transport, None
        transport.write(encode(response, keep_alive=False))
        self._log("-", "-", response.status, len(response.body), None)
        self.rejected = True
        self.buf.clear()
        if self.reading_paused:
            transport.resume_reading()  # read and drop, so the close is not a reset
        self._closing(transport)
        self.loop.call_later(LINGER_S, transport.close)

    def _closing(self, transport: asyncio.Transport) -> None:
        """Closed (or about to be) once its answers are sent; aborted if they are never read."""
        self.transport, self.closing = None, transport
        self.waiting, self.deadline = "close", self.loop.time() + self.limits.idle_timeout

    def _send(self, request: Request, response: Response) -> None:
        if self.transport is None:
            return
        keep_alive = request.keep_alive
        self.transport.write(encode(response, keep_alive, request.method == "HEAD"))
        if self.limits.access_log:
            self._log(request.method, request.path, response.status, len(response.body),
                      request.started)
        if not keep_alive:
            self.transport.close()
            self._closing(self.transport)

    def _log(self, method: str, path: str, status: int, size: int, started: float | None
             ) -> None:
        """The access log line (serving.access_log): client, method, path, status, bytes, ms."""
        if not self.limits.access_log:
            return
        ms = f"{(time.perf_counter() - started) * 1000:.2f}" if started else "-"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sys.stderr.write(f"{stamp} {self.client} {method} {path} {status} {size} {ms}\n")


Queued = tuple[HttpConnection, Request, scoring.Prepared]  # a request waiting in a Batcher


class Batcher:
    """Scores the POST /invocations that one event-loop wake-up brings in with one model call.

    The compiled scorer takes ~50 us for one row of the lab model and ~60 us for 32, so under
    load, scoring the requests together gives back most of each one's model time. The first
    request queued schedules the flush with ``call_soon``: it runs after every connection with
    data in this wake-up has been read, and waits on no timer, so a lone request is one loop turn
    later.
    """

    def __init__(self, app: App, loop: asyncio.AbstractEventLoop) -> None:
        self.app, self.loop = app, loop
        self.queue: list[Queued] = []

    def add(self, connection: HttpConnection, request: Request,
            prepared: scoring.Prepared) -> None:
        if not self.queue:
            self.loop.call_soon(self.flush)
        self.queue.append((connection, request, prepared))

    def flush(self) -> None:
        queue, self.queue = self.queue, []  # answering lets connections queue their next request
        for batch in _batches(queue):
            responses = self.app.score_together([prepared for _, _, prepared in batch])
            for (connection, request, _), response in zip(batch, responses, strict=True):
                connection.finish(request, response)


def _batches(queue: list[Queued]) -> Iterator[list[Queued]]:
    """The queue in order, cut into batches of at most MAX_BATCH_ROWS rows (or one request)."""
    batch: list[Queued] = []
    rows = 0
    for item in queue:
        if batch and rows + item[2].rows > MAX_BATCH_ROWS:
            yield batch
            batch, rows = [], 0
        batch.append(item)
        rows += item[2].rows
    if batch:
        yield batch


# ---- startup: resolve, load, announce, listen ----------------------------------------------

def main(cfg: Any) -> None:
    """Entry point of ``runner serve``: load the model, print what is served, serve until killed."""
    check_serving(cfg.serving)
    app, model = load_app(cfg)
    sock = bind(cfg.serving.host, cfg.serving.port, cfg.serving.workers > 1)
    workers = cfg.serving.workers
    if workers > 1 and app.blocking:
        _say(f"serving.workers={workers} ignored: the Spark fallback runs in one process",
             logging.WARNING)
        workers = 1
    host, port = sock.getsockname()[:2]
    _say(describe(app.info, model))
    _say(f"listening on http://{host}:{port}/ ({workers} worker{'s' * (workers > 1)}); "
         f"POST /invocations, GET / for the query page")
    _say(f"ready in {process_age():.2f} s")
    children = [pid for pid in (_fork_worker(app, cfg.serving, host, port)
                                for _ in range(workers - 1)) if pid]
    try:
        run_worker(app, sock, Limits.of(cfg.serving))
    finally:
        for pid in children:
            _stop_child(pid)


def load_app(cfg: Any) -> tuple[App, tracking.ResolvedModel]:
    """Resolve the model in the store, choose its scorer, and build the App around it.

    A model directory on disk (``serving.model_uri=/models/penguins``, as a container image
    bakes it in) is served without the tracking store, and a model in a local sqlite store
    found without MLflow's: neither imports MLflow (``tracking.find_model``)."""
    from_store = tracking.local_model_dir(cfg.serving.model_uri) is None
    model = tracking.find_model(cfg.serving.model_uri, cfg.tracking.registered_model_name,
                                cfg.tracking.uri)
    inputs = tracking.model_inputs(model.local_path)
    if not inputs:
        raise RunnerError(f"model {model.uri} has no input signature with column names; log it "
                          "with a signature (runner does) so requests can be checked")
    choice = scorers.choose(model.local_path, inputs, cfg.spark)
    names = choice.scorer.class_names
    if not names and from_store:  # the Spark fallback: labels from the run's logged config
        tracking.use_store(cfg.tracking.uri)
        names = tracking.run_class_names(model.run_id)
    info = ModelInfo(
        uri=model.uri, inputs=tuple(inputs), class_names=tuple(names), name=model.name,
        version=model.version, run_id=model.run_id, scorer=choice.scorer.kind,
        scorer_note=choice.note,
        versions={"runner_version": __version__, "mlflow_version": version("mlflow")},
    )
    return App(choice.scorer, info, page_html()), model


def page_html() -> bytes:
    return files("runner.resources").joinpath("query.html").read_bytes()


def describe(info: ModelInfo, model: tracking.ResolvedModel) -> str:
    what = f"{info.name} version {info.version}" if info.name else info.uri
    alias = f" (@{model.alias})" if model.alias else ""
    return (f"serving {what}{alias}, run {info.run_id or 'unknown'}, from {info.uri}\n"
            f"scorer: {info.scorer_note}")


def bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A listening socket; with SO_REUSEPORT each worker binds its own and the kernel balances."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RunnerError(f"cannot listen on {host}:{port}: {exc.strerror} "
                          "(set serving.port or serving.host)") from exc
    sock.listen(1024)
    return sock


def run_worker(app: App, sock: socket.socket, limits: Limits) -> None:
    """Serve on ``sock`` until SIGTERM or SIGINT."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="spark-score") if app.blocking else None

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_log_loop_error)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        factory, connections = protocol_factory(app, limits, executor, loop)
        server = await loop.create_server(factory, sock=sock)
        try:
            async with server:
                await stop.wait()
        finally:
            connections.close()

    loop = _new_loop()
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's own errors (a failed accept when file descriptors run out, a callback
    that raised) in one line, not a traceback each."""
    log_error(str(context.get("message", "event loop error")), context.get("exception"))


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop (libuv, in C) where it is installed, else the standard one: the loop's
    own work is a large part of a single-row request's cost."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _fork_worker(app: App, cfg: Any, host: str, port: int) -> int:
    """Fork a worker with its own SO_REUSEPORT socket; the model is shared copy-on-write."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        run_worker(app, bind(host, port, True), Limits.of(cfg))
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)


def _stop_child(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def process_age() -> float:
    """Seconds since this process started (Linux), else since runner.serving was imported."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


_IMPORTED = time.monotonic()


def _say(message: str, level: int = logging.INFO) -> None:
    """A line on stdout, and in the job's runner.log."""
    console.say(message, level, sys.stdout)
