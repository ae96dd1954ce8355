"""Compile a fitted pyspark.ml PipelineModel into a CompiledPipeline (needs the live JVM model).

Fitted values come from each model's Python API; tree nodes are read through py4j from
``_java_obj.rootNode()`` since the Python API does not expose them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from runner.compat import pyspark as compat_pyspark
from runner.compiled import classifiers as cls
from runner.compiled import features as feat
from runner.compiled import trees
from runner.compiled.frame import Stage, UnsupportedStage
from runner.compiled.pipeline import STRING_TYPES, CompiledPipeline


def compile_pipeline(model: Any, input_schema: dict[str, str],
                     class_names: list[str] | None = None) -> CompiledPipeline:
    """Compile ``model`` whose raw inputs have the Spark SQL types in ``input_schema``.

    Raises:
        UnsupportedStage: a stage (or a setting of it) with no exact numpy equivalent, or a
            pipeline that does not end with a classifier.
    """
    schema = {c: t.lower() for c, t in input_schema.items()}
    stages = [_compile_stage(s, schema) for s in _flatten(model) if not _skipped(s, schema)]
    if not stages or not isinstance(stages[-1], cls.Classifier):
        raise UnsupportedStage("PipelineModel", "the last stage must be a classifier")
    inputs = _required_inputs(stages, schema)
    last = stages[-1]
    return CompiledPipeline(inputs, stages, last.prediction_col, last.raw_col,
                            last.probability_col, list(class_names) if class_names else None)


def _skipped(stage: Any, schema: dict[str, str]) -> bool:
    """A StringIndexerModel none of whose input columns is an input: Spark skips it when its
    input column is absent, as the label's indexer is when scoring rows without the label."""
    if type(stage).__name__ != "StringIndexerModel":
        return False
    return not set(_in_out(stage)[0]) & set(schema)


def _flatten(model: Any) -> list[Any]:
    if type(model).__name__ == "PipelineModel":
        return [s for stage in model.stages for s in _flatten(stage)]
    return [model]


def _required_inputs(stages: list[Stage], schema: dict[str, str]) -> dict[str, str]:
    produced: set[str] = set()
    inputs: dict[str, str] = {}
    for stage in stages:
        for column in _consumes(stage):
            if column in produced or column in inputs:
                continue
            if column not in schema:
                raise UnsupportedStage(type(stage).__name__,
                                       f"input column {column!r} is not in the input schema")
            inputs[column] = schema[column]
        produced.update(_produces(stage))
    return inputs


def _consumes(stage: Stage) -> list[str]:
    if isinstance(stage, cls.Classifier):
        return [stage.features]
    return list(getattr(stage, "inputs", None) or [stage.input])  # type: ignore[attr-defined]


def _produces(stage: Stage) -> list[str]:
    if isinstance(stage, cls.Classifier):
        return [stage.prediction_col, stage.raw_col, stage.probability_col]
    return list(getattr(stage, "outputs", None) or [stage.output])  # type: ignore[attr-defined]


def _compile_stage(stage: Any, schema: dict[str, str]) -> Stage:
    name = type(stage).__name__
    compiler = _COMPILERS.get(name)
    if compiler is None:
        raise UnsupportedStage(name)
    return compiler(stage, schema)


def _in_out(stage: Any) -> tuple[list[str], list[str]]:
    """(inputCols, outputCols), or the single inputCol/outputCol as one-element lists."""
    if stage.hasParam("inputCols") and stage.isSet(stage.inputCols):
        return list(stage.getInputCols()), list(stage.getOutputCols())
    return [stage.getInputCol()], [stage.getOutputCol()]


def _string_indexer(stage: Any, schema: dict[str, str]) -> Stage:
    inputs, outputs = _in_out(stage)
    integral = []
    for column in inputs:
        sql_type = schema.get(column)
        if sql_type not in STRING_TYPES and sql_type not in feat.INTEGRAL_TYPES:
            raise UnsupportedStage("StringIndexerModel",
                                   f"input {column!r} must be a string or integer input column")
        integral.append(sql_type in feat.INTEGRAL_TYPES)
    return feat.StringIndexer(inputs, outputs, [list(ls) for ls in stage.labelsArray],
                              stage.getHandleInvalid(), integral)


def _one_hot(stage: Any, schema: dict[str, str]) -> Stage:
    inputs, outputs = _in_out(stage)
    return feat.OneHotEncoder(inputs, outputs, list(stage.categorySizes), stage.getDropLast(),
                              stage.getHandleInvalid())


def _assembler(stage: Any, schema: dict[str, str]) -> Stage:
    return feat.VectorAssembler(list(stage.getInputCols()), stage.getOutputCol(),
                                stage.getHandleInvalid())


def _imputer(stage: Any, schema: dict[str, str]) -> Stage:
    inputs, outputs = _in_out(stage)
    row = stage.surrogateDF.head()
    return feat.Imputer(inputs, outputs, [float(row[c]) for c in inputs],
                        float(stage.getMissingValue()), [schema.get(c, "double") for c in inputs])


def _min_max(stage: Any, schema: dict[str, str]) -> Stage:
    return feat.MinMaxScaler(stage.getInputCol(), stage.getOutputCol(),
                             stage.originalMin.toArray(), stage.originalMax.toArray(),
                             float(stage.getMin()), float(stage.getMax()))


def _standard(stage: Any, schema: dict[str, str]) -> Stage:
    return feat.StandardScaler(stage.getInputCol(), stage.getOutputCol(), stage.mean.toArray(),
                               stage.std.toArray(), stage.getWithMean(), stage.getWithStd())


def _max_abs(stage: Any, schema: dict[str, str]) -> Stage:
    return feat.MaxAbsScaler(stage.getInputCol(), stage.getOutputCol(), stage.maxAbs.toArray())


def _polynomial(stage: Any, schema: dict[str, str]) -> Stage:
    return feat.PolynomialExpansion(stage.getInputCol(), stage.getOutputCol(), stage.getDegree())


def _bucketizer(stage: Any, schema: dict[str, str]) -> Stage:
    if stage.isSet(stage.inputCols):
        splits = [list(s) for s in stage.getSplitsArray()]
    else:
        splits = [list(stage.getSplits())]
    inputs, outputs = _in_out(stage)
    return feat.Bucketizer(inputs, outputs, splits, stage.getHandleInvalid())


def _columns(stage: Any) -> dict[str, Any]:
    """The classifier's column params; prediction and rawPrediction are needed for parity."""
    raw = stage.getRawPredictionCol()
    if not stage.getPredictionCol() or not raw:
        raise UnsupportedStage(type(stage).__name__,
                               "predictionCol and rawPredictionCol must be set")
    probability = stage.getProbabilityCol() if stage.hasParam("probabilityCol") else ""
    return {"features": stage.getFeaturesCol(), "prediction_col": stage.getPredictionCol(),
            "raw_col": raw, "probability_col": probability}


def _thresholds(stage: Any) -> list[float] | None:
    if stage.hasParam("thresholds") and stage.isDefined(stage.thresholds):
        return [float(t) for t in stage.getThresholds()]
    return None


def _logistic(stage: Any, schema: dict[str, str]) -> Stage:
    multinomial = _is_multinomial(stage)
    # a binary model predicts with getThreshold (derived from thresholds when those are set)
    return cls.LogisticRegression(
        **_columns(stage), thresholds=_thresholds(stage),
        coefficients=stage.coefficientMatrix.toArray(), intercepts=stage.interceptVector.toArray(),
        multinomial=multinomial, threshold=0.5 if multinomial else float(stage.getThreshold()))


def _is_multinomial(stage: Any) -> bool:
    """LogisticRegressionModel keeps isMultinomial private; a binomial model has one row of
    coefficients, a multinomial one a row per class (two for family=multinomial on two classes).
    Read from the public matrix, so it works over Spark Connect too (no py4j object there)."""
    return int(stage.coefficientMatrix.numRows) > 1


def _linear_svc(stage: Any, schema: dict[str, str]) -> Stage:
    return cls.LinearSVC(**_columns(stage), coefficients=stage.coefficients.toArray(),
                         intercept=float(stage.intercept), threshold=float(stage.getThreshold()))


def _naive_bayes(stage: Any, schema: dict[str, str]) -> Stage:
    return cls.NaiveBayes(**_columns(stage), thresholds=_thresholds(stage),
                          model_type=stage.getModelType(), pi=stage.pi.toArray(),
                          theta=stage.theta.toArray(), sigma=stage.sigma.toArray())


def _mlp(stage: Any, schema: dict[str, str]) -> Stage:
    return cls.MultilayerPerceptron(**_columns(stage), thresholds=_thresholds(stage),
                                    layers=list(stage.getLayers()),
                                    weights=stage.weights.toArray())


def _fm(stage: Any, schema: dict[str, str]) -> Stage:
    return cls.FactorizationMachine(**_columns(stage), thresholds=_thresholds(stage),
                                    intercept=float(stage.intercept),
                                    linear=stage.linear.toArray(), factors=stage.factors.toArray())


def _one_vs_rest(stage: Any, schema: dict[str, str]) -> Stage:
    models = []
    for sub in stage.models:
        compiled = _compile_stage(sub, schema)
        if not isinstance(compiled, cls.Classifier):
            raise UnsupportedStage("OneVsRestModel", f"sub-model {type(sub).__name__}")
        models.append(compiled)
    return cls.OneVsRest(stage.getFeaturesCol(), stage.getPredictionCol(),
                         stage.getRawPredictionCol(), "", models)


def _decision_tree(stage: Any, schema: dict[str, str]) -> Stage:
    return trees.DecisionTree(**_columns(stage), thresholds=_thresholds(stage),
                              forest=_forest([stage], stats=True))


def _random_forest(stage: Any, schema: dict[str, str]) -> Stage:
    return trees.RandomForest(**_columns(stage), thresholds=_thresholds(stage),
                              forest=_forest(stage.trees, stats=True))


def _gbt(stage: Any, schema: dict[str, str]) -> Stage:
    return trees.GradientBoostedTrees(**_columns(stage), thresholds=_thresholds(stage),
                                      forest=_forest(stage.trees, stats=False),
                                      tree_weights=np.asarray(stage.treeWeights))


def _forest(models: list[Any], stats: bool) -> trees.Forest:
    """Flatten the trees' nodes (depth first) into a Forest, reading them through py4j."""
    nodes: dict[str, list[Any]] = {k: [] for k in ("feature", "threshold", "left", "right",
                                                   "num_categories", "left_categories", "leaf")}
    roots, depth = [], 0
    # Spark Connect: a remote ref
    if models and not hasattr(compat_pyspark.java_object(models[0]), "rootNode"):
        raise UnsupportedStage(type(models[0]).__name__, "tree nodes are read through py4j, "
                               "which a Spark Connect client does not have")
    for model in models:
        roots.append(len(nodes["feature"]))
        depth = max(depth, _add_node(compat_pyspark.java_object(model).rootNode(), nodes,
                                     stats))
    width = max(len(v) for v in nodes["leaf"] if v)
    leaf_values = [v if v else [0.0] * width for v in nodes["leaf"]]
    return trees.Forest(
        np.asarray(roots), np.asarray(nodes["feature"]), np.asarray(nodes["threshold"]),
        np.asarray(nodes["left"]), np.asarray(nodes["right"]), np.asarray(nodes["num_categories"]),
        nodes["left_categories"], np.asarray(leaf_values), depth)


def _add_node(node: Any, nodes: dict[str, list[Any]], stats: bool) -> int:
    """Append ``node`` and its subtree; return the subtree's depth."""
    index = len(nodes["feature"])
    for key, empty in (("feature", 0), ("threshold", 0.0), ("left", index), ("right", index),
                       ("num_categories", 0), ("left_categories", []), ("leaf", [])):
        nodes[key].append(empty)
    if node.getClass().getSimpleName() != "InternalNode":
        leaf = list(node.impurityStats().stats()) if stats else [node.prediction()]
        nodes["leaf"][index] = [float(v) for v in leaf]
        return 0
    split = node.split()
    nodes["feature"][index] = split.featureIndex()
    if split.getClass().getSimpleName() == "CategoricalSplit":
        nodes["num_categories"][index] = split.numCategories()
        nodes["left_categories"][index] = [float(c) for c in split.leftCategories()]
    else:
        nodes["threshold"][index] = split.threshold()
    nodes["left"][index] = len(nodes["feature"])
    left_depth = _add_node(node.leftChild(), nodes, stats)
    nodes["right"][index] = len(nodes["feature"])
    right_depth = _add_node(node.rightChild(), nodes, stats)
    return 1 + max(left_depth, right_depth)


_COMPILERS: dict[str, Callable[[Any, dict[str, str]], Stage]] = {
    "StringIndexerModel": _string_indexer,
    "OneHotEncoderModel": _one_hot,
    "VectorAssembler": _assembler,
    "ImputerModel": _imputer,
    "MinMaxScalerModel": _min_max,
    "StandardScalerModel": _standard,
    "MaxAbsScalerModel": _max_abs,
    "PolynomialExpansion": _polynomial,
    "Bucketizer": _bucketizer,
    "LogisticRegressionModel": _logistic,
    "LinearSVCModel": _linear_svc,
    "NaiveBayesModel": _naive_bayes,
    "MultilayerPerceptronClassificationModel": _mlp,
    "FMClassificationModel": _fm,
    "OneVsRestModel": _one_vs_rest,
    "DecisionTreeClassificationModel": _decision_tree,
    "RandomForestClassificationModel": _random_forest,
    "GBTClassificationModel": _gbt,
}
