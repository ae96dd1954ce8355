"""Every private (underscore) MLflow name runner relies on, each behind one small function.

Checked against mlflow 3.17.2 (pyproject pins ``mlflow>=3.17,<3.18``). tests/test_compat_mlflow.py
calls each function against the installed MLflow, with a real store, so an MLflow that moves or
changes one of these names fails there, loudly, and not in the middle of a run. MLflow is
imported inside each function: importing it takes over a second, and serving a model from a
local store, or checking a config, runs without it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

# MLflow 3.17's built-in tracking store schemes, as mlflow.tracking._tracking_service.utils
# registers them (``_register_tracking_stores``); plugins add theirs through the
# ``mlflow.tracking_store`` entry point group. A constant: checking a URI must not import MLflow.
TRACKING_STORE_SCHEMES = frozenset({"", "file", "databricks", "databricks-uc", "uc", "http",
                                    "https", "postgresql", "mysql", "sqlite", "mssql"})
# The folder, inside the spark flavor's model directory, holding the Spark model
# (mlflow.spark._SPARK_MODEL_PATH_SUB): runner writes it there itself when it saves in place
SPARK_MODEL_DIR = "sparkml"


def create_sqlalchemy_store(uri: str) -> None:
    """Create the database store at ``uri`` with MLflow's own code (every migration to head and
    the default experiment), then close its connections.

    MLflow keeps one engine per URI for the life of the process (``SqlAlchemyStore._engine_map``):
    dropped here, so the file is closed and can be renamed or published.
    """
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    try:
        _get_sqlalchemy_store(uri, None)
    finally:
        engine = SqlAlchemyStore._engine_map.pop(uri, None)
        if engine is not None:
            engine.dispose()


def warm_requirements_map() -> None:
    """Build now the map of installed distributions that MLflow's requirement check builds when
    the first model is logged (~0.25 s), so that it can be done off the critical path."""
    try:
        from mlflow.utils.requirements_utils import _init_modules_to_packages_map
    except ImportError:  # another MLflow: the check builds it when it needs it, nothing is lost
        return
    _init_modules_to_packages_map()


def save_spark_metadata(path: str, spark_model: Any, mlflow_model: Any, signature: Any = None,
                        pip_requirements: list[str] | None = None) -> None:
    """The spark flavor's MLmodel, requirement and environment files for a Spark model already
    written to ``path/SPARK_MODEL_DIR``: what ``mlflow.spark.save_model`` writes beside it."""
    from mlflow.spark import _save_model_metadata

    _save_model_metadata(dst_dir=path, spark_model=spark_model, mlflow_model=mlflow_model,
                         conda_env=None, code_paths=None, signature=signature,
                         pip_requirements=pip_requirements)


def save_input_example(mlflow_model: Any, input_example: Any, path: str) -> None:
    """MLflow's own example files (input_example.json, serving_input_example.json) in ``path``,
    and their keys in ``mlflow_model`` (not saved: the caller saves the MLmodel)."""
    from mlflow.models.utils import _save_example

    _save_example(mlflow_model, input_example, path)


def migration_scripts() -> str | None:
    """The folder of the installed MLflow's database migration scripts (one per schema
    revision), found without importing MLflow; None when MLflow is not installed."""
    spec = importlib.util.find_spec("mlflow")
    packages = list(spec.submodule_search_locations or []) if spec else []
    if not packages:
        return None
    return os.path.join(packages[0], "store", "db_migrations", "versions")


@contextlib.contextmanager
def event_lines_to(sink: Callable[[str], None]) -> Iterator[None]:
    """During the block, each line MLflow prints to its event stream
    (``mlflow.utils.logging_utils.MLFLOW_LOGGING_STREAM``: ``eprint`` notes such as
    "Successfully registered model", and its loggers' records) goes to ``sink`` instead of
    stderr."""
    from mlflow.utils import logging_utils

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    pending: list[str] = []

    def write(text: str) -> None:
        pending.append(text)
        joined = "".join(pending)
        *lines, rest = joined.split("\n")
        pending[:] = [rest] if rest else []
        for line in lines:
            sink(line)

    stream.write = write  # type: ignore[method-assign]
    try:
        yield
    finally:
        del stream.write  # the class's own write again
        if pending:
            sink("".join(pending))
