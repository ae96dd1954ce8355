"""Structured-config schemas: one dataclass per config group, registered in Hydra's ConfigStore.

A typo (``model.maxIters``) or a wrong type (``model.maxIter=foo``) fails when Hydra composes the
config, naming the key, before any JVM or MLflow run starts. Classifier schemas carry their
``_target_`` and Spark's own parameter names so config maps one-to-one onto the estimator
(``classifiers``). The checks a composed config then passes are in ``checks``; its closed
choices in ``enums``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from runner.compat import pandas as compat_pandas
from runner.config.classifiers import MODEL_SCHEMAS
from runner.config.enums import LabelOrder, LogModels, Metric, MissingPolicy, SaveMode
from runner.config.lab import PENGUINS, register_lab_resolver


@dataclass
class SplitConfig:
    train: float = 0.7
    test: float = 0.3
    seed: int = "${seed}"  # type: ignore[assignment]
    # sweeps only: a fraction of the training part held out to select trials on, instead of
    # evaluation.cv.folds-fold cross-validation; 0: cross-validate
    validation: float = 0.0


@dataclass
class DataConfig:
    name: str = "penguins"
    # Spark reader format; null: from the path's ending or a folder's files (formats.format_of)
    format: str | None = None
    path: str = PENGUINS
    # any Spark reader option: `data.options.nullValue=NA` (no `+` needed)
    options: dict[str, str] = field(default_factory=lambda: {"header": "true"})
    # CSV cells read as missing, in schema inference and in Spark's read alike (data/missing.py);
    # default: pandas' own list (NA, N/A, NULL, NaN, None, empty, ...)
    na_values: list[str] = field(default_factory=compat_pandas.default_na_values)
    # column -> Spark SQL type, overriding the type inferred from the source (data.DataSpec.resolve)
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
    # a file (any format data.path may have, the same columns) that is the test set; data.path
    # is then all training (and validation) data and data.split.train/test are not used
    test_path: str | None = None
    split: SplitConfig = field(default_factory=SplitConfig)


@dataclass
class FeaturesConfig:
    # name -> stage spec ({_target_: pyspark.ml.feature.X, param: value, ...}), in pipeline order
    stages: dict[str, Any] = field(default_factory=dict)
    output_col: str = "features"


@dataclass
class CrossValidationConfig:
    # sweeps: each trial is scored by stratified, seeded (data.split.seed) k-fold
    # cross-validation of the training part, the same folds for every trial
    folds: int = 3


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
    # sweeps select trials on validation figures (val_<metric>): k-fold CV, or
    # data.split.validation when > 0
    cv: CrossValidationConfig = field(default_factory=CrossValidationConfig)
    # sweeps: the winner is fit again on the whole training part (train + validation) and
    # scored once on the test split; that model is logged and registered. false: no model
    refit: bool = True
    # sweeps: every trial also fits the whole training part and logs its test metrics
    test_each_trial: bool = False


@dataclass
class TrackingConfig:
    # null: $MLFLOW_TRACKING_URI if set, else an sqlite store at outputs/mlflow.db
    uri: str | None = None
    # from data.name and data.label: <name>-<label> (the lab keeps runner, penguin-classifier)
    experiment_name: str = "${runner.experiment:${data.name},${data.label}}"
    registered_model_name: str | None = "${runner.model_name:${data.name},${data.label}}"
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
    # seconds between looks at the registry for the alias served (or the champion); 0: never
    reload_interval: float = 5.0
    # seconds SIGTERM waits for the requests already received to be answered
    shutdown_timeout: float = 25.0


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


def register_configs() -> None:
    """Store every schema as ``base_<name>`` so YAML files can extend it through their defaults."""
    from runner.config.names import register_name_resolvers

    register_name_resolvers()
    register_lab_resolver()
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
