"""One worker's connections: keep-alive HTTP/1.1 with a hostile client's reach bounded.

Header, body and idle timeouts, what a connection may buffer either way, and open connections
per worker (``Limits``, from ``serving.*``). A stdlib ``asyncio.Protocol`` instead of a web
framework because on 2 cores the framework, not the model, would be the latency: the compiled
scorer answers in tens of microseconds. Scoring requests go to the worker's ``Batcher`` or, for
the Spark scorer, to the App's ``spark-score`` thread; everything else is answered at once.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from runner.serving import responses
from runner.serving.app import App, Loaded
from runner.serving.batching import Batcher
from runner.serving.http import MAX_HEAD_BYTES, HttpError, Request, encode, parse_head
from runner.serving.responses import Response

# input read beyond the request in flight before a connection stops reading (a pipelining
# client): with the head and body limits, what one connection can make the server hold
READ_AHEAD_BYTES = 65_536
WRITE_HIGH_WATER = 65_536  # answers a client has not read: over this, its requests wait
LINGER_S = 1.0


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


class Connections:
    """One worker's open connections: enforces serving.max_connections and, on a timer that
    ticks a few times per timeout, closes those past their deadline. A sweep instead of a timer
    per request keeps the request path to two float assignments."""

    def __init__(self, limits: Limits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits, self.loop = limits, loop
        self.open: set[HttpConnection] = set()
        self.draining = False
        self.closed_received = 0  # requests read by the connections already closed
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

    def received(self) -> int:
        """Requests read whole by this worker's connections (a plain int each: cheaper than a
        shared metric, and only a shutdown asks)."""
        return self.closed_received + sum(c.received for c in self.open)

    def drain(self) -> None:
        """Shutting down: close the idle connections; the others close once every request
        they hold is answered (``HttpConnection.drained``)."""
        self.draining = True
        for connection in list(self.open):
            connection.drained()


def protocol_factory(app: App, limits: Limits, loop: asyncio.AbstractEventLoop
                     ) -> tuple[Callable[[], HttpConnection], Connections]:
    """What ``loop.create_server`` needs, and the connections it will make (close it after).

    The compiled scorer is batched on the loop; the Spark scorer runs on the App's executor."""
    batcher = None if app.executor is not None else Batcher(app.score_together, loop)
    app.metrics.set("open", 0)
    connections = Connections(limits, loop)
    return lambda: HttpConnection(app, connections, batcher), connections


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection: requests are answered in order, one at a time.

    POST /invocations goes to the App's Spark executor (``app.executor``) or, on the compiled
    scorer, to the worker's ``batcher``; the connection reads its next request once that one is
    answered.
    What a client can make it hold is bounded: a head, a body, READ_AHEAD_BYTES of pipelined
    input (then it stops reading) and WRITE_HIGH_WATER of unread answers (then it stops
    answering and reading). ``deadline`` is when the sweep of ``Connections`` times it out.
    """

    def __init__(self, app: App, connections: Connections, batcher: Batcher | None = None
                 ) -> None:
        self.app, self.connections, self.batcher = app, connections, batcher
        self.executor = app.executor
        self.metrics = app.metrics
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
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.connections.open) >= self.limits.max_connections:
            answer = responses.error(f"over {self.limits.max_connections} open connections "
                                     "(serving.max_connections): retry later", 503,
                                     "TOO_MANY_CONNECTIONS")
            transport.write(encode(answer, keep_alive=False))  # type: ignore[attr-defined]
            transport.close()
            self.rejected = True
            self.metrics.answered(answer.status, None)
            return
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(WRITE_HIGH_WATER)
        self.connections.open.add(self)
        self.metrics.set("open", len(self.connections.open))
        if self.limits.access_log:
            peer = transport.get_extra_info("peername")
            self.client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = self.closing = None
        if self in self.connections.open:
            self.connections.open.discard(self)
            self.connections.closed_received += self.received
        self.metrics.set("open", len(self.connections.open))

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
                self._reject(responses.error(str(exc), exc.status))
                return
            if request is None:
                break
            request.started = time.perf_counter()
            self.received += 1
            scoring_call = request.path == "/invocations" and request.method == "POST"
            if scoring_call and self.executor is not None:
                self._answer_later(request)
            elif scoring_call and self.batcher is not None:
                self._score_together(request, self.batcher)
            else:
                self._send(request, self._answer(request))
        if self.transport is None:
            return
        if self.connections.draining and not self.busy and not self.buf:
            self.transport.close()  # shutting down: its last answer is written, close it
            self._closing(self.transport)
        elif self.busy or self.writing_paused:
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
            self._reject(responses.error(f"request {self.waiting} not received within "
                                         f"{seconds:g} s (serving.{key})", 408,
                                         "REQUEST_TIMEOUT"))
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

    def drained(self) -> None:
        """Shutting down: an idle connection is closed now, a busy one after its answers."""
        if self.transport is not None and not self.busy and not self.buf:
            self.transport.close()
            self._closing(self.transport)

    def abort(self) -> None:
        """Shutting down past the timeout: cut the connection, answered or not."""
        for transport in (self.transport, self.closing):
            if transport is not None:
                transport.abort()

    def _answer(self, request: Request, loaded: Loaded | None = None) -> Response:
        return self.app.handle(request.method, request.path, request.query,
                               request.content_type, request.body, loaded)

    def _answer_later(self, request: Request) -> None:
        self.busy = True
        loaded = self.app.current
        future = self.loop.run_in_executor(self.executor, self._answer, request, loaded)
        future.add_done_callback(lambda fut: self.finish(request, fut.result(), loaded))

    def _score_together(self, request: Request, batcher: Batcher) -> None:
        loaded = self.app.current  # the version that checks this request also scores it
        prepared = self.app.prepare(request.query, request.content_type, request.body, loaded)
        if isinstance(prepared, Response):  # the client's mistake: answered at once
            self._send(request, prepared, loaded)
        else:
            self.busy = True
            batcher.add(prepared, loaded,
                        lambda response: self.finish(request, response, loaded))

    def finish(self, request: Request, response: Response, loaded: Loaded) -> None:
        """Send the answer to the request in flight, then go on with those buffered behind it."""
        self.busy = False
        self._send(request, response, loaded)
        self._process()

    def _reject(self, response: Response) -> None:
        """Answer, stop reading requests, close a little later: closing a socket with unread
        input sends a reset, which can destroy the answer before the client reads it. A client
        that never reads the answer is cut off after the idle timeout."""
        assert self.transport is not None
        transport, self.transport = self.transport, None
        transport.write(encode(response, keep_alive=False))
        self.metrics.answered(response.status, None)
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

    def _send(self, request: Request, response: Response, loaded: Loaded | None = None) -> None:
        if self.transport is None:
            return
        # shutting down: keep-alive only while the client has sent more (answered before closing)
        keep_alive = request.keep_alive and (not self.connections.draining or bool(self.buf))
        header = (loaded or self.app.current).header
        self.transport.write(encode(response, keep_alive, request.method == "HEAD", header))
        self.metrics.answered(response.status, time.perf_counter() - request.started)
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
        # stderr only, not runner.console: a line per request is the access log, not the job's
        sys.stderr.write(f"{stamp} {self.client} {method} {path} {status} {size} {ms}\n")
