"""Classifier schemas: one dataclass per shipped ``model`` option, carrying its ``_target_`` and
Spark's own parameter names and defaults, so ``model.maxIter=foo`` or ``model.maxIters=3`` fails
when Hydra composes the config. ``pipeline.stages`` checks the values against pyspark itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class ClassifierConfig:
    """Fields shared by every classifier; subclasses add Spark's hyperparameters."""

    _target_: str = MISSING
    # binary-only classifiers are wrapped in OneVsRest when the label has more than two classes
    binary_only: bool = False


@dataclass
class LogisticRegressionConfig(ClassifierConfig):
    _target_: str = "pyspark.ml.classification.LogisticRegression"
    maxIter: int = 100  # noqa: N815 - Spark's parameter names and defaults
    regParam: float = 0.0  # noqa: N815
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
