"""Labels of any type (issue 14): string and non-index numeric labels are indexed inside the
pipeline and answered as the original values; binary metrics equal Spark's evaluators.

Data sets come from scikit-learn's bundled files (iris, breast_cancer), written as CSV here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import DictConfig, open_dict

from runner import data, train
from runner.data import DataSpec
from runner.errors import RunnerError
from runner.pipeline import evaluate
from tests.conftest import make_config

IRIS_NAMES = ["setosa", "versicolor", "virginica"]
BINARY = ["areaUnderROC", "areaUnderPR", "logLoss", "precisionByLabel", "recallByLabel",
          "fMeasureByLabel"]


def write_csv(path: Path, name: str, labels: str) -> tuple[list[str], str]:
    """A bundled scikit-learn data set as CSV with its label as ``labels`` says: ``names``
    (the class names), ``shifted`` (1..k) or ``signs`` (-1/1, two classes). Returns the feature
    columns and the label column."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_").replace("(", "")
                               .replace(")", ""))
    features = [c for c in frame.columns if c != "target"]
    target = frame.pop("target")
    frame["y"] = {"names": target.map(dict(enumerate(bunch.target_names))),
                  "shifted": target + 1, "signs": target * 2 - 1}[labels]
    frame.to_csv(path, index=False)
    return features, "y"


def configure(cfg: DictConfig, path: Path, features: list[str], label: str,
              label_type: str) -> DictConfig:
    """``cfg`` reading ``path``: every feature a double, assembled into the feature vector."""
    with open_dict(cfg):
        cfg.data.path = str(path)
        cfg.data.schema = {**{c: "double" for c in features}, label: label_type}
        cfg.data.label = label
        cfg.data.class_names = []
        cfg.features.stages = {"assembler": {
            "_target_": "pyspark.ml.feature.VectorAssembler", "inputCols": features,
            "outputCol": "features"}}
    return cfg


@pytest.mark.parametrize(("labels", "label_type", "names"), [
    ("names", "string", IRIS_NAMES),
    ("shifted", "int", ["1", "2", "3"]),  # 50 rows each: frequency ties go alphabetically
])
def test_labels_are_answered_as_given(spark, cfg_factory, tmp_path: Path, labels: str,
                                      label_type: str, names: list[str]) -> None:
    """A run on iris labelled 'setosa'... (or 1..3) logs the class names from the data, and
    the logged model's pyfunc and runner serve's scorer answer those values."""
    import mlflow
    import pandas as pd

    from runner import serving, tracking

    features, label = write_csv(tmp_path / "iris.csv", "iris", labels)
    cfg = configure(cfg_factory(["model.maxIter=50", "model.regParam=0.01",
                                 "evaluation.confusion_matrix=false"]),
                    tmp_path / "iris.csv", features, label, label_type)
    result = train.run(cfg, [])
    assert result.metrics["accuracy"] > 0.8
    assert tracking.run_class_names(result.run_id) == names
    rows = pd.read_csv(tmp_path / "iris.csv").iloc[[0, 50, 100]]  # one of each class
    expected = [str(v) for v in rows[label]]
    assert result.model is not None
    pyfunc = mlflow.pyfunc.load_model(result.model.uri)
    answered = pyfunc.predict(rows[features], params={"probabilities": True})
    assert list(answered["label"]) == expected

    with open_dict(cfg):
        cfg.serving.model_uri = f"models:/{result.model.registered_name}/{result.model.version}"
    app, _ = serving.load_app(cfg)
    body = json.dumps({"dataframe_records": rows[features].to_dict("records")}).encode()
    response = app.handle("POST", "/invocations", "labels=true", "application/json", body)
    assert response.status == 200
    assert [p["label"] for p in json.loads(response.body)["predictions"]] == expected


def _fitted(spark, cfg: DictConfig) -> tuple[DataSpec, data.Dataset, object]:
    spec = DataSpec.resolve(cfg.data)
    dataset = data.load(spark, spec)
    spec = train.with_class_names(spec, dataset)
    pipeline, _ = train.build_pipeline(cfg, spec, dataset)
    return spec, dataset, pipeline.fit(dataset.train)


@pytest.mark.parametrize(("name", "labels", "overrides", "names"), [
    ("breast_cancer", "names", [], BINARY),
    ("breast_cancer", "signs", ["model=random_forest", "data.positive_class='1'"], BINARY),
    ("iris", "names", ["data.positive_class=virginica"], BINARY[2:]),
])
def test_metrics_equal_spark_evaluators(spark, cfg_factory, tmp_path: Path, name: str,
                                        labels: str, overrides: list[str],
                                        names: list[str]) -> None:
    """areaUnderROC/PR, logLoss and the positive class's precision/recall/F1 from a Spark job
    and from the compiled scorer on the driver equal Spark's evaluators on the same model
    (random forest: many tied scores and positive class index 0; iris: multiclass logLoss)."""
    from pyspark.ml import PipelineModel
    from pyspark.ml.evaluation import (
        BinaryClassificationEvaluator,
        MulticlassClassificationEvaluator,
    )
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.sql import functions as F

    from runner.compiled import compile_pipeline

    features, label = write_csv(tmp_path / "d.csv", name, labels)
    cfg = configure(cfg_factory(overrides), tmp_path / "d.csv", features, label,
                    "int" if labels == "signs" else "string")
    spec, dataset, model = _fitted(spark, cfg)
    index_col = train.label_column(spec, dataset)
    positive = train.positive_index(spec, dataset)
    predictions = model.transform(dataset.test)
    # BinaryClassificationEvaluator's positive class is label 1 scored by rawPrediction[1]:
    # for another positive class it gets that class as 1 and its score in place 1
    raw = vector_to_array(F.col("rawPrediction"))
    as_binary = predictions.select(
        (F.col(index_col) == positive).cast("double").alias("positive"),
        array_to_vector(F.array(raw[1 - positive], raw[positive])).alias("rawPrediction"))
    spark_values = {}
    for metric in names:
        if metric in evaluate.CURVE_METRICS:
            evaluator = BinaryClassificationEvaluator(labelCol="positive", metricName=metric)
            spark_values[metric] = evaluator.evaluate(as_binary)
        else:
            spark_values[metric] = MulticlassClassificationEvaluator(
                labelCol=index_col, metricName=metric, metricLabel=float(positive)
            ).evaluate(predictions)

    featurized = PipelineModel(stages=model.stages[:-1]).transform(dataset.test)
    on_spark, _ = evaluate.evaluate_splits(model.stages[-1], {"test": featurized}, index_col,
                                           names, positive)["test"]
    scorer = compile_pipeline(model, {c: "double" for c in features})
    columns = dataset.test.toPandas().to_dict("list")
    on_driver, _ = evaluate.evaluate_columns(scorer, {"test": columns}, label, names, positive,
                                             dataset.label_values)["test"]
    for metric in names:
        assert on_spark[metric] == pytest.approx(spark_values[metric], abs=1e-9), metric
        assert on_driver[metric] == pytest.approx(spark_values[metric], abs=1e-9), metric


def test_binary_metrics_are_logged_and_can_be_primary(spark, cfg_factory, tmp_path) -> None:
    """Two-class data logs the binary metrics by default; areaUnderROC is primary without
    being listed in evaluation.metrics; LinearSVC (no probabilities) logs no logLoss."""
    features, label = write_csv(tmp_path / "bc.csv", "breast_cancer", "names")
    cfg = configure(cfg_factory(["evaluation.primary=areaUnderROC", "tracking.log_models=none",
                                 "evaluation.confusion_matrix=false", "model=linear_svc"]),
                    tmp_path / "bc.csv", features, label, "string")
    result = train.run(cfg, [])
    assert result.primary == "areaUnderROC"
    assert set(result.metrics) == {"accuracy", "weightedRecall", "weightedPrecision", "f1",
                                   *BINARY} - {"logLoss"}
    assert 0.9 < result.value <= 1.0


@pytest.mark.parametrize(("overrides", "message"), [
    (["evaluation.primary=areaUnderROC"],
     "evaluation: areaUnderROC is a two-class metric but label 'Species' has 3 classes"),
    (["evaluation.primary=logLoss", "model=linear_svc"],
     "evaluation: logLoss needs class probabilities, which OneVsRest does not give"),
    (["data.positive_class=Emperor"],
     "data.positive_class='Emperor' is not a class of label 'Species': one of ['Adelie'"),
])
def test_metric_the_data_or_model_cannot_give_is_one_line(spark, cfg_factory, overrides,
                                                         message: str) -> None:
    """On penguins (3 classes), before any fit."""
    cfg = cfg_factory([*overrides, "tracking.log_models=none"])
    with pytest.raises(RunnerError) as error:
        train.run(cfg, [])
    assert "\n" not in str(error.value)
    assert message in str(error.value)


def test_log_loss_as_primary_needs_direction_minimize() -> None:
    """The sweeper's direction check knows logLoss is minimized (as hammingLoss)."""
    from hydra_plugins.runner_optuna_sweeper.optuna_sweeper import OptunaSweeper

    def sweeper(direction: str) -> OptunaSweeper:
        made = OptunaSweeper(None, direction, None, None, False, 2, 1, 0.0, None)
        made.config = make_config(["evaluation.primary=logLoss"])
        return made

    with pytest.raises(RunnerError, match="set hydra.sweeper.direction=minimize"):
        sweeper("maximize")._validate()
    sweeper("minimize")._validate()
    assert "logLoss" in train.LOWER_IS_BETTER


@pytest.mark.parametrize(("labels", "label_type", "given", "model"), [
    ("names", "string", ["setosa", "unheard-of", None], "logistic_regression"),
    # LinearSVC on 3 classes is a OneVsRest: another transform path than a single classifier
    ("shifted", "int", [1, 9, None], "linear_svc"),
])
def test_predict_keeps_a_label_value_unseen_in_training(spark, cfg_factory, tmp_path: Path,
                                                        labels: str, label_type: str,
                                                        given: list, model: str) -> None:
    """An input carrying the label column, one value never seen in training and one null: the
    label's indexer (handleInvalid=error) does not read it, every row is scored, the label is
    kept as given."""
    import pandas as pd

    from runner import predict

    features, label = write_csv(tmp_path / "iris.csv", "iris", labels)
    cfg = configure(cfg_factory([f"model={model}", "model.maxIter=20", "model.regParam=0.01",
                                 "evaluation.confusion_matrix=false"]),
                    tmp_path / "iris.csv", features, label, label_type)
    result = train.run(cfg, [])
    assert result.model is not None
    rows = pd.read_csv(tmp_path / "iris.csv").iloc[[0, 50, 100]]
    rows[label] = pd.Series(given, index=rows.index, dtype=object)
    rows.to_csv(tmp_path / "new.csv", index=False)
    with open_dict(cfg):
        cfg.predict.model_uri = f"models:/{result.model.registered_name}/{result.model.version}"
        cfg.predict.input = str(tmp_path / "new.csv")
        cfg.predict.output = str(tmp_path / "scored.parquet")
    assert predict.run(cfg).rows == 3
    scored = spark.read.parquet(str(tmp_path / "scored.parquet")).toPandas()
    assert list(scored.columns[:len(features) + 1]) == [*features, label]
    assert sorted(scored[label].fillna("-").astype(str)) == sorted(str(v or "-") for v in given)
    assert len(scored["predicted_label"].unique()) == 3
