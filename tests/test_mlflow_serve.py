"""`mlflow models serve` on a runner-logged model answers the lab's request with no Java at all:
the model's python_function flavor is the compiled scorer, not Spark."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import LAB_REQUEST
from tests.serving_support import trained_store

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _path_without_java(farm: Path) -> str:
    """A PATH with every tool but java: the venv's bin, then links to the other PATH entries'
    executables (on merged-/usr systems java sits beside bash in /usr/bin)."""
    farm.mkdir(exist_ok=True)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            link = farm / name
            if name != "java" and not link.exists():
                link.symlink_to(os.path.join(folder, name))
    return os.pathsep.join([str(Path(sys.executable).parent), str(farm)])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"mlflow models serve exited: {proc.stdout.read().decode()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("mlflow models serve did not become ready")


def test_mlflow_models_serve_without_java_predicts_gentoo(tmp_path_factory) -> None:
    store = trained_store(tmp_path_factory.mktemp("mlflow_serve_store"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env.update(PATH=_path_without_java(store.root / "bin"), MLFLOW_TRACKING_URI=store.uri)
    assert shutil.which("java", path=env["PATH"]) is None
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    proc = subprocess.Popen(
        [
            mlflow_cli,
            "models",
            "serve",
            "-m",
            store.model_uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=store.root,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        request = urllib.request.Request(
            url + "/invocations",
            data=json.dumps(LAB_REQUEST).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        assert body == {"predictions": [1.0]}
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
