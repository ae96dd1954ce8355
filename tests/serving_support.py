"""One trained model and one ``runner serve`` process shared by the serving, page and predict tests.

Session fixtures defined in two test modules would each run once; these helpers cache in module
globals instead, so the model is trained once per test session (in-process, on the session's
SparkSession) and the server subprocess starts once and is stopped at the end of the session.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import TEST_SPARK_OVERRIDES, make_config

READY = re.compile(r"listening on (http://\S+/)")
START_TIMEOUT_S = 240  # the Spark fallback starts a JVM: slow on a loaded 2-core machine
MAX_BODY = 65_536


@dataclass(frozen=True)
class Store:
    uri: str
    root: Path
    run_id: str
    model_uri: str


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    lines: list[str]


_store: Store | None = None
_server: Server | None = None


def trained_store(root: Path) -> Store:
    """Train the lab's first run into an sqlite store under ``root``, once per session."""
    global _store
    if _store is None:
        from runner import train

        uri = f"sqlite:///{root / 'mlflow.db'}"
        cfg = make_config([*TEST_SPARK_OVERRIDES, f"tracking.uri={uri}",
                           "tracking.log_datasets=false", "evaluation.train_metrics=false",
                           "evaluation.confusion_matrix=false"])
        result = train.run(cfg, [])
        assert result.model is not None
        _store = Store(uri, root, result.run_id, result.model.uri)
    return _store


def running_server(store: Store) -> Server:
    """``runner serve`` on a free port of 127.0.0.1, once per session; waits until it listens."""
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = start_server(store, ["serving.port=0", f"serving.max_body_bytes={MAX_BODY}"])
        atexit.register(stop_server)
    return _server


def start_server(store: Store, overrides: list[str]) -> Server:
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri}
    cmd = [str(Path(sys.executable).parent / "runner"), "serve", f"tracking.uri={store.uri}",
           *TEST_SPARK_OVERRIDES, *overrides]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env, cwd=store.root)
    lines: list[str] = []
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = READY.search(line)
            if match:
                found.append(match.group(1))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not found:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("runner serve did not start:\n" + "".join(lines[-30:]))
        time.sleep(0.1)
    return Server(found[0], process, lines)


def stop_server() -> None:
    global _server
    if _server is not None and _server.process.poll() is None:
        _server.process.terminate()
        try:
            _server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _server.process.kill()
    _server = None
