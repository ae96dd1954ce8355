"""Give a Spark-flavored MLflow model a JVM-free, self-contained ``python_function`` flavor.

``add_compiled_pyfunc`` rewrites a directory written by ``mlflow.spark.save_model``: the compiled
scorer's fitted values go into ``compiled/``, the scorer's own code into ``code/runner_scorer/``
(MLflow's ``code_paths`` layout: the ``code`` directory is put on ``sys.path`` before the loader
is imported), and ``python_function`` points at ``runner_scorer.pyfunc``. The model therefore
loads with mlflow(-skinny), numpy and pandas alone, where runner is not installed. The ``spark``
flavor stays, so ``mlflow.spark.load_model`` still returns the PipelineModel. ``save_model``
makes this module a flavor for ``mlflow.models.Model.log``.

Models logged before the code travelled with them name ``runner.compiled.pyfunc`` as their loader
(``runner.compiled.LEGACY_LOADER_MODULE``): that module stays, so they keep loading where runner
is installed.

This is MLflow model logging (it saves the spark flavor through Spark), so it lives with tracking,
above the scorer it ships. No logged file names this module: MLflow records a flavor module's name
only in its telemetry.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

import runner.compiled
from runner import spark
from runner.compat import mlflow as mlflow_compat
from runner.compiled import (
    LOADER_MODULE,
    SCORER_MODULES,
    SCORER_PACKAGE,
    CompiledPipeline,
    ScoringError,
    UnsupportedStage,
    compile_pipeline,
)

COMPILED_DIR = "compiled"
CODE_DIR = "code"
INPUT_EXAMPLE_ROWS = 1
_log = logging.getLogger(__name__)


def scorer_requirements() -> list[str]:
    """What loading the compiled pyfunc needs, pinned to this environment's versions: MLflow's
    client (without its server and UI), numpy and pandas. No pyspark, no runner."""
    from importlib.metadata import PackageNotFoundError, version

    import mlflow
    import numpy
    import pandas

    try:
        skinny = version("mlflow-skinny")
    except PackageNotFoundError:  # a full mlflow install of its own: same version numbers
        skinny = mlflow.__version__
    return [f"mlflow-skinny=={skinny}", f"numpy=={numpy.__version__}",
            f"pandas=={pandas.__version__}"]


def add_compiled_pyfunc(model_dir: str, spark_model: Any, input_schema: dict[str, str],
                        class_names: list[str] | None = None, mlflow_model: Any = None
                        ) -> str | None:
    """Compile ``spark_model`` into ``model_dir`` and point ``python_function`` at it.

    Args:
        model_dir: a local directory written by ``mlflow.spark.save_model``.
        spark_model: the fitted PipelineModel saved there.
        input_schema: raw input column -> Spark SQL type.
        class_names: the name of each class index, if known.
        mlflow_model: the in-memory ``Model`` being saved, if any (else read from the MLmodel).

    Returns:
        None when the compiled flavor is in place; otherwise why compilation failed, in which case
        MLflow's own python_function flavor (scoring through Spark) is left untouched.
    """
    try:
        compiled = compile_pipeline(spark_model, input_schema, class_names)
    except UnsupportedStage as exc:
        return f"unsupported stage: {exc}"
    write_compiled_pyfunc(model_dir, compiled, mlflow_model)
    return None


def write_compiled_pyfunc(model_dir: str, compiled: CompiledPipeline,
                          mlflow_model: Any = None) -> None:
    """Write the scorer's data and code into ``model_dir`` and make it the python_function."""
    from mlflow.models import Model
    from mlflow.pyfunc import FLAVOR_NAME, add_to_model

    compiled.save(os.path.join(model_dir, COMPILED_DIR))
    copy_scorer_code(os.path.join(model_dir, CODE_DIR))
    mlmodel_path = os.path.join(model_dir, "MLmodel")
    model = mlflow_model if mlflow_model is not None else Model.load(mlmodel_path)
    spark_pyfunc = model.flavors.get(FLAVOR_NAME, {})
    env = spark_pyfunc.get("env", {})
    add_to_model(model, loader_module=LOADER_MODULE, data=COMPILED_DIR, code=CODE_DIR,
                 conda_env=env.get("conda"), python_env=env.get("virtualenv"))
    model.save(mlmodel_path)


def copy_scorer_code(code_dir: str) -> None:
    """``code_dir/runner_scorer/``: the scoring modules of this package under their own name.

    They import one another relatively, so the copy imports as ``runner_scorer`` without runner
    (and beside an installed runner without shadowing it)."""
    source = os.path.dirname(os.path.abspath(runner.compiled.__file__))
    target = os.path.join(code_dir, SCORER_PACKAGE)
    os.makedirs(target, exist_ok=True)
    for name in SCORER_MODULES:
        shutil.copyfile(os.path.join(source, f"{name}.py"), os.path.join(target, f"{name}.py"))
    with open(os.path.join(target, "__init__.py"), "w") as f:
        f.write('"""runner\'s compiled scorer, shipped inside an MLflow model (numpy and pandas '
                f'only).\n\nLoaded by MLflow as ``loader_module: {LOADER_MODULE}``."""\n')


def save_model(path: str, mlflow_model: Any, spark_model: Any, input_schema: dict[str, str],
               class_names: list[str] | None = None, input_example: Any = None,
               validate_serving_input: bool = True, **kwargs: Any) -> None:
    """The ``flavor.save_model`` that ``mlflow.models.Model.log`` calls: spark, then compiled.

    ``kwargs`` go to ``mlflow.spark.save_model`` (signature, pip_requirements, ...). Compiled,
    the model's requirements are the scorer's (``scorer_requirements``): serving it needs no
    pyspark. A pipeline that cannot be compiled keeps MLflow's Spark-backed python_function and
    the given requirements, with a warning. ``input_example`` (a pandas DataFrame) is saved as
    MLflow saves one and scored by the compiled pipeline in memory (a warning if it fails).
    ``validate_serving_input`` is Model.log's switch for its own check, taken here so that it
    does not reach Spark's save: that check loads the saved model as a pyfunc, through Spark for
    the fallback and, for the compiled one, by importing the model's code copy from a temporary
    directory into this process. runner turns it off.
    """
    import mlflow.spark

    try:
        compiled: CompiledPipeline | None = compile_pipeline(spark_model, input_schema,
                                                             class_names)
    except UnsupportedStage as exc:
        compiled = None
        _log.warning("serving falls back to Spark: unsupported stage: %s", exc)
    if compiled is not None:
        kwargs["pip_requirements"] = scorer_requirements()
    if spark.saves_in_place():
        _save_spark_in_place(spark_model, path, mlflow_model, **kwargs)
    else:
        mlflow.spark.save_model(spark_model, path, mlflow_model=mlflow_model, **kwargs)
    if compiled is not None:
        write_compiled_pyfunc(path, compiled, mlflow_model)
    if input_example is not None:
        _save_input_example(path, mlflow_model, input_example)
        if compiled is not None:
            _check_example(compiled, input_example)


def _check_example(compiled: CompiledPipeline, example: Any) -> None:
    try:
        compiled.predict_pandas(example)
    except ScoringError as exc:
        _log.warning("the model's input example does not score: %s", exc)


def _save_input_example(path: str, mlflow_model: Any, input_example: Any) -> None:
    """MLflow's own example files (input_example.json, serving_input_example.json) and MLmodel
    keys; the model was saved with an explicit signature, so nothing is inferred from it."""
    mlflow_compat.save_input_example(mlflow_model, input_example, path)
    mlflow_model.save(os.path.join(path, "MLmodel"))


def _save_spark_in_place(spark_model: Any, path: str, mlflow_model: Any,
                         signature: Any = None, pip_requirements: list[str] | None = None,
                         **_: Any) -> None:
    """The spark flavor as ``mlflow.spark.save_model`` writes it, written in place.

    MLflow's save writes the model to a DFS temp directory and copies it to ``path`` through
    the local JVM: needed when a cluster's executors write, ~0.3 s of copying for a local
    master, impossible for a Connect client (no local JVM: AttributeError on
    ``SparkContext._gateway``). Where ``spark.saves_in_place``, Spark writes ``sparkml/``
    straight into ``path`` and MLflow's own helper writes the metadata beside it.
    """
    from mlflow.models import Model

    os.makedirs(path, exist_ok=True)
    spark.write_model(spark_model, os.path.join(path, mlflow_compat.SPARK_MODEL_DIR))
    mlflow_compat.save_spark_metadata(
        path, spark_model, mlflow_model if mlflow_model is not None else Model(),
        signature=signature, pip_requirements=pip_requirements)
