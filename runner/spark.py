"""The one place that creates the SparkSession: local, a cluster master, or Spark Connect.

One session per process, reused by every run and sweep trial in it. The JVM takes seconds to
start, so ``start_async`` begins it in a thread while the caller sets up MLflow.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from runner.errors import RunnerError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_JAVA_HINT = (
    "pyspark needs Java 17 or 21: install it (Debian/Ubuntu: apt-get install -y "
    "openjdk-17-jre-headless) or set JAVA_HOME"
)
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-start")


def java_version() -> int:
    """Major version of the java that pyspark will launch; raises RunnerError when there is none."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise RunnerError(f"Java not found. {_JAVA_HINT}")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise RunnerError(f"could not read the Java version from {java!r}. {_JAVA_HINT}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _builder_conf(cfg: Any) -> dict[str, str]:
    conf = {str(k): str(v) for k, v in (cfg.conf or {}).items()}
    log4j = files("runner.resources").joinpath("log4j2.properties")
    opts = conf.get("spark.driver.extraJavaOptions", "")
    conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={log4j} {opts}".strip()
    return conf


def get_session(cfg: Any) -> SparkSession:
    """Return the process's SparkSession for a ``spark`` config, creating it on first use."""
    from pyspark.sql import SparkSession

    logging.getLogger("py4j").setLevel(logging.WARNING)
    builder = SparkSession.builder.appName(cfg.app_name)
    if cfg.remote:
        builder = builder.remote(cfg.remote)
    else:
        if java_version() < 17:
            raise RunnerError(f"Java {java_version()} found. {_JAVA_HINT}")
        builder = builder.master(cfg.master)
    for key, value in _builder_conf(cfg).items():
        if cfg.remote and not key.startswith("spark.sql."):
            continue  # a Connect client cannot set JVM or core settings of the server
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j/grpc errors carry pages of Java text; keep the first line
        where = cfg.remote or cfg.master
        raise RunnerError(f"could not start Spark ({where}): {str(exc).splitlines()[0]}") from exc
    if not cfg.remote:
        session.sparkContext.setLogLevel(cfg.log_level)
    return session


def start_async(cfg: Any) -> Future[SparkSession]:
    """Start (or fetch) the session in a background thread; ``.result()`` waits for it."""
    return _pool.submit(get_session, cfg)


def master_of(session: SparkSession) -> str:
    """The master URL, or the Connect URL for a remote session."""
    try:
        return str(session.conf.get("spark.master"))
    except Exception:  # Spark Connect may refuse to read core settings
        return "connect"
