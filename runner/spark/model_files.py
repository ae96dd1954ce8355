"""A fitted Spark model's files: written into and read from a local directory, through this
process's JVM or a Spark Connect server that shares the disk."""

from __future__ import annotations

import os
from typing import Any

from runner.compat import pyspark as compat_pyspark
from runner.errors import RunnerError, first_line
from runner.spark.session import is_connect


def saves_in_place() -> bool:
    """Spark can write a model straight into a directory of this machine: the executors are
    this process's own JVM (a local master), or a Spark Connect server that shares the disk
    (``write_model`` checks). A cluster's executors write to their own disks."""
    if is_connect():
        return True
    context = compat_pyspark.active_context()
    return context is not None and str(context.master).startswith("local")


def write_model(model: Any, local_dir: str) -> None:
    """Save a fitted model (a PipelineModel) into ``local_dir``, where ``saves_in_place``.

    Through Spark Connect the server writes the files, so the directory must be one it shares
    with this client: the same machine or a shared mount. Elsewhere the check below says so
    instead of logging a model with no files.
    """
    uri = "file://" + os.path.abspath(local_dir)
    try:
        model.write().overwrite().save(uri)
    except Exception as exc:
        where = "the Spark Connect server" if is_connect() else "Spark"
        raise RunnerError(f"{where} could not save the model to {uri}: "
                          f"{first_line(exc)}") from exc
    if not os.path.isdir(local_dir):
        raise RunnerError(f"the Spark Connect server saved the model to {uri} on its own "
                          "filesystem, which this client does not see; run the client where "
                          "that path is shared, use spark.master, or set tracking.log_models=none")


def read_model(local_dir: str) -> Any:
    """Load a PipelineModel saved in ``local_dir`` through a Spark Connect server (which must see
    the directory, as for ``write_model``)."""
    from pyspark.ml import PipelineModel

    return PipelineModel.load("file://" + os.path.abspath(local_dir))
