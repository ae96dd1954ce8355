"""The one place that creates the SparkSession: local, a cluster master, or Spark Connect.

One session per process, reused by every run and sweep trial in it. The JVM takes seconds to
start, so ``start_async`` begins it in a thread while the caller sets up MLflow.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from runner.compat import pyspark as compat_pyspark
from runner.errors import RunnerError
from runner.spark import class_archive, quiet

T = TypeVar("T")

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_JAVA_HINT = (
    "pyspark needs Java 17 or 21: install it (Debian/Ubuntu: apt-get install -y "
    "openjdk-17-jre-headless) or set JAVA_HOME"
)


class _Sessions:
    """The process's Spark bookkeeping. Module-level on purpose: a process has one JVM and one
    local SparkSession (``getOrCreate`` is process-wide itself), and Connect sessions are
    stopped at interpreter exit; a per-task object would not make them any less shared."""

    def __init__(self) -> None:
        self.starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-start")
        self.connect_urls: dict[int, str] = {}  # id(session) -> its sc:// URL; stopped at exit
        self.last: tuple[str, SparkSession] | None = None  # settings a local session last got


_sessions = _Sessions()


def java_version() -> int:
    """Major version of the java that pyspark will launch; raises RunnerError when there is none."""
    return _java()[0]


@functools.cache
def _java() -> tuple[int, str]:
    """(major version, binary and ``java -version`` text) of the java pyspark will launch."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise RunnerError(f"Java not found. {_JAVA_HINT}")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise RunnerError(f"could not read the Java version from {java!r}. {_JAVA_HINT}")
    major = int(match.group(1))
    return (int(match.group(2) or 0) if major == 1 else major), f"{os.path.realpath(java)}\n{out}"


def _builder_conf(cfg: Any, archive: Path | None, input_path: str | None) -> dict[str, str]:
    conf = {str(k): str(v) for k, v in (cfg.conf or {}).items()}
    log4j = files("runner.resources").joinpath("log4j2.properties")
    cds = class_archive.java_options(archive) if archive else ""
    opts = conf.get("spark.driver.extraJavaOptions", "")
    jit = _quick_jit(cfg, input_path) if "Tiered" not in opts else ""
    flags = [f"-Dlog4j2.configurationFile={log4j}", cds, jit, opts]
    conf["spark.driver.extraJavaOptions"] = " ".join(f for f in flags if f)
    return conf


def _is_local(cfg: Any) -> bool:
    return not cfg.remote and str(cfg.master).startswith("local")


def _quick_jit(cfg: Any, input_path: str | None) -> str:
    """C1-only JIT for a local JVM whose input is a local file or directory smaller than
    ``spark.quick_jit_below_mb``: compiling less pays on small data (a cold penguins run ~25%
    faster) and costs on big data (a 1e7-row local fit 2.7x slower), so it is chosen by size."""
    limit = int(cfg.quick_jit_below_mb or 0) * 2**20
    small = input_path and limit > 0 and _is_local(cfg) and _smaller_than(input_path, limit)
    return "-XX:TieredStopAtLevel=1" if small else ""


def _smaller_than(path: str, limit: int) -> bool:
    """A local file or directory tree under ``limit`` bytes; False for remote or missing paths
    (a big directory is walked only until the limit is passed)."""
    parts = urlparse(path)
    if parts.scheme not in ("", "file"):
        return False
    local = parts.path if parts.scheme else path
    if os.path.isfile(local):
        return os.path.getsize(local) < limit
    if not os.path.isdir(local):
        return False
    total = 0
    for folder, _, names in os.walk(local):
        total += sum(os.path.getsize(os.path.join(folder, name)) for name in names)
        if total >= limit:
            return False
    return True


def _archive(cfg: Any) -> Path | None:
    """The class-data archive for a local driver JVM (see runner.spark.class_archive), or None."""
    if not cfg.class_archive or not _is_local(cfg):
        return None
    class_path = str((cfg.conf or {}).get("spark.driver.extraClassPath", ""))
    return class_archive.archive_path(_java()[1], class_path)


def get_session(cfg: Any, input_path: str | None = None) -> SparkSession:
    """Return the process's SparkSession for a ``spark`` config, creating it on first use;
    ``input_path``, the data it is started for, may choose the JIT (``_quick_jit``).

    A local or cluster session asked for again with the config it was last asked for with is
    returned as it is: the builder would apply the same settings again with ~120 py4j calls,
    which every sweep trial paid twice (~0.1 s a trial with two trials in flight). Any other
    config goes through the builder, which applies its runtime settings to the session.
    """
    key = "" if cfg.remote else _settings_key(cfg)
    last = _sessions.last
    if key and last and last[0] == key and _alive(last[1]):
        return last[1]
    session = _create_session(cfg, input_path)
    if key:
        _sessions.last = (key, session)
    return session


def _settings_key(cfg: Any) -> str:
    from omegaconf import OmegaConf

    return repr(OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg)


def _alive(session: SparkSession) -> bool:
    """Still the process's session: not stopped, nor replaced by another getOrCreate."""
    return compat_pyspark.is_live(session)


def _create_session(cfg: Any, input_path: str | None) -> SparkSession:
    from pyspark.sql import SparkSession

    logging.getLogger("py4j").setLevel(logging.WARNING)
    builder = SparkSession.builder.appName(cfg.app_name)
    if cfg.remote:
        _check_reachable(cfg.remote)
        builder = builder.remote(cfg.remote)
    else:
        if java_version() < 17:
            raise RunnerError(f"Java {java_version()} found. {_JAVA_HINT}")
        builder = builder.master(cfg.master)
    archive = _archive(cfg)
    for key, value in _builder_conf(cfg, archive, input_path).items():
        if cfg.remote and not key.startswith("spark.sql."):
            continue  # a Connect client cannot set JVM or core settings of the server
        builder = builder.config(key, value)
    try:
        with quiet.jvm_stderr_filtered() if not cfg.remote else contextlib.nullcontext():
            session = builder.getOrCreate()
    except Exception as exc:  # py4j/grpc errors carry pages of Java text; keep the first line
        where = cfg.remote or cfg.master
        raise RunnerError(f"could not start Spark ({where}): {str(exc).splitlines()[0]}") from exc
    if cfg.remote:
        _activate(session, cfg.remote)
    else:
        session.sparkContext.setLogLevel(cfg.log_level)
        if archive:
            _claim_archive(session, archive)
    return session


def _claim_archive(session: SparkSession, archive: Path) -> None:
    """Name this session's JVM as the archive's writer when it was started to write it."""
    opts = session.sparkContext.getConf().get("spark.driver.extraJavaOptions", "") or ""
    if "ArchiveClassesAtExit" in opts:
        pid = compat_pyspark.gateway_pid(session.sparkContext)
        if pid is not None:
            class_archive.claim(archive, pid)  # spark-submit execs into the JVM


def _check_reachable(url: str) -> None:
    """Try the Connect server's port once: its client retries a refused connection silently
    for many minutes before it reports anything."""
    parts = urlparse(url)
    where = (parts.hostname or "localhost", parts.port or 15002)
    try:
        socket.create_connection(where, timeout=10).close()
    except OSError as exc:
        raise RunnerError(f"could not reach the Spark Connect server at {url}: "
                          f"{exc.strerror or exc}") from exc


def _activate(session: Any, url: str) -> None:
    """Make a Connect session active in this thread.

    pyspark.ml's remote calls (a model's numClasses, its summary) look the session up with
    ``getActiveSession()``, which Connect keeps per thread; ``getOrCreate()`` in a thread that did
    not create it returns the session without making it active there, and those calls then fail
    with a bare AssertionError.
    """
    if type(session).getActiveSession() is None:
        compat_pyspark.activate_connect_session(session)
    if id(session) not in _sessions.connect_urls:
        # Models free their server-side copy in __del__ with a gRPC call; at interpreter exit the
        # channel is gone and that call waits forever. A stopped session makes them skip it.
        _sessions.connect_urls[id(session)] = url
        atexit.register(session.stop)


def start_async(cfg: Any, input_path: str | None = None) -> Future[SparkSession]:
    """Start (or fetch) the session in a background thread; ``.result()`` waits for it.

    A Connect session starts no JVM (it opens a channel), so it is created at once in the
    caller's thread, where pyspark.ml needs it to be active.
    """
    if not cfg.remote:
        return _sessions.starter.submit(get_session, cfg, input_path)
    done: Future[SparkSession] = Future()
    try:
        done.set_result(get_session(cfg))
    except BaseException as exc:  # raised where the caller waits for it, as from the pool
        done.set_exception(exc)
    return done


def active_session() -> SparkSession | None:
    """The session this thread uses, if one was started; never starts one."""
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def is_connect() -> bool:
    """True in a Spark Connect client: no local JVM, the server runs every Spark call."""
    from pyspark.sql.utils import is_remote

    return bool(is_remote())


def keep(frame: DataFrame, cfg: Any, rows: int) -> DataFrame:
    """``frame`` computed once and kept for the jobs to come: a local checkpoint (the lineage
    cut, so every task ships a short plan) for a local master and at most
    ``spark.checkpoint_below_rows`` rows, else cached."""
    if _is_local(cfg) and rows <= int(cfg.checkpoint_below_rows or 0):
        return frame.localCheckpoint(eager=True)
    return frame.cache()


def master_of(session: SparkSession) -> str:
    """The master URL, or the Connect URL for a remote session."""
    if id(session) in _sessions.connect_urls:  # the server's own master says nothing of ours
        return _sessions.connect_urls[id(session)]
    try:
        return str(session.conf.get("spark.master"))
    except Exception:  # Spark Connect may refuse to read core settings
        return "connect"


def in_thread(session: SparkSession, fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` wrapped to run in another thread with this thread's Spark job group, scheduler
    pool and tags (pinned-thread mode keeps them per thread)."""
    from pyspark.util import inheritable_thread_target

    return inheritable_thread_target(session)(fn)  # given the session, tags carry over too
