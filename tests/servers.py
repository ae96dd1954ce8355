"""Real servers on 127.0.0.1 for integration tests: a Spark standalone master and worker and a Spark
Connect server (both run from the pyspark package, SPARK_HOME = its folder) and an MLflow tracking
server (sqlite backend, artifact root in a tmp dir).

Every server runs in its own process group, so ``stop`` ends the launcher scripts and the JVMs they
start together. ``Unavailable`` means the machine cannot run the server at all (no Java, no
Connect jar, no mlflow script): tests skip with that reason. A server that is available but does
not come up is a failure, with its log tail.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 180  # JVMs start slowly on a loaded 2-core machine
LOOPBACK = "127.0.0.1"


class Unavailable(Exception):
    """An environmental reason the server cannot run here; the message says which."""


@dataclass
class Server:
    """One started process group, its log and the URL clients use."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the whole group (launcher and JVM), SIGKILL what is left after 20 s."""
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def free_port() -> int:
    """A port free on 127.0.0.1 now (the OS picks it; a race with others is unlikely)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def loopback_env(**extra: str) -> dict[str, str]:
    """This environment with Spark bound to 127.0.0.1 and no inherited tracking store."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "SPARK_LOCAL_IP": LOOPBACK, "SPARK_LOCAL_HOSTNAME": "localhost", **extra}


def spark_home() -> Path:
    """The pyspark package folder, which carries bin/, sbin/ and jars/."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def require_java() -> None:
    """Raise Unavailable unless a Java that Spark 4 runs on (17+) is installed."""
    from runner.errors import RunnerError
    from runner.spark import java_version

    try:
        version = java_version()
    except RunnerError as exc:
        raise Unavailable(str(exc)) from exc
    if version < 17:
        raise Unavailable(f"Java {version} found; Spark 4 needs 17 or 21")


def _launch(name: str, cmd: list[str], workdir: Path, env: dict[str, str], url: str) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env,
                                   start_new_session=True)  # own group: stop() reaches the JVM
    return Server(name, url, process, log)


def wait_until(ready: Callable[[], bool], servers: list[Server], what: str,
               timeout: float = START_TIMEOUT_S) -> None:
    """Poll ``ready`` until true; on timeout or a server exiting, stop them all and raise."""
    deadline = time.monotonic() + timeout
    while not _safe(ready):
        dead = [s for s in servers if s.process.poll() is not None]
        if dead or time.monotonic() > deadline:
            for server in servers:
                server.stop()
            why = f"{dead[0].name} exited ({dead[0].process.returncode})" if dead else "timed out"
            tails = "\n".join(f"--- {s.name} log:\n{s.tail()}" for s in servers)
            raise RuntimeError(f"{what} did not start: {why}\n{tails}")
        time.sleep(0.5)


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except OSError:  # connection refused / reset while the server comes up
        return False


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((LOOPBACK, port)) == 0


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return dict(json.loads(response.read()))


def start_standalone(workdir: Path, cores: int = 1, memory: str = "1g") -> list[Server]:
    """A standalone master and one worker on 127.0.0.1; returns [master, worker] once the worker
    has registered. ``servers[0].url`` is the ``spark://`` master URL."""
    require_java()
    home = spark_home()
    port, ui, worker_ui = free_port(), free_port(), free_port()
    env = loopback_env(SPARK_HOME=str(home), SPARK_WORKER_DIR=str(workdir / "work"),
                       SPARK_NO_DAEMONIZE="1")
    spark_class = str(home / "bin" / "spark-class")
    url = f"spark://{LOOPBACK}:{port}"
    master = _launch("master", [spark_class, "org.apache.spark.deploy.master.Master",
                                "--host", LOOPBACK, "--port", str(port), "--webui-port", str(ui)],
                     workdir, env, url)
    worker = _launch("worker", [spark_class, "org.apache.spark.deploy.worker.Worker",
                                "--host", LOOPBACK, "--cores", str(cores), "--memory", memory,
                                "--webui-port", str(worker_ui), url], workdir, env, url)
    status = f"http://{LOOPBACK}:{ui}/json/"
    wait_until(lambda: get_json(status).get("aliveworkers", 0) >= 1, [master, worker],
               "Spark standalone master and worker")
    return [master, worker]


def start_connect(workdir: Path, master: str = "local[2]") -> Server:
    """A Spark Connect server (its own driver on ``master``) on a free port of 127.0.0.1."""
    require_java()
    home = spark_home()
    jars = list((home / "jars").glob("spark-connect_*.jar"))
    if not jars:
        raise Unavailable(f"no spark-connect jar in {home / 'jars'}: install pyspark[connect]")
    port = free_port()
    cmd = [str(home / "bin" / "spark-submit"), "--class",
           "org.apache.spark.sql.connect.service.SparkConnectServer", "--name", "runner-tests",
           "--master", master, "--driver-memory", "1g",
           "--conf", f"spark.connect.grpc.binding.address={LOOPBACK}",
           "--conf", f"spark.connect.grpc.binding.port={port}",
           "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=4",
           # the quick JIT runner gives a local JVM on small data: the tests' penguin jobs cost
           # less CPU without the C2 compiler threads (runner.spark.session._quick_jit)
           "--conf", "spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1",
           "spark-internal"]
    server = _launch("connect", cmd, workdir, loopback_env(SPARK_HOME=str(home)),
                     f"sc://{LOOPBACK}:{port}")
    wait_until(lambda: port_open(port), [server], "Spark Connect server")
    return server


def start_mlflow(workdir: Path) -> Server:
    """``mlflow server`` with an sqlite backend and a local artifact root, ready on /health."""
    exe = Path(sys.executable).parent / "mlflow"
    if not exe.exists():
        raise Unavailable(f"no mlflow script beside {sys.executable}")
    port = free_port()
    cmd = [str(exe), "server", "--host", LOOPBACK, "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
           "--artifacts-destination", str(workdir / "artifacts")]
    url = f"http://{LOOPBACK}:{port}"
    server = _launch("mlflow", cmd, workdir, loopback_env(), url)

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:  # noqa: S310
            return response.status == 200

    wait_until(healthy, [server], "mlflow server")
    return server


def run_cli(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """The installed ``runner`` console script, with Spark on loopback and no inherited store."""
    exe = Path(sys.executable).parent / "runner"
    return subprocess.run([str(exe), *args], cwd=cwd, env=loopback_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def running(start: Callable[[], list[Server]]) -> Iterator[list[Server]]:
    """For a fixture: the servers ``start`` returns, stopped afterwards (last started first);
    the test is skipped, with the reason, when they are Unavailable here."""
    import pytest

    try:
        started = start()
    except Unavailable as exc:
        pytest.skip(f"cannot run the server here: {exc}")
    try:
        yield started
    finally:
        for server in reversed(started):
            server.stop()
