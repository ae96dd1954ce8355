"""Serving and batch-scoring figures of runner beside MLflow's own, measured in one run.

    /work/venv/bin/python benchmarks/serve.py [--quick] [--workers 2]
    .venv/bin/python benchmarks/serve.py --compare-with <dir> [--rounds 5] [--seconds 4]
                                         [--store <a tracking URI holding the lab model>]
    .venv/bin/python benchmarks/serve.py --shells [--workers 1] [--rounds 3] [--seconds 4]
                                         [--store <a tracking URI holding the lab model>]

1. Trains the lab model with ``runner`` (subprocess) into a tmp sqlite store.
2. ``runner serve`` vs ``mlflow models serve --env-manager local`` (the spark flavor's pyfunc) on
   127.0.0.1: startup (spawn -> first /ping 200), then the lab's single-record request with
   keep-alive clients at 1, 8 and 32 connections: p50/p99 latency, requests/s, errors. The load
   generator is ``wrk`` when installed (C, leaves the CPU to the server), else a bounded asyncio
   client in this process. MLflow's side gets short runs: ~20 s to start, ~200 ms per request.
   Also the startup of ``runner serve serving.model_uri=<dir>`` on the champion's downloaded files.
3. ``runner predict`` (native transform, parquet in and out) on 1M seeded penguin-like rows vs
   ``mlflow.pyfunc.spark_udf`` on the same model over fewer rows (it is ~20x slower): rows/s.

``--shells`` compares HTTP shells instead: ``runner serve``'s own asyncio shell and the same
``runner.serving.App`` (same model, same compiled scorer, same request parsing) behind
uvicorn + starlette (installed with MLflow; its h11 parser, and httptools when installed), same
requests, same worker count, alternating who goes first for ``--rounds`` rounds at 1, 8 and 32
connections: medians of p50/p99, req/s and server CPU per request side by side.

``--compare-with <dir>`` measures a change instead: ``runner serve`` from the ``runner`` package
under ``<dir>`` (e.g. ``git archive <base> runner | tar -x -C <dir>``) beside this checkout's, same
model, same interpreter, alternating who goes first for ``--rounds`` rounds at 1 and 32
connections on a noisy shared host; prints each round and the medians of p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runner.console import out

BIN = Path(sys.executable).parent
LAB = {"dataframe_records": [{"Island": "Biscoe", "CulmenLength": 48.7, "CulmenDepth": 14.1,
                              "FlipperLength": 210, "BodyMass": 4450}]}
BODY = json.dumps(LAB).encode()
SPARK = "spark.master='local[2]'"
# mlflow models serve execs `uvicorn` from PATH: the venv's bin must be on it
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
       "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # spark_udf's workers need this venv


@dataclass
class Load:
    connections: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float = 0.0  # the server's CPU time per request (compare mode)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def report(ld: Load) -> Load:
    out(f"  {ld.connections:>2} connections: {ld.requests} requests, {ld.errors} errors, "
        f"p50 {ld.p50_ms:.3f} ms, p99 {ld.p99_ms:.3f} ms, {ld.rps:,.0f} req/s")
    return ld


def train(root: Path) -> str:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    out("training the lab model with runner ...")
    cmd = [str(BIN / "runner"), f"tracking.uri={uri}", SPARK, "tracking.log_datasets=false"]
    subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True)
    return uri


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds from now until GET url answers 200 (the caller started ``process`` just before)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{url} not ready in {timeout} s")


def start(cmd: list[str], port: int, cwd: Path, timeout: float
          ) -> tuple[subprocess.Popen[bytes], float]:
    t0 = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/ping", process, timeout)
    return process, time.perf_counter() - t0


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# ---- load generators -------------------------------------------------------------------------

def load(port: int, connections: int, seconds: float, max_requests: int) -> Load:
    if shutil.which("wrk"):
        return wrk_load(port, connections, seconds)
    return asyncio.run(python_load(port, connections, seconds, max_requests))


async def python_load(port: int, connections: int, seconds: float, max_requests: int) -> Load:
    """Bounded keep-alive clients: stop at ``seconds`` or ``max_requests``, whichever is first."""
    request = (b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
               % (len(BODY), BODY))
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline and len(latencies) < max_requests:
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            errors += not head.startswith(b"HTTP/1.1 200")
        writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return Load(connections, len(latencies), errors, elapsed, float(np.percentile(ms, 50)),
                float(np.percentile(ms, 99)))


WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '%s'
"""


def wrk_load(port: int, connections: int, seconds: float) -> Load:
    """``wrk`` with one thread (the other core is the server's), latency percentiles on."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % BODY.decode())
    text = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                          "--latency", "-s", f.name, f"http://127.0.0.1:{port}/invocations"],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    elapsed = _duration(re.search(r"requests in ([\d.]+\w+)", text).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    p50 = _duration(re.search(r"50%\s+([\d.]+\w+)", text).group(1)) * 1000  # type: ignore[union-attr]
    p99 = _duration(re.search(r"99%\s+([\d.]+\w+)", text).group(1)) * 1000  # type: ignore[union-attr]
    return Load(connections, requests, errors, elapsed, p50, p99)


def _duration(text: str) -> float:
    """wrk's '512.00us' / '1.20ms' / '2.00s' / '1.00m' in seconds."""
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


# ---- servers ---------------------------------------------------------------------------------

def bench_runner(root: Path, uri: str, seconds: float, workers: int
                 ) -> tuple[float, list[Load]]:
    port = free_port()
    cmd = [str(BIN / "runner"), "serve", f"tracking.uri={uri}", f"serving.port={port}",
           f"serving.workers={workers}", SPARK]
    process, startup = start(cmd, port, root, 300)
    out(f"  startup {startup:.2f} s")
    try:
        load(port, 1, 1.0, 500)  # warm-up
        return startup, [report(load(port, c, seconds, 200_000)) for c in (1, 8, 32)]
    finally:
        stop(process)


def bench_source(root: Path, uri: str, source: Path, seconds: float) -> list[Load]:
    """``runner serve`` run as ``python -m runner.cli`` with ``source`` first on the path."""
    port = free_port()
    cmd = [sys.executable, "-m", "runner.cli", "serve", f"tracking.uri={uri}",
           f"serving.port={port}", SPARK]
    t0 = time.perf_counter()
    env = {**ENV, "PYTHONPATH": str(source)}
    process = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ping", process, 300 - (time.perf_counter() - t0))
        load(port, 1, 1.0, 500)  # warm-up
        return timed_loads(port, (1, 32), seconds, lambda: cpu_seconds(process.pid))
    finally:
        stop(process)


def timed_loads(port: int, connections: tuple[int, ...], seconds: float,
                cpu: Callable[[], float]) -> list[Load]:
    """One load per connection count, each with the server CPU it cost per request."""
    loads = []
    for c in connections:
        before = cpu()
        ld = load(port, c, seconds, 200_000)
        ld.server_cpu_us = (cpu() - before) / max(ld.requests, 1) * 1e6
        loads.append(ld)
    return loads


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux): unlike latency on a shared host, it hardly
    depends on what else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(root: Path, uri: str, before: Path, rounds: int, seconds: float) -> str:
    """Medians over ``rounds`` of the same load on ``before``'s runner and this checkout's,
    alternating which goes first."""
    after = Path(__file__).resolve().parent.parent
    runs: dict[str, list[list[Load]]] = {"before": [], "after": []}
    for r in range(rounds):
        order = [("before", before), ("after", after)]
        for name, source in order if r % 2 == 0 else order[::-1]:
            runs[name].append(bench_source(root, uri, source, seconds))
            out(f"round {r + 1} {name}: " + "; ".join(
                f"@{ld.connections} p50 {ld.p50_ms:.3f} p99 {ld.p99_ms:.3f} ms, "
                f"{ld.rps:,.0f} req/s, server CPU {ld.server_cpu_us:.0f} us/req, "
                f"{ld.errors} errors" for ld in runs[name][-1]))
    lines = [f"medians of {rounds} rounds, {seconds:g} s each (ms; req/s; server CPU us/request)",
             f"{'':<16}{'before':>10}{'after':>10}{'change':>9}"]
    for i, c in enumerate((1, 32)):
        for label, field in (("p50", "p50_ms"), ("p99", "p99_ms"), ("req/s", "rps"),
                             ("cpu us/req", "server_cpu_us")):
            b, a = (statistics.median(getattr(run[i], field) for run in runs[n]) for n in runs)
            lines.append(f"{label + f' @{c}':<16}{_num(b):>10}{_num(a):>10}"
                         f"{(a / b - 1) * 100:>+8.1f}%")
    return "\n".join(lines)


# ---- the same App behind uvicorn + starlette (--shells) --------------------------------------

STORE_ENV = "RUNNER_BENCH_STORE"


def starlette_app():  # noqa: ANN201 - a Starlette app; uvicorn calls it in each worker
    """runner's App (the model loaded as ``runner serve`` loads it) behind starlette routes.

    Scored on the event loop, as runner's shell scores the compiled scorer (tens of us a call;
    MLflow's server hands each request to a thread instead, which costs more than the model)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from runner import serving

    app, _ = serving.load_app(compose([f"tracking.uri={os.environ[STORE_ENV]}"]))

    async def invocations(request: Request) -> Response:
        answer = app.handle("POST", "/invocations", request.url.query,
                            request.headers.get("content-type"), await request.body())
        return Response(answer.body, answer.status, media_type=answer.content_type)

    async def ping(request: Request) -> Response:
        return Response(b"\n", 200, media_type="text/plain")

    return Starlette(routes=[Route("/invocations", invocations, methods=["POST"]),
                             Route("/ping", ping)])


def uvicorn_main(port: int, workers: int, http: str) -> None:
    """The uvicorn server process: ``--uvicorn-server``; the store comes in $RUNNER_BENCH_STORE."""
    import uvicorn

    uvicorn.run("serve:starlette_app", factory=True, app_dir=str(Path(__file__).parent),
                host="127.0.0.1", port=port, workers=workers, http=http, loop="uvloop",
                access_log=False, log_level="warning")


def shell_commands(uri: str, port: int, workers: int) -> dict[str, list[str]]:
    """The servers to compare, by name: runner's shell, uvicorn with each HTTP parser it has."""
    import importlib.util

    uvicorn = [sys.executable, str(Path(__file__).resolve()), "--uvicorn-server", str(port),
               "--workers", str(workers), "--store", uri, "--http"]
    commands = {"runner shell": [str(BIN / "runner"), "serve", f"tracking.uri={uri}",
                                 f"serving.port={port}", f"serving.workers={workers}"],
                "uvicorn h11": [*uvicorn, "h11"]}
    if importlib.util.find_spec("httptools"):
        commands["uvicorn httptools"] = [*uvicorn, "httptools"]
    return commands


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (workers): user + system, Linux."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    total = 0.0
    for p in pids:
        with contextlib.suppress(OSError):  # a worker that just exited
            total += cpu_seconds(p)
    return total


def bench_shell(root: Path, cmd: list[str], port: int, seconds: float) -> list[Load]:
    process = subprocess.Popen(cmd, cwd=root, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ping", process, 120)
        load(port, 8, 1.0, 2000)  # warm-up (every worker)
        return timed_loads(port, (1, 8, 32), seconds, lambda: tree_cpu_seconds(process.pid))
    finally:
        stop(process)


def compare_shells(root: Path, uri: str, rounds: int, seconds: float, workers: int) -> str:
    """Medians over ``rounds`` of the same load on each shell, the order rotated each round."""
    names = list(shell_commands(uri, 0, workers))
    runs: dict[str, list[list[Load]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            port = free_port()
            runs[name].append(bench_shell(root, shell_commands(uri, port, workers)[name], port,
                                          seconds))
            out(f"round {r + 1} {name}: " + "; ".join(
                f"@{ld.connections} p50 {ld.p50_ms:.3f} p99 {ld.p99_ms:.3f} ms, "
                f"{ld.rps:,.0f} req/s, CPU {ld.server_cpu_us:.0f} us/req, {ld.errors} errors"
                for ld in runs[name][-1]))
    lines = [f"medians of {rounds} rounds, {seconds:g} s each, serving.workers={workers}; "
             "p50/p99 in ms, server CPU in us per request",
             f"{'':<16}" + "".join(f"{n:>19}" for n in names)]
    for i, c in enumerate((1, 8, 32)):
        for label, field in (("p50", "p50_ms"), ("p99", "p99_ms"), ("req/s", "rps"),
                             ("cpu us/req", "server_cpu_us"), ("errors", "errors")):
            values = [statistics.median(getattr(run[i], field) for run in runs[n]) for n in names]
            lines.append(f"{label + f' @{c}':<16}" + "".join(f"{_num(v):>19}" for v in values))
    return "\n".join(lines)


def dir_startup(root: Path, uri: str) -> float:
    """``runner serve`` of the champion's files downloaded to a directory (as a container image
    bakes them in): spawn -> first /ping 200, with no tracking store and no MLflow import."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    path = mlflow.artifacts.download_artifacts("models:/penguin-classifier@champion",
                                               dst_path=str(root / "model-dir"))
    port = free_port()
    cmd = [str(BIN / "runner"), "serve", f"serving.model_uri={path}", f"serving.port={port}"]
    process, startup = start(cmd, port, root, 60)
    stop(process)
    out(f"  startup from a model directory {startup:.2f} s")
    return startup


def mlflow_model_copy(root: Path, uri: str) -> Path:
    """The registered model's files, its python_function pointed at mlflow's own spark loader."""
    import mlflow
    import yaml

    if (root / "mlflow-model" / "MLmodel").exists():
        return root / "mlflow-model"
    mlflow.set_tracking_uri(uri)
    path = Path(mlflow.artifacts.download_artifacts("models:/penguin-classifier/1",
                                                    dst_path=str(root / "mlflow-model")))
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"].get("python_function", {})
    if pyfunc.get("loader_module") != "mlflow.spark":  # runner's compiled scorer took the slot
        mlmodel["flavors"]["python_function"] = {
            "loader_module": "mlflow.spark", "data": "sparkml",
            "python_version": sys.version.split()[0],
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}}
        (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return path


def bench_mlflow(root: Path, model: Path, seconds: float) -> tuple[float, list[Load]]:
    port = free_port()
    cmd = [str(BIN / "mlflow"), "models", "serve", "-m", str(model), "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port)]
    process, startup = start(cmd, port, root, 300)
    out(f"  startup {startup:.2f} s")
    try:
        load(port, 1, 2.0, 5)  # warm-up: the first request starts Spark work
        return startup, [report(load(port, c, seconds, 100)) for c in (1, 8)]
    finally:
        stop(process)


# ---- batch -----------------------------------------------------------------------------------

COLUMNS = ["Island", "CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]


def penguin_rows(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Seeded penguin-like rows: the three islands and measurements spread like the real data."""
    rng = np.random.default_rng(seed)
    return {
        "Island": rng.choice(np.array(["Biscoe", "Dream", "Torgersen"]), n, p=[0.49, 0.36, 0.15]),
        "CulmenLength": rng.normal(44.0, 5.4, n).round(1),
        "CulmenDepth": rng.normal(17.2, 2.0, n).round(1),
        "FlipperLength": rng.normal(201.0, 14.0, n).round(),
        "BodyMass": rng.normal(4200.0, 800.0, n).round(),
    }


def compose(overrides: list[str]):  # noqa: ANN201 - a DictConfig
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from runner.config.schemas import register_configs

    register_configs()
    with initialize_config_module(config_module="runner.conf", version_base="1.3"):
        return hydra_compose(config_name="config", overrides=overrides)


def bench_batch(root: Path, uri: str, rows: int, udf_rows: int) -> tuple[float, float]:
    """(runner predict rows/s on ``rows``, spark_udf rows/s on ``udf_rows``), same session."""
    import pandas as pd

    from runner import predict, spark, tracking

    cfg = compose([SPARK, f"tracking.uri={uri}", f"predict.input={root / 'big.parquet'}",
                   f"predict.output={root / 'scored.parquet'}"])
    session = spark.get_session(cfg.spark)
    session.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")  # fast pandas -> Spark
    out(f"generating {rows:,} penguin-like rows ...")
    frame = session.createDataFrame(pd.DataFrame(penguin_rows(rows)))
    frame.write.parquet(str(root / "big.parquet"))
    out("runner predict ...")
    ours = predict.run(cfg)
    assert ours.rows == rows
    out(f"mlflow.pyfunc.spark_udf on {udf_rows:,} rows ...")
    tracking.use_store(uri)
    t0 = time.perf_counter()
    udf_seconds = spark_udf_seconds(session, udf_rows, root)
    out(f"  ({time.perf_counter() - t0:.1f} s)")
    return rows / ours.seconds, udf_rows / udf_seconds


def spark_udf_seconds(session, udf_rows: int, root: Path) -> float:  # noqa: ANN001
    import mlflow.pyfunc
    from pyspark.sql import functions as F  # noqa: N812

    start = time.perf_counter()
    frame = session.read.parquet(str(root / "big.parquet")).limit(udf_rows)
    udf = mlflow.pyfunc.spark_udf(session, str(mlflow_model_copy(root, mlflow.get_tracking_uri())),
                                  result_type="double", env_manager="local")
    scored = frame.withColumn("prediction", udf(*[F.col(c) for c in COLUMNS]))
    scored.write.parquet(str(root / "udf.parquet"))
    return time.perf_counter() - start


# ---- in-process scorers: runner's compiled scorer vs OMLE vs MLflow's spark pyfunc -----------

OMLE_MISSING = ("OMLE not installed here: `pip install omle-convert omle-runtime` in this "
                "benchmark's environment (not a runner dependency) to compare it")


@dataclass
class Scored:
    """One scorer's figures on the same fitted PipelineModel, pandas in, one core."""

    name: str
    agree: int  # lab rows whose prediction equals Spark's transform
    rows: int
    p50_us: float
    p99_us: float
    rows_per_s: float


def lab_frame():  # noqa: ANN201 - a pandas DataFrame
    """The lab's 342 penguins with every feature present, measurements as floats (as the lab
    casts them)."""
    from importlib.resources import files

    import pandas as pd

    with files("runner.resources").joinpath("penguins.csv").open() as f:
        frame = pd.read_csv(f)[COLUMNS].dropna().reset_index(drop=True)
    for c in COLUMNS[1:]:
        frame[c] = frame[c].astype("float64")
    return frame


def latency_us(predict: Callable[[], object], calls: int) -> tuple[float, float]:
    """p50 and p99 of ``calls`` single calls, after a warm-up, in microseconds."""
    for _ in range(min(200, calls)):
        predict()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        predict()
        times.append(time.perf_counter() - t)
    us = np.array(times) * 1e6
    return float(np.percentile(us, 50)), float(np.percentile(us, 99))


def throughput(predict: Callable[[object], object], frame: object, rows: int, rounds: int = 3
               ) -> float:
    """Rows per second, the best of ``rounds`` calls on ``rows`` rows."""
    best = min(_timed(predict, frame) for _ in range(rounds))
    return rows / best


def _timed(predict: Callable[[object], object], frame: object) -> float:
    t = time.perf_counter()
    predict(frame)
    return time.perf_counter() - t


def bench_scorers(root: Path, uri: str, rows: int, rounds: int = 5) -> str:
    """runner's compiled scorer, OMLE and MLflow's spark pyfunc on the champion's PipelineModel:
    parity with Spark's transform on the lab data, one-row latency, rows/s on ``rows`` rows."""
    import mlflow
    import pandas as pd

    from runner.compiled import CompiledPipeline
    from runner.compiled.pyfunc import CompiledPyfuncModel
    from runner.serving.scorers import compiled_location

    os.environ["OMP_NUM_THREADS"] = "1"  # one core each: OMLE sessions are single-threaded too
    mlflow.set_tracking_uri(uri)
    model = Path(mlflow.artifacts.download_artifacts("models:/penguin-classifier@champion",
                                                     dst_path=str(root / "scorer-model")))
    lab = lab_frame()
    truth = spark_predictions(uri, model, lab)
    one = lab.iloc[[0]].reset_index(drop=True)
    big = pd.DataFrame(penguin_rows(rows))
    compiled_dir, _ = compiled_location(str(model))
    ours = CompiledPyfuncModel(CompiledPipeline.load(str(compiled_dir)))
    scorers: list[tuple[str, Callable[[pd.DataFrame], np.ndarray], int]] = [
        ("runner compiled", ours.predict, 2000)]
    note = ""
    try:
        scorers.append(("OMLE", omle_session(model / "sparkml", root), 2000))
    except ImportError:
        note = OMLE_MISSING
    spark_pyfunc = mlflow.pyfunc.load_model(str(mlflow_model_copy(root, uri)))
    agree = {name: int((np.ravel(predict(lab)).astype(np.float64) == truth).sum())
             for name, predict, _ in [*scorers, ("mlflow spark pyfunc", spark_pyfunc.predict, 0)]}
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in scorers}
    for r in range(rounds):  # alternating who goes first: the host is shared and noisy
        for name, predict, calls in scorers if r % 2 == 0 else scorers[::-1]:
            p50, p99 = latency_us(lambda predict=predict: predict(one), calls)
            figures[name].append((p50, p99, throughput(predict, big, rows, 1)))
        out(f"  round {r + 1}: " + "; ".join(
            f"{n} p50 {f[-1][0]:.1f} us, {f[-1][2]:,.0f} rows/s" for n, f in figures.items()))
    results = [Scored(name, agree[name], len(lab),
                      *(statistics.median(f[i] for f in figures[name]) for i in range(3)))
               for name in figures]
    out("  mlflow spark pyfunc ...")
    p50, p99 = latency_us(lambda: spark_pyfunc.predict(one), 20)
    few = min(rows, 20_000)  # ~20x slower: fewer rows
    results.append(Scored("mlflow spark pyfunc", agree["mlflow spark pyfunc"], len(lab), p50, p99,
                          throughput(spark_pyfunc.predict, big.iloc[:few], few, 1)))
    return scorer_table(results, rows, rounds, note)


def spark_predictions(uri: str, model: Path, lab: object) -> np.ndarray:
    """Spark's own transform of the lab rows: the predictions every scorer must equal."""
    from runner import spark, tracking

    session = spark.get_session(compose([SPARK, f"tracking.uri={uri}"]).spark)
    pipeline = tracking.load_spark_model(str(model))
    return np.array([r.prediction for r in pipeline.transform(
        session.createDataFrame(lab)).select("prediction").collect()])


def omle_session(sparkml: Path, root: Path) -> Callable[[object], np.ndarray]:
    """OMLE's converter on the saved PipelineModel directory, its C++ runtime's session."""
    import omle
    import omle_convert
    import omle_runtime

    path = root / "lab.omle"
    omle.save(omle_convert.to_omle(str(sparkml)), str(path))
    return omle_runtime.load(str(path)).create_session().predict


def scorer_table(results: list[Scored], rows: int, rounds: int, note: str) -> str:
    lines = [f"in-process scoring of the champion's PipelineModel, pandas in, predictions out, "
             f"one core; medians of {rounds} alternating rounds (the spark pyfunc: one, 20 calls "
             f"and 20,000 rows); rows/s on {rows:,} penguin-like rows",
             f"{'':<22}{'= Spark':>10}{'1 row p50 us':>14}{'p99 us':>10}{'rows/s':>14}"]
    for r in results:
        lines.append(f"{r.name:<22}{f'{r.agree}/{r.rows}':>10}{_num(r.p50_us):>14}"
                     f"{_num(r.p99_us):>10}{_num(r.rows_per_s):>14}")
    return "\n".join(lines + ([note] if note else []))


# ---- report ----------------------------------------------------------------------------------

def table(ours: tuple[float, list[Load]], theirs: tuple[float, list[Load]],
          batch: tuple[float, float] | None, from_dir: float | None) -> str:
    rows: list[tuple[str, float | None, float | None, bool]] = [
        ("startup s", ours[0], theirs[0], False)] if ours[1] else []
    if from_dir is not None:
        rows.append(("startup s, dir", from_dir, theirs[0] or None, False))
    by_conn = {ld.connections: ld for ld in theirs[1]}
    for ld in ours[1]:
        other = by_conn.get(ld.connections)
        c = ld.connections
        rows += [(f"p50 ms   @{c}", ld.p50_ms, other and other.p50_ms, False),
                 (f"p99 ms   @{c}", ld.p99_ms, other and other.p99_ms, False),
                 (f"req/s    @{c}", ld.rps, other and other.rps, True),
                 (f"errors   @{c}", ld.errors, other and other.errors, False)]
    if batch:
        rows.append(("batch rows/s", batch[0], batch[1], True))
    lines = [f"{'':<16}{'runner':>12}{'mlflow':>12}{'runner is':>12}"]
    for name, a, b, higher_better in rows:
        ratio = "" if not a or not b or name.startswith("errors") else (
            f"{(a / b if higher_better else b / a):.1f}x")
        lines.append(f"{name:<16}{_num(a):>12}{_num(b):>12}{ratio:>12}")
    return "\n".join(lines)


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, 100k batch rows")
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--no-serve", action="store_true")
    parser.add_argument("--no-scorers", action="store_true",
                        help="skip the in-process scorers (runner compiled, OMLE, spark pyfunc)")
    parser.add_argument("--scorers", action="store_true",
                        help="only the in-process scorers")
    parser.add_argument("--workers", type=int, default=1,
                        help="runner's serving.workers (processes); mlflow keeps its default")
    parser.add_argument("--compare-with", type=Path, metavar="DIR",
                        help="a directory holding another version's runner package: serve "
                             "latency of both, alternating (no MLflow, no batch)")
    parser.add_argument("--store", metavar="URI",
                        help="a tracking store already holding the lab model: no training")
    parser.add_argument("--shells", action="store_true",
                        help="runner serve's HTTP shell vs the same App behind uvicorn+starlette")
    parser.add_argument("--uvicorn-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--http", default="h11", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, help="length of each load run")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    if args.uvicorn_server:
        os.environ[STORE_ENV] = args.store
        uvicorn_main(args.uvicorn_server, args.workers, args.http)
        return
    root = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    try:
        uri = args.store or train(root)
        if args.shells:
            out(compare_shells(root, uri, args.rounds, seconds, args.workers))
            return
        if args.compare_with:
            out(compare(root, uri, args.compare_with.resolve(), args.rounds, seconds))
            return
        scorer_rows = 100_000 if args.quick else 1_000_000
        if args.scorers:
            out(bench_scorers(root, uri, scorer_rows))
            return
        scored = None if args.no_scorers else bench_scorers(root, uri, scorer_rows)
        ours: tuple[float, list[Load]] = (0.0, [])
        theirs: tuple[float, list[Load]] = (0.0, [])
        from_dir: float | None = None
        if not args.no_serve:
            out(f"runner serve (serving.workers={args.workers}) ...")
            ours = bench_runner(root, uri, seconds, args.workers)
            from_dir = dir_startup(root, uri)
            out("mlflow models serve (spark flavor) ...")
            theirs = bench_mlflow(root, mlflow_model_copy(root, uri), min(seconds, 6.0))
        batch = None if args.no_batch else bench_batch(
            root, uri, 100_000 if args.quick else 1_000_000, 20_000 if args.quick else 100_000)
        generator = "wrk -t1" if shutil.which("wrk") else "asyncio client"
        out(f"\nsingle-record lab request, keep-alive, load generator: {generator}; "
            f"@N = N connections; mlflow only at 1 and 8 (it needs ~200 ms per request); "
            f"runner with serving.workers={args.workers}")
        if batch:
            out("batch: runner predict on the full rows, spark_udf on fewer (rows/s either way)")
        out("startup: spawn -> first /ping 200; 'dir' serves the champion's files from a directory "
            "(serving.model_uri=<dir>: no tracking store, no MLflow import)")
        out(table(ours, theirs, batch, from_dir))
        if scored:
            out("\n" + scored)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
