"""Worker processes: the listening socket, one event loop per worker, pre-forked workers.

With ``serving.workers > 1`` the parent forks the others after loading the model, so they share
it copy-on-write; each binds its own ``SO_REUSEPORT`` socket and the kernel balances
connections. A worker serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import traceback
from typing import Any

from runner.errors import RunnerError
from runner.serving.app import App, log_error
from runner.serving.connections import Limits, protocol_factory


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

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_log_loop_error)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        factory, connections = protocol_factory(app, limits, loop)
        server = await loop.create_server(factory, sock=sock)
        try:
            async with server:
                await stop.wait()
        finally:
            connections.close()

    loop = new_loop()
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


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


def fork_worker(app: App, limits: Limits, host: str, port: int) -> int:
    """Fork a worker with its own SO_REUSEPORT socket; the model is shared copy-on-write."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        run_worker(app, bind(host, port, True), limits)
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)


def stop_worker(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
