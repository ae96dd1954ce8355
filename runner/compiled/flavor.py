"""Give a Spark-flavored MLflow model a JVM-free ``python_function`` flavor.

``add_compiled_pyfunc`` rewrites a directory written by ``mlflow.spark.save_model``: the compiled
scorer goes into ``compiled/`` and ``python_function`` points at ``runner.compiled.pyfunc``, while
the ``spark`` flavor stays, so ``mlflow.spark.load_model`` still returns the PipelineModel.
``save_model`` makes this module a flavor for ``mlflow.models.Model.log``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from runner.compiled.compiler import compile_pipeline
from runner.compiled.frame import UnsupportedStage

COMPILED_DIR = "compiled"
LOADER_MODULE = "runner.compiled.pyfunc"
_log = logging.getLogger(__name__)


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
    from mlflow.models import Model
    from mlflow.pyfunc import FLAVOR_NAME, add_to_model

    try:
        compiled = compile_pipeline(spark_model, input_schema, class_names)
    except UnsupportedStage as exc:
        return f"unsupported stage: {exc}"
    compiled.save(os.path.join(model_dir, COMPILED_DIR))
    mlmodel_path = os.path.join(model_dir, "MLmodel")
    model = mlflow_model if mlflow_model is not None else Model.load(mlmodel_path)
    spark_pyfunc = model.flavors.get(FLAVOR_NAME, {})
    env = spark_pyfunc.get("env", {})
    add_to_model(model, loader_module=LOADER_MODULE, data=COMPILED_DIR,
                 conda_env=env.get("conda"), python_env=env.get("virtualenv"))
    model.save(mlmodel_path)
    return None


def save_model(path: str, mlflow_model: Any, spark_model: Any, input_schema: dict[str, str],
               class_names: list[str] | None = None, **kwargs: Any) -> None:
    """The ``flavor.save_model`` that ``mlflow.models.Model.log`` calls: spark, then compiled.

    ``kwargs`` go to ``mlflow.spark.save_model`` (signature, pip_requirements, ...). A pipeline
    that cannot be compiled keeps MLflow's Spark-backed python_function, with a warning.
    """
    import mlflow.spark

    from runner import spark

    if spark.saves_in_place():
        _save_spark_in_place(spark_model, path, mlflow_model, **kwargs)
    else:
        mlflow.spark.save_model(spark_model, path, mlflow_model=mlflow_model, **kwargs)
    reason = add_compiled_pyfunc(path, spark_model, input_schema, class_names, mlflow_model)
    if reason:
        _log.warning("serving falls back to Spark: %s", reason)


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
    from mlflow.spark import _SPARK_MODEL_PATH_SUB, _save_model_metadata

    from runner import spark

    os.makedirs(path, exist_ok=True)
    spark.write_model(spark_model, os.path.join(path, _SPARK_MODEL_PATH_SUB))
    _save_model_metadata(dst_dir=path, spark_model=spark_model,
                         mlflow_model=mlflow_model if mlflow_model is not None else Model(),
                         conda_env=None, code_paths=None, signature=signature,
                         pip_requirements=pip_requirements)
