"""Worker processes: the listening socket, one event loop per worker, pre-forked workers.

With ``serving.workers > 1`` the parent forks the others after loading the model, so they share
it copy-on-write; each binds its own ``SO_REUSEPORT`` socket and the kernel balances
connections. A worker serves until SIGTERM or SIGINT, then drains (``drain``); the parent
forwards the signal to the others first, so they all drain at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner import console
from runner.errors import RunnerError
from runner.serving.app import App, log_error
from runner.serving.connections import Connections, Limits, protocol_factory
from runner.serving.reload import Follower

PR_SET_PDEATHSIG = 1  # prctl(2)


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


@dataclass
class Worker:
    """What one worker process does besides answering: its row of the shared metrics, the
    alias follower it runs, how long it drains at SIGTERM, and what to do first on a signal
    (the parent forwards it to the other workers)."""

    index: int = 0
    shutdown_timeout: float = 30.0
    follower: Callable[[App], Follower] | None = None
    on_stop: Callable[[], None] = field(default=lambda: None)


def run_worker(app: App, sock: socket.socket, limits: Limits, worker: Worker | None = None
               ) -> None:
    """Serve on ``sock`` until SIGTERM or SIGINT, then drain: stop accepting, answer every
    request already received (within ``worker.shutdown_timeout``), close, return."""
    worker = worker or Worker()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_log_loop_error)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        app.metrics.use_row(worker.index)
        app.swap(app.current)  # this worker's served version in its metrics row
        factory, connections = protocol_factory(app, limits, loop)
        server = await loop.create_server(factory, sock=sock)
        follower = worker.follower(app) if worker.follower else None
        if follower is not None:
            follower.start(loop)
        try:
            await stop.wait()
            worker.on_stop()
            await drain(app, server, connections, worker.shutdown_timeout)
        finally:
            if follower is not None:
                follower.stop()
            connections.close()

    loop = new_loop()
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


async def drain(app: App, server: asyncio.AbstractServer, connections: Connections,
                timeout: float) -> None:
    """Not ready, stop accepting, close idle connections, wait for the busy ones to answer."""
    started = time.monotonic()
    app.draining = True
    server.close()
    connections.drain()
    while connections.open and time.monotonic() - started < timeout:
        await asyncio.sleep(0.01)
    cut = len(connections.open)
    received = connections.received()
    for connection in list(connections.open):
        connection.abort()
    how = (f"{cut} connection(s) still busy after serving.shutdown_timeout={timeout:g} s were "
           "cut" if cut else "every request received was answered")
    console.say(f"runner serve: stopped (pid {os.getpid()}) in "
                f"{time.monotonic() - started:.2f} s: {how}; {received} received, "
                f"{app.metrics.answers()} answered", logging.WARNING if cut else logging.INFO)


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's own errors (a failed accept when file descriptors run out, a callback
    that raised) in one line, not a traceback each."""
    log_error(str(context.get("message", "event loop error")), context.get("exception"))


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop (libuv, in C) where it is installed, else the standard one: the loop's
    own work is a large part of a single-row request's cost."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def fork_worker(app: App, limits: Limits, parent: socket.socket, worker: Worker) -> int:
    """Fork a worker with its own SO_REUSEPORT socket; the model is shared copy-on-write.

    The child closes its copy of the parent's socket: held open there, it would keep listening
    after the parent closes it at shutdown, and the connections the kernel gives it would never
    be accepted."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        _die_with_parent()
        host, port = parent.getsockname()[:2]
        parent.close()
        run_worker(app, bind(host, port, True), limits, worker)
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the parent dies, even by SIGKILL, so no worker is left
    serving an orphaned port (and it drains as at any SIGTERM)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM stops the workers
        pass


def signal_workers(pids: list[int]) -> None:
    """SIGTERM to each worker: they drain at the same time as the parent."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def stop_worker(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
