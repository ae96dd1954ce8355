"""The default config on real Spark engines, through the CLI in a subprocess, as a user runs it:
a standalone master and worker (`spark.master=spark://...`) and a Spark Connect server
(`spark.remote=sc://...`), all started from the pyspark package on 127.0.0.1.

Each engine trains the lab's default run into a tmp sqlite store (FINISHED run, registered model,
tagged with the engine's URL), then `runner predict` scores a Parquet file with that model on the
same engine. Tests skip only when the machine cannot run the server (no Java, no Connect jar).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import LAB_REQUEST
from tests.servers import run_cli

pytestmark = pytest.mark.slow
MODEL = "penguin-classifier"


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``spark://127.0.0.1:<port>`` with one worker (1 core, 1g) registered."""
    workdir = tmp_path_factory.mktemp("standalone")
    for started in servers.running(lambda: servers.start_standalone(workdir, cores=1, memory="1g")):
        yield started[0].url


@pytest.fixture(scope="module")
def connect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sc://127.0.0.1:<port>``: a Spark Connect server with its own local[2] driver."""
    workdir = tmp_path_factory.mktemp("connect")
    for started in servers.running(lambda: [servers.start_connect(workdir)]):
        yield started[0].url


def _lab_parquet(path: Path) -> Path:
    """The lab's request plus an Adelie row, as Parquet with the request's int columns."""
    import pandas as pd

    rows = [*LAB_REQUEST["dataframe_records"],
            {"Island": "Torgersen", "CulmenLength": 39.1, "CulmenDepth": 18.7,
             "FlipperLength": 181, "BodyMass": 3750}]
    pd.DataFrame(rows).to_parquet(path)
    return path


def train_and_predict(engine: str, tmp_path: Path) -> None:
    """Train the default config on ``engine`` (a spark.* override), check the store, predict."""
    from mlflow import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    trained = run_cli(engine, f"tracking.uri={store}", cwd=tmp_path)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-3000:]
    assert f"registered: {MODEL} version 1" in trained.stdout
    run_id = re.search(r"run id: (\w+)", trained.stdout).group(1)
    client = MlflowClient(store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["runner.spark_master"] == engine.split("=", 1)[1]
    assert run.data.metrics["accuracy"] > 0.9
    assert client.get_model_version(MODEL, "1").run_id == run_id

    scored_path = tmp_path / "scored.parquet"
    predicted = run_cli("predict", engine, f"tracking.uri={store}",
                       f"predict.input={_lab_parquet(tmp_path / 'in.parquet')}",
                       f"predict.output={scored_path}", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stdout[-2000:] + predicted.stderr[-3000:]
    assert "scored 2 rows" in predicted.stdout
    import pandas as pd

    scored = pd.read_parquet(scored_path)
    assert list(scored["prediction"]) == [1.0, 0.0]  # the lab's request is a Gentoo
    assert list(scored["predicted_label"]) == ["Gentoo", "Adelie"]


def test_standalone_cluster_trains_registers_and_predicts(standalone: str, tmp_path: Path
                                                          ) -> None:
    train_and_predict(f"spark.master={standalone}", tmp_path)


def test_spark_connect_trains_registers_and_predicts(connect: str, tmp_path: Path) -> None:
    train_and_predict(f"spark.remote={connect}", tmp_path)


def test_spark_connect_unreachable_is_one_line(tmp_path: Path) -> None:
    """No server on the port: a user error naming the URL, not a traceback or a hang."""
    url = f"sc://127.0.0.1:{servers.free_port()}"
    proc = run_cli(f"spark.remote={url}", f"tracking.uri=sqlite:///{tmp_path / 'm.db'}",
                  cwd=tmp_path, timeout=180)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert url in proc.stderr
    assert "Traceback" not in proc.stderr
