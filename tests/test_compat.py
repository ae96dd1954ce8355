"""Every function of runner/compat against the installed library, with real objects (a Hydra
compose, a real SparkSession, a real Optuna study): an upgrade that moves a private name fails
here, naming the function and the version it was checked against, not deep inside a run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import IntegerNode, OmegaConf

from runner.compat import hydra as compat_hydra
from runner.compat import optuna as compat_optuna
from runner.compat import pyspark as compat_pyspark

from .conftest import make_config

# What the compat modules' headers name: the versions their private calls were checked against.
CHECKED = {"hydra-core": "1.3.8", "omegaconf": "2.3.1", "optuna": "5.0.0", "pyspark": "4.3.0"}


@contextmanager
def checking(function: str, package: str) -> Iterator[None]:
    """Turn any failure of the block into one message naming the compat function, the installed
    version and the one it was checked against."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - any failure here means the library moved
        pytest.fail(f"runner.compat.{function} no longer works with {package} "
                    f"{version(package)} (checked against {CHECKED[package]}): "
                    f"{type(exc).__name__}: {exc}", pytrace=True)


def _parse(*overrides: str) -> list:
    return OverridesParser.create().parse_overrides(list(overrides))


# --- Hydra ----------------------------------------------------------------------------------

def test_apply_overrides() -> None:
    config = make_config()
    with checking("hydra.apply_overrides", "hydra-core"):
        compat_hydra.apply_overrides(_parse("model.maxIter=7", "seed=3"), config)
        assert (config.model.maxIter, config.seed) == (7, 3)


def test_overrides_dirname() -> None:
    with checking("hydra.overrides_dirname", "hydra-core"):
        parsed = _parse("seed=3", "model.maxIter=7")
        assert compat_hydra.overrides_dirname(parsed, "=", ",", []) == "model.maxIter=7,seed=3"
        assert compat_hydra.overrides_dirname(parsed, ":", "_", ["seed"]) == "model.maxIter:7"


def test_locate() -> None:
    from optuna.samplers import TPESampler

    with checking("hydra.locate", "hydra-core"):
        assert compat_hydra.locate("optuna.samplers.TPESampler") is TPESampler
        with pytest.raises(ImportError):
            compat_hydra.locate("optuna.samplers.NoSuchSampler")


def test_grammar_casts() -> None:
    sweep = _parse("x=interval(1,5)")[0].value()
    with checking("hydra.normalize_cast_value/cast_int", "hydra-core"):
        inner = compat_hydra.normalize_cast_value(value=sweep)
        assert isinstance(inner, IntervalSweep)
        assert (inner.start, inner.end) == (1.0, 5.0)
        assert compat_hydra.normalize_cast_value(1.5) == 1.5
        assert compat_hydra.cast_int(value=2.0) == 2


def test_grid_batches() -> None:
    with checking("hydra.grid_batches", "hydra-core"):
        batches = compat_hydra.grid_batches(_parse("a=1,2", "b=3"))
        assert batches == [[["a=1", "b=3"], ["a=2", "b=3"]]]


def test_job_error() -> None:
    error = ValueError("trial failed")
    job = JobReturn(status=JobStatus.FAILED)
    job.return_value = error  # as run_job records a task's exception
    with checking("hydra.job_error", "hydra-core"):
        assert compat_hydra.job_error(job) is error


def test_callbacks() -> None:
    from hydra._internal.callbacks import Callbacks
    from hydra.types import HydraContext

    from runner.sweep import SweepCallback, of_callbacks

    config = OmegaConf.create({"hydra": {"callbacks": {
        "sweep": {"_target_": "runner.sweep.SweepCallback"}}}})  # as conf/config.yaml has it
    with checking("hydra.callbacks", "hydra-core"):
        built = Callbacks(config)  # as Hydra builds them for a multirun
        found = compat_hydra.callbacks(HydraContext(config_loader=None, callbacks=built))
        assert any(isinstance(c, SweepCallback) for c in found)
        assert of_callbacks(found) is None  # no multirun has started


def test_singleton_replaced() -> None:
    make_config()  # Hydra's singletons exist
    original = HydraConfig.instance()
    stand_in = object()
    with checking("hydra.singleton_replaced", "hydra-core"):
        with compat_hydra.singleton_replaced(HydraConfig, stand_in):
            assert HydraConfig.instance() is stand_in
        assert HydraConfig.instance() is original


def test_config_node() -> None:
    config = make_config()
    with checking("hydra.config_node", "omegaconf"):
        node = compat_hydra.config_node(config.model, "maxIter")
        assert isinstance(node, IntegerNode)


# --- Optuna ---------------------------------------------------------------------------------

def test_live_trial() -> None:
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    asked = study.ask()
    (frozen,) = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    with checking("optuna.live_trial", "optuna"):
        compat_optuna.live_trial(study, frozen).set_user_attr("mlflow_run_id", "abc")
        assert study.trials[0].user_attrs == {"mlflow_run_id": "abc"}
        assert study.trials[0].number == asked.number


# --- pyspark --------------------------------------------------------------------------------

def test_type_tables() -> None:
    from pyspark.sql.types import IntegerType

    with checking("pyspark.mappable_types/parameterized_type_patterns", "pyspark"):
        types = compat_pyspark.mappable_types()
        assert types["integer"] is IntegerType
        patterns = compat_pyspark.parameterized_type_patterns()
        for text in ("decimal(10,2)", "char(5)", "varchar(20)"):
            assert any(p.match(text) for p in patterns), text


def test_session_and_context(spark) -> None:
    with checking("pyspark.is_live/active_context/gateway_pid", "pyspark"):
        assert compat_pyspark.is_live(spark)
        assert compat_pyspark.active_context() is spark.sparkContext
        pid = compat_pyspark.gateway_pid(spark.sparkContext)
        assert pid is not None
        assert pid > 0
        os.kill(pid, 0)  # the JVM pyspark started is alive under that id


def test_clear_job_group(spark) -> None:
    context = spark.sparkContext
    context.setJobGroup("compat-test", "a job group to clear")
    with checking("pyspark.clear_job_group", "pyspark"):
        compat_pyspark.clear_job_group(context)
        assert context.getLocalProperty("spark.jobGroup.id") is None


def test_java_object(spark) -> None:
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.linalg import Vectors

    frame = spark.createDataFrame([(0.0, Vectors.dense(0.0)), (1.0, Vectors.dense(1.0))],
                                  ["label", "features"])
    model = DecisionTreeClassifier(maxDepth=1).fit(frame)
    with checking("pyspark.java_object", "pyspark"):
        root = compat_pyspark.java_object(model).rootNode()
        assert root.getClass().getSimpleName() == "InternalNode"


def test_send_params_to_jvm(spark) -> None:
    from pyspark.ml.feature import StringIndexer

    with checking("pyspark.send_params_to_jvm", "pyspark"):
        compat_pyspark.send_params_to_jvm(StringIndexer(inputCol="a", outputCol="b"))
        with pytest.raises(Exception, match="handleInvalid"):
            compat_pyspark.send_params_to_jvm(StringIndexer(inputCol="a", outputCol="b",
                                                            handleInvalid="foo"))


def test_activate_connect_session() -> None:
    """Calling it needs a Spark Connect server (tests/test_engines.py starts one for a whole
    run); here: the method it calls is still on Connect's session class, taking the session."""
    import inspect

    from pyspark.sql.connect.session import SparkSession as ConnectSession

    with checking("pyspark.activate_connect_session", "pyspark"):
        method = ConnectSession._set_default_and_active_session
        assert list(inspect.signature(method).parameters) == ["session"]
