"""One training run against a real Spark session and a real sqlite MLflow store."""

from __future__ import annotations

import json

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from runner import reproduce, train
from runner.errors import RunnerError
from tests.conftest import LAB_REQUEST


@pytest.fixture
def lab_run(spark, cfg_factory):
    cfg = cfg_factory()
    return cfg, train.run(cfg, ["tracking.run_name=lab"])


def test_run_logs_params_metrics_artifacts_and_tags(lab_run) -> None:
    _, result = lab_run
    run = mlflow.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["model.maxIter"] == "5"
    assert params["model.regParam"] == "0.5"
    assert params["features.scaler.min"] == "0.0"  # default params of feature stages too
    assert params["features.island_indexer.handleInvalid"] == "error"
    for name in ("accuracy", "weightedRecall", "weightedPrecision", "f1"):
        assert 0.9 <= run.data.metrics[name] <= 1.0
        assert f"train_{name}" in run.data.metrics
    tags = run.data.tags
    assert tags["runner.spark_master"].startswith("local")
    assert {"runner.version", "runner.pyspark_version", "runner.mlflow_version"} <= set(tags)
    artifacts = {a.path for a in MlflowClient().list_artifacts(result.run_id)}
    assert {"config.yaml", "overrides.yaml", "confusion_matrix.png"} <= artifacts
    assert yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{result.run_id}/overrides.yaml")) == [
        "tracking.run_name=lab"
    ]
    dataset = run.inputs.dataset_inputs[0].dataset
    assert dataset.name == "penguins"
    assert len(dataset.digest) == 24


def test_git_commit_and_dirty_flag_are_tagged_inside_a_repo(monkeypatch) -> None:
    from runner import tracking
    from tests.conftest import repo_root

    monkeypatch.chdir(repo_root())
    tags = tracking.standard_tags("local[2]")
    assert len(tags["mlflow.source.git.commit"]) == 40
    assert tags["runner.git_dirty"] in ("true", "false")


def test_model_is_registered_with_a_signature_that_takes_the_lab_request(lab_run) -> None:
    from mlflow.pyfunc import scoring_server

    _, result = lab_run
    assert result.model is not None
    assert result.model.version == "1"
    _assert_registered_after_the_run_finished(result)
    uri = f"models:/{result.model.registered_name}/{result.model.version}"
    spark_model = mlflow.spark.load_model(uri)
    assert type(spark_model).__name__ == "PipelineModel"
    model = mlflow.pyfunc.load_model(uri)
    # the scoring server's own request path: JSON integers for double columns included
    response = scoring_server.invocations(
        json.dumps(LAB_REQUEST), "application/json", model, model.metadata.get_input_schema()
    )
    assert response.status == 200, response.response
    assert json.loads(response.response)["predictions"] in ([1.0], [1], [{"prediction": 1.0}])


def test_same_config_and_seed_give_identical_metrics(spark, cfg_factory, lab_run) -> None:
    cfg, first = lab_run
    again = train.run(OmegaConf.merge(cfg, {"tracking": {"log_models": "none"}}), [])
    assert again.metrics == first.metrics


def test_reproduce_reruns_from_mlflow_and_reports_a_match(lab_run, capsys) -> None:
    _, result = lab_run
    assert reproduce.reproduce(result.run_id, []) is True
    out = capsys.readouterr().out
    assert "metrics match" in out
    runs = mlflow.search_runs(filter_string=f"tags.`runner.reproduced_from` = '{result.run_id}'")
    assert len(runs) == 1


def test_reproduce_unknown_run_is_a_user_error(mlflow_uri) -> None:
    with pytest.raises(RunnerError, match="run 0123"):
        reproduce.reproduce("0123", [])


def test_failure_during_fit_marks_the_run_failed(spark, cfg_factory) -> None:
    cfg = cfg_factory(["model.family=binomial", "tracking.run_name=broken"])  # 3 classes
    with pytest.raises(Exception, match="Binomial family"):
        train.run(cfg, [])
    runs = mlflow.search_runs(filter_string="attributes.run_name = 'broken'")
    assert list(runs["status"]) == ["FAILED"]
    assert "Binomial family" in runs["tags.runner.error"][0]



def _assert_registered_after_the_run_finished(result: train.TrainResult) -> None:
    """Registration waits for the run to end FINISHED with everything logged (issue 13): a
    version never points at a run that could still fail; the alias moves after that."""
    from mlflow import MlflowClient

    assert result.model is not None
    client = MlflowClient()
    name = result.model.registered_name
    version = client.get_model_version(name, result.model.version)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert version.creation_timestamp >= run.info.end_time
    assert version.run_id == result.run_id
    assert client.get_model_version_by_alias(name, "champion").version == version.version
