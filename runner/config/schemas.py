"""Structured-config schemas: one dataclass per config group, registered in Hydra's ConfigStore.

A typo (``model.maxIters``) or a wrong type (``model.maxIter=foo``) fails when Hydra composes the
config, naming the key, before any JVM or MLflow run starts. Classifier schemas carry their
``_target_`` and Spark's own parameter names so config maps one-to-one onto the estimator.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runner.errors import RunnerError

PENGUINS = "pkg://runner.resources/penguins.csv"


class MissingPolicy(str, Enum):
    """What to do with rows that have missing values in feature columns."""

    drop = "drop"
    impute = "impute"


class Metric(str, Enum):
    """Metrics named as Spark's evaluators: MulticlassClassificationEvaluator's (from the
    confusion matrix; the ``ByLabel`` ones for data.positive_class, and logLoss from the class
    probabilities) and BinaryClassificationEvaluator's areas (two-class data only)."""

    accuracy = "accuracy"
    f1 = "f1"
    weightedPrecision = "weightedPrecision"  # noqa: N815 - Spark's metric names
    weightedRecall = "weightedRecall"  # noqa: N815
    weightedTruePositiveRate = "weightedTruePositiveRate"  # noqa: N815
    weightedFalsePositiveRate = "weightedFalsePositiveRate"  # noqa: N815
    weightedFMeasure = "weightedFMeasure"  # noqa: N815
    hammingLoss = "hammingLoss"  # noqa: N815
    logLoss = "logLoss"  # noqa: N815
    precisionByLabel = "precisionByLabel"  # noqa: N815
    recallByLabel = "recallByLabel"  # noqa: N815
    fMeasureByLabel = "fMeasureByLabel"  # noqa: N815
    areaUnderROC = "areaUnderROC"  # noqa: N815
    areaUnderPR = "areaUnderPR"  # noqa: N815


# logged on two-class data by default (evaluation.binary_metrics); logLoss only for models with
# class probabilities
BINARY_METRICS = ("areaUnderROC", "areaUnderPR", "logLoss", "precisionByLabel", "recallByLabel",
                  "fMeasureByLabel")


class LabelOrder(str, Enum):
    """How a label that is not class indices is indexed: Spark StringIndexer's stringOrderType."""

    frequencyDesc = "frequencyDesc"  # noqa: N815 - Spark's names
    frequencyAsc = "frequencyAsc"  # noqa: N815
    alphabetDesc = "alphabetDesc"  # noqa: N815
    alphabetAsc = "alphabetAsc"  # noqa: N815


class LogModels(str, Enum):
    """Which runs log (and register) their fitted model."""

    best = "best"  # a single run is its own best; in a sweep only the best trial
    all = "all"
    none = "none"


@dataclass
class SplitConfig:
    train: float = 0.7
    test: float = 0.3
    seed: int = "${seed}"  # type: ignore[assignment]


@dataclass
class DataConfig:
    name: str = "penguins"
    # Spark reader format; null: from the path's ending or a folder's files (data.format_of)
    format: str | None = None
    path: str = PENGUINS
    options: dict[str, str] = field(default_factory=lambda: {"header": "true"})
    # column -> Spark SQL type, overriding the type inferred from the source (data.schema_of)
    schema: dict[str, str] = field(default_factory=dict)
    label: str = "Species"
    # Numeric labels 0..k-1 are class indices and these name them. Any other label (strings,
    # 1..3) is indexed in the pipeline; these are then its values in class order, and when empty
    # they come from the data in label_order (and are logged with the run's config).
    class_names: list[str] = field(default_factory=list)
    # the data.path that schema and class_names were written for; null: any. Pointing data.path
    # elsewhere drops class_names and the schema entries naming columns the new file lacks
    written_for: str | None = None
    label_order: LabelOrder = LabelOrder.frequencyDesc
    # the class whose precision/recall/F1 and ROC/PR areas are reported (a class name, or the
    # index for unnamed 0..k-1 labels); null: the second class (index 1)
    positive_class: str | None = None
    missing: MissingPolicy = MissingPolicy.drop
    impute_strategy: str = "mean"
    split: SplitConfig = field(default_factory=SplitConfig)


@dataclass
class FeaturesConfig:
    # name -> stage spec ({_target_: pyspark.ml.feature.X, param: value, ...}), in pipeline order
    stages: dict[str, Any] = field(default_factory=dict)
    output_col: str = "features"


@dataclass
class ClassifierConfig:
    """Fields shared by every classifier; subclasses add Spark's hyperparameters."""

    _target_: str = MISSING
    # binary-only classifiers are wrapped in OneVsRest when the label has more than two classes
    binary_only: bool = False


@dataclass
class LogisticRegressionConfig(ClassifierConfig):
    _target_: str = "pyspark.ml.classification.LogisticRegression"
    maxIter: int = 5  # noqa: N815 - Spark's parameter names
    regParam: float = 0.5  # noqa: N815
    elasticNetParam: float = 0.0  # noqa: N815
    family: str = "auto"
    fitIntercept: bool = True  # noqa: N815
    standardization: bool = True
    tol: float = 1e-6
    threshold: float = 0.5
    aggregationDepth: int = 2  # noqa: N815
    maxBlockSizeInMB: float = 0.0  # noqa: N815


@dataclass
class _BinaryOnlyConfig(ClassifierConfig):
    """A binary classifier: for 3+ classes OneVsRest fits ``ovr_parallelism`` of them at once."""

    binary_only: bool = True
    ovr_parallelism: int = 2  # runner's, not Spark's


@dataclass
class _TreeConfig(ClassifierConfig):
    """Parameters every Spark tree ensemble shares, with Spark's defaults."""

    maxDepth: int = 5
    maxBins: int = 32
    minInstancesPerNode: int = 1
    minInfoGain: float = 0.0
    minWeightFractionPerNode: float = 0.0
    maxMemoryInMB: int = 256
    cacheNodeIds: bool = False
    checkpointInterval: int = 10
    seed: int = "${seed}"  # type: ignore[assignment]


@dataclass
class DecisionTreeConfig(_TreeConfig):
    _target_: str = "pyspark.ml.classification.DecisionTreeClassifier"
    impurity: str = "gini"  # gini | entropy
    pruneTree: bool = True


@dataclass
class RandomForestConfig(_TreeConfig):
    _target_: str = "pyspark.ml.classification.RandomForestClassifier"
    numTrees: int = 20
    impurity: str = "gini"  # gini | entropy
    featureSubsetStrategy: str = "auto"  # auto | all | onethird | sqrt | log2 | a fraction | n
    subsamplingRate: float = 1.0
    bootstrap: bool = True
    pruneTree: bool = True


@dataclass
class GBTConfig(_BinaryOnlyConfig, _TreeConfig):  # this order: binary_only=True wins
    _target_: str = "pyspark.ml.classification.GBTClassifier"
    maxIter: int = 20
    stepSize: float = 0.1
    lossType: str = "logistic"
    subsamplingRate: float = 1.0
    featureSubsetStrategy: str = "all"
    validationTol: float = 0.01


@dataclass
class LinearSVCConfig(_BinaryOnlyConfig):
    _target_: str = "pyspark.ml.classification.LinearSVC"
    maxIter: int = 100
    regParam: float = 0.0
    tol: float = 1e-6
    fitIntercept: bool = True
    standardization: bool = True
    threshold: float = 0.0
    aggregationDepth: int = 2
    maxBlockSizeInMB: float = 0.0


@dataclass
class NaiveBayesConfig(ClassifierConfig):
    _target_: str = "pyspark.ml.classification.NaiveBayes"
    smoothing: float = 1.0
    # Spark's default is multinomial, which needs non-negative features: a test row below the
    # training minimum scales below 0 after MinMaxScaler and transform fails. Gaussian has no limit.
    modelType: str = "gaussian"  # multinomial | bernoulli | gaussian | complement
    thresholds: list[float] | None = None


@dataclass
class MLPConfig(ClassifierConfig):
    _target_: str = "pyspark.ml.classification.MultilayerPerceptronClassifier"
    # null: [feature vector size, *hidden_layers, number of classes], computed at build time
    layers: list[int] | None = None
    hidden_layers: list[int] = field(default_factory=lambda: [8])  # runner's, not Spark's
    maxIter: int = 100
    tol: float = 1e-6
    blockSize: int = 128
    stepSize: float = 0.03
    solver: str = "l-bfgs"  # l-bfgs | gd
    seed: int = "${seed}"  # type: ignore[assignment]


@dataclass
class FMConfig(_BinaryOnlyConfig):
    _target_: str = "pyspark.ml.classification.FMClassifier"
    factorSize: int = 8
    fitIntercept: bool = True
    fitLinear: bool = True
    regParam: float = 0.0
    miniBatchFraction: float = 1.0
    initStd: float = 0.01
    maxIter: int = 100
    stepSize: float = 1.0
    tol: float = 1e-6
    solver: str = "adamW"  # adamW | gd
    seed: int = "${seed}"  # type: ignore[assignment]


@dataclass
class EvaluationConfig:
    metrics: list[Metric] = field(
        default_factory=lambda: [
            Metric.accuracy,
            Metric.weightedRecall,
            Metric.weightedPrecision,
            Metric.f1,
        ]
    )
    primary: Metric = Metric.accuracy
    # what an Optuna sweep's trial returns, one per hydra.sweeper.direction: metrics of
    # `metrics`, train_<metric>, or train_seconds (the fit's time). null: just `primary`.
    objectives: list[str] | None = None
    train_metrics: bool = True
    # two-class data also logs BINARY_METRICS (areaUnderROC, areaUnderPR, logLoss, the positive
    # class's precision/recall/F1), any of which may be primary without being listed
    binary_metrics: bool = True
    confusion_matrix: bool = True
    # splits of up to this many rows in all are scored on the driver by the model's compiled
    # numpy scorer (the one served, tested identical to Spark's transform) instead of a Spark
    # job; 0 always scores on Spark. Models it cannot compile are scored on Spark.
    local_max_rows: int = 100_000


@dataclass
class TrackingConfig:
    # null: $MLFLOW_TRACKING_URI if set, else an sqlite store at outputs/mlflow.db
    uri: str | None = None
    # from data.name: <name> and <name>-classifier (penguins keep runner, penguin-classifier)
    experiment_name: str = "${runner.experiment:${data.name}}"
    registered_model_name: str | None = "${runner.model_name:${data.name}}"
    log_models: LogModels = LogModels.best
    # a newly registered best becomes @champion only if its primary metric beats the current
    # champion's by more than this; otherwise it is @challenger
    champion_margin: float = 0.0
    log_datasets: bool = True
    run_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class SparkConfig:
    master: str = "local[*]"
    # Spark Connect URL (sc://host:15002); when set it wins over master
    remote: str | None = None
    app_name: str = "runner"
    log_level: str = "ERROR"
    conf: dict[str, str] = field(default_factory=dict)
    # local masters: map Spark's classes from a JVM class-data archive kept under
    # $RUNNER_CACHE_DIR (default ~/.cache/runner), written by the first run (class_archive.py)
    class_archive: bool = True
    # local masters: inputs (local files) below this size run with the C1-only JIT, which starts
    # faster and runs big data slower (spark.py, _quick_jit); 0 turns it off
    quick_jit_below_mb: int = 1
    # local masters: a training split of at most this many rows is kept for fitting as a local
    # checkpoint instead of a cache. Each job of an iterative fit (an L-BFGS iteration of
    # LogisticRegression) then ships a short lineage, not the feature stages' plans: ~25% faster
    # fits on penguins. A cache holds big data in less memory; 0 always caches.
    checkpoint_below_rows: int = 100_000


@dataclass
class ServingConfig:
    # null: models:/<tracking.registered_model_name>@champion, else its latest version
    model_uri: str | None = None
    host: str = "127.0.0.1"
    port: int = 5001
    workers: int = 1
    max_body_bytes: int = 1_048_576
    # seconds: a request head, then its body, must arrive within these (else 408); a keep-alive
    # connection with no request is closed after idle_timeout
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_connections: int = 1000  # per worker; beyond it a new connection gets 503 and is closed
    access_log: bool = False  # one line per request on stderr


class SaveMode(str, Enum):
    """Spark's save modes for ``runner predict``'s output."""

    errorifexists = "errorifexists"
    overwrite = "overwrite"
    append = "append"
    ignore = "ignore"


@dataclass
class PredictConfig:
    model_uri: str | None = None
    input: str | None = None
    # null: told by the path (extension, or the files of a folder), else the training data's
    input_format: str | None = None
    input_options: dict[str, str] = field(default_factory=dict)
    output: str | None = None
    output_format: str = "parquet"
    mode: SaveMode = SaveMode.errorifexists
    # output column with the class name of each prediction (data.class_names of the model's run)
    label_col: str | None = "predicted_label"


@dataclass
class RunnerConfig:
    data: DataConfig = MISSING
    features: FeaturesConfig = MISSING
    model: Any = MISSING
    evaluation: EvaluationConfig = MISSING
    tracking: TrackingConfig = MISSING
    spark: SparkConfig = MISSING
    serving: ServingConfig = MISSING
    predict: PredictConfig = MISSING
    seed: int = 42


MODEL_SCHEMAS: dict[str, type[ClassifierConfig]] = {
    "logistic_regression": LogisticRegressionConfig,
    "decision_tree": DecisionTreeConfig,
    "random_forest": RandomForestConfig,
    "gbt": GBTConfig,
    "linear_svc": LinearSVCConfig,
    "naive_bayes": NaiveBayesConfig,
    "mlp": MLPConfig,
    "fm": FMConfig,
}


def register_configs() -> None:
    """Store every schema as ``base_<name>`` so YAML files can extend it through their defaults."""
    from runner.config.names import register_name_resolvers

    register_name_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=RunnerConfig)
    cs.store(group="data", name="base_data", node=DataConfig)
    cs.store(group="features", name="base_features", node=FeaturesConfig)
    cs.store(group="evaluation", name="base_evaluation", node=EvaluationConfig)
    cs.store(group="tracking", name="base_tracking", node=TrackingConfig)
    cs.store(group="spark", name="base_spark", node=SparkConfig)
    cs.store(group="serving", name="base_serving", node=ServingConfig)
    cs.store(group="predict", name="base_predict", node=PredictConfig)
    for name, schema in MODEL_SCHEMAS.items():
        cs.store(group="model", name=f"base_{name}", node=schema)


# Where any key is legitimate: Spark params (checked against the class by pipeline.stages), Spark
# settings, and every mapping whose schema type is a plain dict (``*.options``, tags, schema).
FREE_KEYS = frozenset({"model", "features.stages", "spark.conf"})
# Spark and Python seeds are 64-bit signed
SEED_RANGE = (-(2**63), 2**63 - 1)
SPARK_LOG_LEVELS = frozenset({"ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN"})
_LOCAL_MASTER = re.compile(r"local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?|local-cluster\[.*\]")


def check(cfg: DictConfig) -> None:
    """Every check of a composed config that needs neither a JVM nor data, run before a run or a
    sweep starts: interpolations resolve, no unknown key was added, numbers are in range, and the
    groups agree with each other. Raises RunnerError naming the key."""
    _check_resolves(cfg)
    for key, suggestion in unknown_keys(cfg):
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        raise RunnerError(f"{key}: no such key in runner's config{hint}")
    _check_numbers(cfg)
    check_serving(cfg.serving)
    _check_evaluation(cfg.evaluation)
    _check_mlp(cfg)


def _check_resolves(cfg: DictConfig) -> None:
    """Resolve every value once: a missing group (``~tracking``), a ``???`` or an interpolation
    to a missing key fails here instead of deep inside a run."""
    # plain values first: ``seed=${missing}`` is named as seed, not as data.split.seed
    for key in sorted(cfg, key=lambda k: OmegaConf.is_config(cfg._get_node(k))):
        if key == "hydra":
            continue
        try:
            node = cfg._get_node(key)
            if OmegaConf.is_config(node):
                OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
            else:
                cfg[key]  # noqa: B018 - resolves it
        except OmegaConfBaseException as exc:
            raise RunnerError(describe_omegaconf_error(exc, str(key))) from exc


def describe_omegaconf_error(exc: Exception, fallback_key: str = "") -> str:
    """One line for an OmegaConf error: the full key first, then its message's first line."""
    key = getattr(exc, "full_key", None) or fallback_key
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if type(exc).__name__ == "MissingMandatoryValue":
        group = key.split(".")[0]
        return (f"{key}: missing mandatory value (was the required group {group!r} removed? "
                f"choose one, e.g. {group}=<name>)")
    return f"{key}: {msg}" if key else msg


def unknown_keys(cfg: DictConfig) -> list[tuple[str, str | None]]:
    """Keys of ``cfg`` its dataclass schemas do not define (added with ``+``), with the nearest
    defined key, by a walk of the config beside its schemas."""
    found: list[tuple[str, str | None]] = []
    _walk(cfg, "", found)
    return found


def _walk(node: DictConfig, prefix: str, found: list[tuple[str, str | None]]) -> None:
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        return  # a plain mapping: options, tags, data.schema
    names = [f.name for f in dataclasses.fields(schema)]
    for key in node:
        full = f"{prefix}{key!s}"
        if not prefix and key == "hydra":
            continue
        if key not in names:
            found.append((full, _nearest(str(key), names, prefix)))
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig) and full not in FREE_KEYS and not child._is_missing():
            _walk(child, f"{full}.", found)


def _nearest(key: str, names: list[str], prefix: str) -> str | None:
    """The defined key closest to ``key``, ignoring case and underscores (experimentName ->
    experiment_name)."""
    def norm(name: str) -> str:
        return name.replace("_", "").lower()

    by_norm = {norm(n): n for n in names}
    match = difflib.get_close_matches(norm(key), list(by_norm), n=1, cutoff=0.6)
    return f"{prefix}{by_norm[match[0]]}" if match else None


def _in_range(key: str, value: Any, low: float, high: float, text: str) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        isinstance(value, int) or math.isfinite(value))
    if not ok or not low <= value <= high:
        raise RunnerError(f"{key}={value!r} is out of range: must be {text}")


def _check_numbers(cfg: DictConfig) -> None:
    """Runner's own numeric keys (serving.* and hydra.sweeper.* are checked by their owners)."""
    for key in ("seed", "data.split.seed"):
        _in_range(key, OmegaConf.select(cfg, key), *SEED_RANGE, "a 64-bit integer")
    split = cfg.data.split
    for part in ("train", "test"):
        value = split[part]
        if not isinstance(value, (int, float)) or math.isnan(value) or not 0 < value <= 1:
            raise RunnerError(f"data.split.{part}={value!r} is out of range: must be in (0, 1]")
    if split.train + split.test > 1 + 1e-9:
        raise RunnerError(f"data.split.train + data.split.test = {split.train + split.test:g}: "
                          "must be <= 1 (fractions of the rows)")
    _in_range("evaluation.local_max_rows", cfg.evaluation.local_max_rows, 0, math.inf, ">= 0")
    _in_range("tracking.champion_margin", cfg.tracking.champion_margin, 0, math.inf,
              ">= 0 (a finite margin)")
    _check_spark(cfg.spark)


def _check_spark(spark: DictConfig) -> None:
    _in_range("spark.quick_jit_below_mb", spark.quick_jit_below_mb, 0, math.inf, ">= 0")
    _in_range("spark.checkpoint_below_rows", spark.checkpoint_below_rows, 0, math.inf, ">= 0")
    if str(spark.log_level).upper() not in SPARK_LOG_LEVELS:
        raise RunnerError(f"spark.log_level={spark.log_level!r} is not a Spark log level: "
                          f"one of {', '.join(sorted(SPARK_LOG_LEVELS))}")
    master = str(spark.master)
    if not spark.remote and master.startswith("local") and not _LOCAL_MASTER.fullmatch(master):
        raise RunnerError(f"spark.master={master!r} is not a local master URL: local, local[N] "
                          "(N >= 1), local[*] or local[N,F]")


def _check_evaluation(evaluation: DictConfig) -> None:
    metrics = [_value(m) for m in evaluation.metrics]
    if not metrics:
        raise RunnerError("evaluation.metrics=[] is empty: list at least evaluation.primary")
    primary = _value(evaluation.primary)
    if primary not in metrics and not (evaluation.binary_metrics and primary in BINARY_METRICS):
        raise RunnerError(f"evaluation.primary={primary} is not in evaluation.metrics={metrics}: "
                          f"add it (sweeps optimize it and every run logs it)")


def _check_mlp(cfg: DictConfig) -> None:
    """MLP layer sizes positive and the last one the class count, when the config fixes both."""
    if not str(cfg.model.get("_target_", "")).endswith(".MultilayerPerceptronClassifier"):
        return
    for key in ("layers", "hidden_layers"):
        sizes = cfg.model.get(key)
        if sizes is None:
            continue
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
            raise RunnerError(f"model.{key}={list(sizes)}: every layer size must be an integer > 0")
        if key == "layers" and len(sizes) < 2:
            raise RunnerError(f"model.layers={list(sizes)}: needs at least the input and the "
                              "output layer")
    from runner.pipeline.data import class_names_of

    layers, names = cfg.model.get("layers"), class_names_of(cfg.data)
    if layers is not None and names and layers[-1] != len(names):
        raise RunnerError(f"model.layers={list(layers)}: the last layer must be the number of "
                          f"classes, {len(names)} (data.class_names)")


def _value(member: Any) -> str:
    return str(member.value) if isinstance(member, Enum) else str(member)


def check_serving(serving: Any) -> None:
    """The serving keys' ranges, before the model is loaded or the port bound."""
    rules = [("port", 0 <= serving.port <= 65535, "0..65535 (0: a free port)"),
             ("workers", serving.workers >= 1, ">= 1"),
             ("max_body_bytes", serving.max_body_bytes > 0, "> 0"),
             ("header_timeout", serving.header_timeout > 0, "> 0 (seconds)"),
             ("body_timeout", serving.body_timeout > 0, "> 0 (seconds)"),
             ("idle_timeout", serving.idle_timeout > 0, "> 0 (seconds)"),
             ("max_connections", serving.max_connections >= 1, ">= 1")]
    for key, ok, valid in rules:
        if not ok:
            raise RunnerError(f"serving.{key}={getattr(serving, key)} is out of range: it must "
                              f"be {valid}")
