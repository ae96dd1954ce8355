"""runner against a real MLflow tracking server over HTTP: ``mlflow server`` on 127.0.0.1 with an
sqlite backend and an artifact root in a tmp dir, started by the test.

Training logs and registers through the server (the model's files land in the server's artifact
root, not on the client's disk), and ``runner serve`` resolves the registered model through the
same server and answers the lab's request.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import LAB_REQUEST
from tests.servers import run_cli
from tests.serving_support import Store, start_server

pytestmark = pytest.mark.slow
MODEL = "penguin-classifier"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    workdir = tmp_path_factory.mktemp("mlflow-server")
    for started in servers.running(lambda: [servers.start_mlflow(workdir)]):
        yield started[0]


@pytest.fixture(scope="module")
def trained(mlflow_server: servers.Server, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[str, Path]:
    """The default run trained into the server; (run id, the client's working dir)."""
    cwd = tmp_path_factory.mktemp("client")
    proc = run_cli(f"tracking.uri={mlflow_server.url}", "spark.master='local[2]'", cwd=cwd)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"registered: {MODEL} version 1" in proc.stdout
    assert f"open {mlflow_server.url}" in proc.stdout  # the summary points at the server
    return re.search(r"run id: (\w+)", proc.stdout).group(1), cwd


def test_train_logs_and_registers_through_the_server(mlflow_server: servers.Server,
                                                     trained: tuple[str, Path]) -> None:
    from mlflow import MlflowClient

    run_id, cwd = trained
    client = MlflowClient(mlflow_server.url)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert client.get_model_version(MODEL, "1").run_id == run_id
    assert client.get_registered_model(MODEL).aliases == {"champion": "1"}
    served_root = mlflow_server.log.parent / "artifacts"
    assert list(served_root.rglob("MLmodel")), "the model's files are not in the server's root"
    assert not (cwd / "outputs" / "mlflow.db").exists()  # nothing fell back to the local store


def test_serve_from_the_servers_registry(mlflow_server: servers.Server,
                                         trained: tuple[str, Path]) -> None:
    run_id, cwd = trained
    server = start_server(Store(mlflow_server.url, cwd, run_id, ""),
                          [f"serving.port={servers.free_port()}"])
    try:
        request = urllib.request.Request(  # noqa: S310 - loopback only
            server.url + "invocations", data=json.dumps(LAB_REQUEST).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            assert json.loads(response.read()) == {"predictions": [1.0]}  # Gentoo
        assert any(f"models:/{MODEL}" in line for line in server.lines), "".join(server.lines)
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


def test_parallel_sweep_against_the_server_leaves_six_finished_children(
        mlflow_server: servers.Server, tmp_path: Path) -> None:
    """Issue 6's check: 6 Optuna trials, 2 at a time, all logged through the tracking server."""
    from mlflow import MlflowClient

    space = ["model.regParam=interval(0.001,1.0)", "model.maxIter=range(5,30)"]
    proc = run_cli("-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=6",
                   "hydra.sweeper.n_jobs=2", "hydra.sweeper.sampler.seed=3",
                   "tracking.log_models=none", "data.split.validation=0.25",  # a fit a trial
                   "tracking.experiment_name=parallel", f"tracking.uri={mlflow_server.url}",
                   "spark.master='local[2]'", *space, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name("parallel")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "runner.sweep.trial" in r.data.tags]  # not the refit
    assert len(parents) == 1
    assert [r.info.status for r in parents] == ["FINISHED"]
    assert sorted(r.info.status for r in children) == ["FINISHED"] * 6
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
