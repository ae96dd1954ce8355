"""The compiled scorer against Spark's own ``transform``: same predictions, probabilities and raw
predictions (within 1e-9), and the same rows rejected or skipped, on the penguins data and on
adversarial rows (unseen categories, NULL, NaN, out-of-range and infinite values)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from runner.compiled import ScoringError, UnsupportedStage, compile_pipeline

NUMERIC = ["CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"]
SCHEMA = {"Island": "string", **{c: "double" for c in NUMERIC}, "Size": "string",
          "Const": "double", "Year": "int"}
LABELS = {"Species": "double", "Gentoo": "double"}
TOLERANCE = 1e-9


def _penguins() -> list[dict[str, Any]]:
    """The csv plus a second string column, a constant column and an integer column."""
    df = pd.read_csv(Path(__file__).parents[1] / "runner" / "resources" / "penguins.csv")
    df = df.astype(object).where(df.notna(), None)
    rows = []
    for i, r in enumerate(df.to_dict("records")):
        mass = r["BodyMass"]
        rows.append({**r, "Size": None if mass is None else ("big" if mass > 4200 else "small"),
                     "Const": 1.0, "Year": 2007 + i % 3, "Species": float(r["Species"]),
                     "Gentoo": float(r["Species"] == 1)})
    return rows


PENGUINS = _penguins()
COMPLETE = [r for r in PENGUINS if all(v is not None for v in r.values())]


def _adversarial() -> list[dict[str, Any]]:
    """One change at a time to a valid row: every bad value a request can carry."""
    base = dict(COMPLETE[200])
    rows = [base]
    for column, sql_type in SCHEMA.items():
        bad: list[Any] = ["Atlantis", None, ""] if sql_type == "string" else [
            None, math.nan, 1e4, -1e4, math.inf, -math.inf, 0.0]
        if sql_type == "int":
            bad = [None, 0, 3000]
        rows += [{**base, column: value} for value in bad]
    return rows


ADVERSARIAL = _adversarial()


def _spark_df(spark, rows: list[dict[str, Any]]):
    ddl = ", ".join(f"{c} {t}" for c, t in {"id": "long", **SCHEMA, **LABELS}.items())
    return spark.createDataFrame([(i, *(r[c] for c in [*SCHEMA, *LABELS]))
                                  for i, r in enumerate(rows)], ddl)


def _columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {c: [r[c] for r in rows] for c in names}


def _spark_scores(model, spark, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    out = model.transform(_spark_df(spark, rows))
    names = [c for c in ("id", "prediction", "probability", "rawPrediction") if c in out.columns]
    collected = out.select(*names).orderBy("id").collect()
    result = {"kept": np.array([r["id"] for r in collected], dtype=np.int64),
              "prediction": np.array([r["prediction"] for r in collected], dtype=np.float64)}
    for name in ("probability", "rawPrediction"):
        if name in names:
            result[name] = np.array([r[name].toArray() for r in collected]).reshape(
                len(collected), -1)
    return result


def _spark_rejects(model, spark, row: dict[str, Any]) -> bool:
    try:
        model.transform(_spark_df(spark, [row])).collect()
    except Exception:
        return True
    return False


def assert_parity(model, spark, rows: list[dict[str, Any]]) -> None:
    """The rows the compiled scorer accepts score as in Spark (one Spark job), and for each
    reason the scorer gives for rejecting rows, Spark rejects a row rejected for that reason."""
    compiled = compile_pipeline(model, SCHEMA)
    accepted, rejected = [], {}
    for row in rows:
        try:
            compiled.predict_columns(_columns([row], list(compiled.inputs)))
            accepted.append(row)
        except ScoringError as exc:
            rejected.setdefault(exc.reason, row)
    for reason, row in rejected.items():
        assert _spark_rejects(model, spark, row), f"Spark accepts {row} (scorer: {reason})"
    ours = compiled.predict_columns(_columns(accepted, list(compiled.inputs)))
    theirs = _spark_scores(model, spark, accepted)
    np.testing.assert_array_equal(ours["kept"], theirs["kept"])
    assert ("probability" in ours) == ("probability" in theirs)
    for name in ("prediction", "probability", "rawPrediction"):
        if name in theirs:
            _assert_close(name, ours[name], theirs[name], [accepted[i] for i in ours["kept"]])


def _assert_close(name: str, ours: np.ndarray, theirs: np.ndarray, rows: list[dict]) -> None:
    """Equal within TOLERANCE (NaN equal to NaN); the message shows the first differing rows."""
    tol = 0.0 if name == "prediction" else TOLERANCE
    close = np.isclose(ours, theirs, rtol=tol, atol=tol, equal_nan=True)
    bad = np.flatnonzero(~close.reshape(len(rows), -1).all(axis=1))
    details = [f"{rows[i]}: ours {ours[i]} Spark {theirs[i]}" for i in bad[:3]]
    assert not len(bad), f"{name} differs on {len(bad)} rows:\n" + "\n".join(details)


@pytest.fixture(scope="module")
def train(spark):
    """Fit a Pipeline of the given stages on the complete penguins rows (or all rows)."""

    def fit(stages: list[Any], rows: list[dict[str, Any]] = COMPLETE):
        from pyspark.ml import Pipeline

        return Pipeline(stages=stages).fit(_spark_df(spark, rows))

    return fit


def lab_features(handle_invalid: str = "error") -> list[Any]:
    """The lab's stages: StringIndexer -> VectorAssembler -> MinMaxScaler -> VectorAssembler."""
    from pyspark.ml.feature import MinMaxScaler, StringIndexer, VectorAssembler

    return [StringIndexer(inputCol="Island", outputCol="IslandIdx", handleInvalid=handle_invalid),
            VectorAssembler(inputCols=NUMERIC, outputCol="numericFeatures",
                            handleInvalid=handle_invalid),
            MinMaxScaler(inputCol="numericFeatures", outputCol="normalizedFeatures"),
            VectorAssembler(inputCols=["IslandIdx", "normalizedFeatures"], outputCol="features",
                            handleInvalid=handle_invalid)]


def _classifiers() -> dict[str, Callable[[], Any]]:
    from pyspark.ml import classification as c

    species = {"labelCol": "Species"}
    gentoo = {"labelCol": "Gentoo"}
    return {
        "lr_multinomial": lambda: c.LogisticRegression(maxIter=50, **species),
        "lr_binary": lambda: c.LogisticRegression(maxIter=50, regParam=0.01, threshold=0.4,
                                                  **gentoo),
        "lr_thresholds": lambda: c.LogisticRegression(maxIter=20, thresholds=[0.5, 0.2, 0.3],
                                                      **species),
        "ovr_linear_svc": lambda: c.OneVsRest(classifier=c.LinearSVC(maxIter=20), **species),
        "linear_svc": lambda: c.LinearSVC(maxIter=20, threshold=0.1, **gentoo),
        "decision_tree": lambda: c.DecisionTreeClassifier(maxDepth=5, **species),
        "random_forest": lambda: c.RandomForestClassifier(numTrees=8, maxDepth=4, seed=1,
                                                          **species),
        "ovr_gbt": lambda: c.OneVsRest(classifier=c.GBTClassifier(maxIter=4, maxDepth=3),
                                       **species),
        "gbt_binary": lambda: c.GBTClassifier(maxIter=5, maxDepth=3, **gentoo),
        "nb_gaussian": lambda: c.NaiveBayes(modelType="gaussian", **species),
        "nb_multinomial": lambda: c.NaiveBayes(modelType="multinomial", **species),
        "nb_complement": lambda: c.NaiveBayes(modelType="complement", **species),
        "mlp": lambda: c.MultilayerPerceptronClassifier(layers=[5, 6, 3], maxIter=40, seed=1,
                                                        **species),
        "fm_binary": lambda: c.FMClassifier(maxIter=20, factorSize=3, seed=1, **gentoo),
        "ovr_fm": lambda: c.OneVsRest(classifier=c.FMClassifier(maxIter=10, factorSize=2, seed=1),
                                      **species),
    }


# OneVsRest fits one model per class and the MLP iterates: each takes 15-40 s on a loaded 2-core box
SLOW = {"ovr_linear_svc", "ovr_gbt", "ovr_fm", "mlp"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in _classifiers()])
def test_lab_pipeline_with_each_classifier(spark, train, name):
    model = train([*lab_features(), _classifiers()[name]()])
    assert_parity(model, spark, COMPLETE + ADVERSARIAL)


def _feature_pipelines() -> dict[str, Callable[[], list[Any]]]:
    from pyspark.ml import classification as c
    from pyspark.ml import feature as f

    def lr() -> Any:
        return c.LogisticRegression(maxIter=10, labelCol="Species")

    def tree() -> Any:
        return c.DecisionTreeClassifier(maxDepth=4, labelCol="Species")

    return {
        "lab_keep": lambda: [*lab_features("keep"), lr()],
        "lab_skip": lambda: [*lab_features("skip"), tree()],
        "indexer_multi_column": lambda: [
            f.StringIndexer(inputCols=["Island", "Size"], outputCols=["i", "s"],
                            stringOrderType="frequencyAsc", handleInvalid="keep"),
            f.StringIndexer(inputCol="Year", outputCol="y", stringOrderType="alphabetDesc"),
            f.VectorAssembler(inputCols=["i", "s", "y", "FlipperLength"], outputCol="features"),
            tree()],
        "one_hot_poly_max_abs": lambda: [
            f.StringIndexer(inputCols=["Island", "Size"], outputCols=["i", "s"],
                            handleInvalid="keep"),
            f.OneHotEncoder(inputCols=["i", "s"], outputCols=["iv", "sv"], handleInvalid="keep"),
            f.VectorAssembler(inputCols=["CulmenLength", "CulmenDepth"], outputCol="cd"),
            f.PolynomialExpansion(inputCol="cd", outputCol="poly", degree=3),
            f.VectorAssembler(inputCols=["iv", "sv", "poly"], outputCol="raw"),
            f.MaxAbsScaler(inputCol="raw", outputCol="features"), lr()],
        "one_hot_drop_last_error": lambda: [
            f.StringIndexer(inputCol="Island", outputCol="i", handleInvalid="keep"),
            f.OneHotEncoder(inputCol="i", outputCol="iv", dropLast=True),
            f.VectorAssembler(inputCols=["iv", "BodyMass"], outputCol="features"), lr()],
        "imputer_standard_scaler": lambda: [
            f.Imputer(inputCols=NUMERIC, outputCols=[f"{c}_i" for c in NUMERIC],
                      strategy="median"),
            f.Imputer(inputCols=["Year"], outputCols=["Year_i"], strategy="mean",
                      missingValue=2008.0),
            f.VectorAssembler(inputCols=[*[f"{c}_i" for c in NUMERIC], "Const", "Year_i"],
                              outputCol="raw"),
            f.StandardScaler(inputCol="raw", outputCol="features", withMean=True), lr()],
        "imputer_mode_std_only": lambda: [
            f.Imputer(inputCols=NUMERIC, outputCols=[f"{c}_i" for c in NUMERIC], strategy="mode"),
            f.VectorAssembler(inputCols=[f"{c}_i" for c in NUMERIC], outputCol="raw"),
            f.StandardScaler(inputCol="raw", outputCol="features"), lr()],
        "constant_column_min_max": lambda: [
            f.VectorAssembler(inputCols=[*NUMERIC, "Const"], outputCol="raw",
                              handleInvalid="keep"),
            f.MinMaxScaler(inputCol="raw", outputCol="features", min=-1.0, max=2.0), lr()],
        "bucketizers_to_tree": lambda: [
            f.Bucketizer(inputCols=["FlipperLength", "BodyMass"], outputCols=["fb", "bb"],
                         splitsArray=[[-math.inf, 190, 205, math.inf], [2500, 3500, 4500, 6500]],
                         handleInvalid="keep"),
            f.QuantileDiscretizer(inputCol="CulmenLength", outputCol="cb", numBuckets=4,
                                  handleInvalid="skip"),
            f.VectorAssembler(inputCols=["fb", "bb", "cb", "CulmenDepth"], outputCol="features",
                              handleInvalid="keep"),
            tree()],
        "bucketizer_error_one_hot_bernoulli": lambda: [
            f.StringIndexer(inputCol="Island", outputCol="i"),
            f.OneHotEncoder(inputCol="i", outputCol="iv", dropLast=False),
            f.Bucketizer(inputCol="FlipperLength", outputCol="fb",
                         splits=[-math.inf, 200, math.inf]),
            f.VectorAssembler(inputCols=["iv", "fb"], outputCol="features"),
            c.NaiveBayes(modelType="bernoulli", labelCol="Species")],
    }


@pytest.mark.parametrize("name", list(_feature_pipelines()))
def test_feature_stages(spark, train, name):
    rows = PENGUINS if name.startswith("imputer") else COMPLETE
    model = train(_feature_pipelines()[name](), rows)
    assert_parity(model, spark, rows + ADVERSARIAL)


def test_unsupported_stage_is_named(train):
    from pyspark.ml.feature import Normalizer

    model = train([*lab_features(), Normalizer(inputCol="features", outputCol="n")])
    with pytest.raises(UnsupportedStage, match="Normalizer"):
        compile_pipeline(model, SCHEMA)
