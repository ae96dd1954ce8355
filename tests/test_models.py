"""The model zoo: every classifier trains with its defaults, is logged to MLflow, loads back and
predicts the lab's request; OneVsRest wrapping, MLP layer sizes, and the class allowlist."""

from __future__ import annotations

from typing import Any

import mlflow
import mlflow.spark
import pytest

from runner import data, train
from runner.data import DataSpec
from runner.errors import RunnerError
from runner.pipeline import models, stages
from tests.conftest import LAB_REQUEST, make_config, repo_root

MODELS = sorted(p.stem for p in (repo_root() / "runner" / "conf" / "model").glob("*.yaml"))
BINARY_ONLY = {"gbt", "linear_svc", "fm"}
FAST = ["evaluation.train_metrics=false", "evaluation.confusion_matrix=false"]


def request_frame(spark: Any, cfg: Any, records: list[dict[str, Any]] | None = None) -> Any:
    """The lab's request (or ``records``) as a DataFrame typed like data.schema, label left out."""
    from pyspark.sql import functions as F

    columns = [c for c in cfg.data.schema if c != cfg.data.label]
    rows = records or LAB_REQUEST["dataframe_records"]
    text = [tuple(None if r.get(c) is None else str(r[c]) for c in columns) for r in rows]
    frame = spark.createDataFrame(text,
                                  ", ".join(f"{c} string" for c in columns))
    return frame.select([F.col(c).cast(cfg.data.schema[c]).alias(c) for c in columns])


def train_log_load(cfg_factory: Any, spark: Any, overrides: list[str]
                   ) -> tuple[train.TrainResult, Any, Any]:
    """Run the full train path into the tmp MLflow store and load the logged model back."""
    cfg = cfg_factory(overrides)
    result = train.run(cfg, overrides)
    assert result.model is not None, "the run logged no model"
    return result, mlflow.spark.load_model(result.model.uri), cfg


def predictions(model: Any, frame: Any) -> list[float]:
    return [row.prediction for row in model.transform(frame).select("prediction").collect()]


@pytest.mark.parametrize("name", MODELS)
def test_model_defaults_train_log_load_and_predict(name: str, cfg_factory: Any, spark: Any) -> None:
    overrides = [f"model={name}", *FAST]
    result, loaded, cfg = train_log_load(cfg_factory, spark, overrides)
    assert result.metrics["accuracy"] >= 0.85, result.metrics
    assert predictions(loaded, request_frame(spark, cfg)) == [1.0]  # a Gentoo
    tags = mlflow.get_run(result.run_id).data.tags
    assert tags[models.ONE_VS_REST_TAG] == str(name in BINARY_ONLY).lower()


def _pipeline(spark: Any, overrides: list[str]) -> tuple[Any, dict[str, Any]]:
    cfg = make_config(overrides)
    spec = DataSpec.resolve(cfg.data)
    train.check(cfg, spec)
    return train.build_pipeline(cfg, spec, data.load(spark, spec))


@pytest.mark.parametrize(("overrides", "layers"), [
    ([], [5, 8, 3]),
    (["model.hidden_layers=[4,4]"], [5, 4, 4, 3]),
    (["features=onehot_standard"], [7, 8, 3]),  # 3 one-hot islands + 4 measurements
    (["model.layers=[5,6,3]"], [5, 6, 3]),
])
def test_mlp_layers_follow_the_features_and_classes(spark: Any, overrides: list[str],
                                                    layers: list[int]) -> None:
    pipeline, params = _pipeline(spark, ["model=mlp", *overrides])
    assert pipeline.getStages()[-1].getLayers() == layers
    assert params["model.layers"] == layers


def test_binary_only_models_are_wrapped_for_three_classes(spark: Any) -> None:
    from pyspark.ml.classification import GBTClassifier, OneVsRest

    pipeline, params = _pipeline(spark, ["model=gbt"])
    wrapped = pipeline.getStages()[-1]
    assert isinstance(wrapped, OneVsRest)
    assert isinstance(wrapped.getClassifier(), GBTClassifier)
    assert (wrapped.getFeaturesCol(), wrapped.getLabelCol()) == ("features", "Species")
    # params are logged under the configured classifier's names, seed from the run's seed
    assert (params["model.maxIter"], params["model.seed"]) == (20, 42)
    cfg = make_config(["model=gbt"])
    assert isinstance(models.build(cfg.model, "features", "Species", n_classes=2), GBTClassifier)
    assert models.tags(cfg.model, 2) == {models.ONE_VS_REST_TAG: "false"}


def test_mlp_without_data_cannot_size_its_layers() -> None:
    with pytest.raises(RunnerError, match="needs the feature vector size"):
        models.build(make_config(["model=mlp"]).model, "features", "Species", 3)


@pytest.mark.parametrize("target", [
    "os.system", "builtins.eval", "pyspark.ml.feature.os", "pyspark.ml.feature.",
    "pyspark.ml.feature.StringIndexer.__init__", "pyspark.ml.feature._StringIndexerParams",
    "pyspark.ml.feature.JavaTransformer", "pyspark.ml.feature.SQLTransformer",
    "pyspark.ml.feature.StringIndexerModel", "pyspark.ml.classification.Classifier",
    "pyspark.ml.classification.OneVsRestModel", "pyspark.ml.Pipeline", "pyspark.ml.feature.Param",
    "", ".", 42, None, ["pyspark.ml.feature.StringIndexer"], {"a": 1},
])
def test_only_public_concrete_stage_classes_are_allowed(target: Any) -> None:
    with pytest.raises(RunnerError, match="is not allowed"):
        stages.locate(target, "model")


def test_allowed_classes_are_located() -> None:
    from pyspark.ml.classification import FMClassifier
    from pyspark.ml.feature import Imputer

    assert stages.locate("pyspark.ml.classification.FMClassifier", "model") is FMClassifier
    assert stages.locate("pyspark.ml.feature.Imputer", "x") is Imputer


def test_null_params_mean_sparks_default() -> None:
    spec = {"_target_": "pyspark.ml.classification.NaiveBayes", "thresholds": None}
    assert stages.spark_params(spec) == {}
