"""The classifier from the ``model`` config, wired to the feature and label columns.

Two things depend on the data and are settled at build time: a binary-only classifier
(``binary_only: true``) is wrapped in OneVsRest when the label has more than two classes, and a
MultilayerPerceptron with ``layers: null`` gets ``[n_features, *hidden_layers, n_classes]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runner.errors import RunnerError
from runner.pipeline import stages

if TYPE_CHECKING:
    from runner.data import DataSpec

# keys of a model config that runner reads itself; everything else is a Spark parameter
MODEL_KEYS = frozenset({"binary_only", "hidden_layers", "ovr_parallelism"})
MLP = "pyspark.ml.classification.MultilayerPerceptronClassifier"
ONE_VS_REST_TAG = "runner.one_vs_rest"


def _spark_spec(cfg: Any) -> dict[str, Any]:
    return {k: v for k, v in stages.plain(cfg).items() if k not in MODEL_KEYS}


def check(cfg: Any, data: DataSpec) -> None:
    """Check that the model is a classifier, its parameter names and types, and an MLP's
    ``layers`` against ``data.class_names`` (no JVM needed)."""
    from pyspark.ml.classification import Classifier

    spec = _spark_spec(cfg)
    if not issubclass(stages.locate(spec.get("_target_"), "model"), Classifier):
        raise RunnerError(f"model._target_={spec['_target_']!r} is not a classifier")
    stages.check(spec, "model")
    hidden = cfg.get("hidden_layers")
    if hidden is not None and not all(isinstance(n, int) and n > 0 for n in hidden):
        raise RunnerError(f"model.hidden_layers={list(hidden)}: need positive layer sizes")
    _check_output_layer(cfg, data)


def _check_output_layer(cfg: Any, data: DataSpec) -> None:
    """An MLP's fixed ``layers`` must end in the class count when data.class_names tells it (the
    data may not be read yet: ``_mlp_layers`` checks both ends again at build time)."""
    layers = cfg.get("layers") if str(cfg.get("_target_", "")) == MLP else None
    names = data.class_names
    if layers is not None and names and layers[-1] != len(names):
        raise RunnerError(f"model.layers={list(layers)}: the last layer must be the number of "
                          f"classes, {len(names)} (data.class_names)")


def class_count(classes: list[int]) -> int:
    """Spark's number of classes: the classifier reads class indices (the label itself, or its
    StringIndexer's output: ``data.Dataset.classes``), so the largest one plus one."""
    return max(classes) + 1


def one_vs_rest(cfg: Any, n_classes: int) -> bool:
    """Whether the classifier is binary-only and the label has more than two classes."""
    return bool(cfg.get("binary_only", False)) and n_classes > 2


def tags(cfg: Any, n_classes: int) -> dict[str, str]:
    """Run tags that say how the model was wired (OneVsRest or not)."""
    return {ONE_VS_REST_TAG: str(one_vs_rest(cfg, n_classes)).lower()}


def build(cfg: Any, features_col: str, label_col: str, n_classes: int = 2,
          feature_size: Callable[[], int] | None = None) -> Any:
    """Instantiate the classifier reading ``features_col`` and predicting ``label_col``.

    Args:
        cfg: the ``model`` config.
        features_col: the assembled feature vector column.
        label_col: the column of class indices 0..n_classes-1 (the label or its index column).
        n_classes: Spark's number of classes, i.e. the largest class index plus one.
        feature_size: computes the feature vector's length; called only when a model needs it
            (MLP layers), since it costs a pass over the training data.
    """
    spec = _spark_spec(cfg)
    if spec["_target_"] == MLP:
        spec["layers"] = _mlp_layers(cfg, n_classes, feature_size)
    if not one_vs_rest(cfg, n_classes):
        return stages.build(spec, "model", featuresCol=features_col, labelCol=label_col)
    from pyspark.ml.classification import OneVsRest

    inner = stages.build(spec, "model")
    # each binary fit is a chain of small Spark jobs on one partition: fitting two at once
    # keeps a second core busy (about 2x faster on 2 cores)
    return OneVsRest(classifier=inner, featuresCol=features_col, labelCol=label_col,
                     parallelism=int(cfg.get("ovr_parallelism", 1)))


def _mlp_layers(cfg: Any, n_classes: int, feature_size: Callable[[], int] | None) -> list[int]:
    """``model.layers`` if set, else [feature vector size, *hidden_layers, n_classes]; checked."""
    if feature_size is None:
        raise RunnerError("model: MultilayerPerceptron needs the feature vector size to build")
    n_features = feature_size()
    layers = cfg.get("layers")
    if layers is None:
        return [n_features, *cfg.get("hidden_layers", []), n_classes]
    layers = list(layers)
    if len(layers) < 2 or layers[0] != n_features or layers[-1] != n_classes:
        raise RunnerError(
            f"model.layers={layers}: the first layer must be the feature vector size "
            f"({n_features}) and the last the number of classes ({n_classes}); or set "
            f"layers: null and hidden_layers"
        )
    return layers


def unwrap(classifier: Any) -> Any:
    """The configured classifier inside a OneVsRest wrapper (or the classifier itself)."""
    from pyspark.ml.classification import OneVsRest

    return classifier.getClassifier() if isinstance(classifier, OneVsRest) else classifier
