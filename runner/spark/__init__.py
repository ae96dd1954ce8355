"""Spark: the one place that creates the SparkSession (``session``: local, a cluster master or
Spark Connect; one per process), a fitted model's files (``model_files``), the JVM's class-data
archive (``class_archive``) and atomic output folders (``output``)."""

from runner.spark.model_files import read_model, saves_in_place, write_model
from runner.spark.session import (
    active_session,
    get_session,
    in_thread,
    is_connect,
    java_version,
    keep,
    master_of,
    start_async,
)

__all__ = [
    "active_session",
    "get_session",
    "in_thread",
    "is_connect",
    "java_version",
    "keep",
    "master_of",
    "read_model",
    "saves_in_place",
    "start_async",
    "write_model",
]
