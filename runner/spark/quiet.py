"""The local JVM's start-up chatter kept off the console: written to the job log instead.

The JVM and native libraries write to the process's stderr (fd 2), not through Python: the
launcher's ``WARNING: Using incubator modules``, Spark's ``Setting default log level`` pair (a
pyspark driver counts as a shell), netlib's ``dlopen(libblas.so.3) failed`` when no system BLAS
is installed (Spark falls back to its Java BLAS). While the JVM is launched, fd 2 is a pipe it
inherits; a thread reads it for the JVM's life and forwards every line to the real stderr,
except the ``CHATTER`` lines, which go to the job log. Real warnings and errors pass as before.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import IO

from runner import console

CHATTER = re.compile(
    r"WARNING: Using incubator modules: "
    r"|Setting default log level to "
    r"|To adjust logging level use sc\.setLogLevel\("
    r"|netlib-\w+: JNI_OnLoad: dlopen\(\S+\) failed"
)


def chatter(line: str) -> bool:
    """Whether a line the JVM wrote is start-up chatter (``CHATTER``)."""
    return CHATTER.match(line) is not None


@contextlib.contextmanager
def jvm_stderr_filtered() -> Iterator[None]:
    """While the block launches the JVM, fd 2 is a pipe the JVM keeps as its stderr; its lines
    are forwarded (``CHATTER`` to the job log only). Lines this process writes meanwhile pass
    through the same pipe, in order."""
    try:
        real = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:  # no stderr to filter (a closed fd 2): launch as it is
        yield
        return
    threading.Thread(target=_forward, args=(read_end, real, console.to_job_log),
                     name="jvm-stderr", daemon=True).start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        os.dup2(real, 2)  # the JVM keeps the pipe; this process writes to stderr again


def _forward(read_end: int, real: int, to_log: Callable[[str], None]) -> None:
    """Copy the pipe's lines to ``real`` (the JVM's chatter to ``to_log``) until the JVM ends."""
    with os.fdopen(read_end, "rb", buffering=0) as pipe, os.fdopen(real, "wb", buffering=0) as out:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _route(line + b"\n", out, to_log)
        if pending:
            _route(pending, out, to_log)


def _route(line: bytes, out: IO[bytes], to_log: Callable[[str], None]) -> None:
    text = line.decode("utf-8", "replace").rstrip("\n")
    if chatter(text):
        to_log(text)
        return
    with contextlib.suppress(OSError):  # the console went away: nothing to show it on
        out.write(line)
