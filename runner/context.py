"""What the runs of one task share: the data spec, prepared data, built and fitted feature stages,
Spark workers.

A task makes one ``RunContext`` and passes it to the steps that use it: a single run makes its
own; a sweep makes one for all its trials in this process, so trials that differ only in the
classifier read and split the data once and fit the feature stages once. Nothing here outlives
the context: a second one starts cold, and tests get no state from earlier tests.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Spark work beside MLflow calls: one thread per concurrent trial of a sweep (hydra n_jobs)
SPARK_WORKERS = 8


@dataclass
class Featurized:
    """Feature stages fitted on a training split, and splits passed through them (cached)."""

    stages: list[Any]  # fitted feature stages, in pipeline order
    splits: dict[str, DataFrame]  # split name -> the split with the feature columns


@dataclass(eq=False)
class RunContext:
    """Caches keyed by ``config_key`` of the config groups they depend on, and the Spark pool.

    Trials may run in threads (hydra.sweeper.n_jobs), so each cache has its lock, held while
    it is filled: trials that ask at once wait for one resolution and one preparation of the
    data (``data_lock``, for ``specs`` and ``datasets``), one build of the stages
    (``built_lock``), one fit of the feature stages (``lock``, also for ``featurized`` and
    ``collected``), one assignment of folds (``data_lock``) instead of each doing it.
    """

    # runner.data.spec.DataSpec and runner.data.dataset.Dataset values, untyped here: data
    # imports this module
    specs: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, Any] = field(default_factory=dict)
    built: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)  # unfitted stages
    featurized: dict[str, Featurized] = field(default_factory=dict)
    collected: dict[str, dict[str, dict[str, list[Any]]]] = field(default_factory=dict)
    # runner.pipeline.cv.Folds values: a sweep's folds (or validation split), built once
    folds: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    data_lock: threading.Lock = field(default_factory=threading.Lock)
    built_lock: threading.Lock = field(default_factory=threading.Lock)
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        max_workers=SPARK_WORKERS, thread_name_prefix="spark-work"))

    def close(self) -> None:
        """Let the pool's threads go once their work is done (the caches stay readable)."""
        self.pool.shutdown(wait=False)


def config_key(*groups: Any) -> str:
    """A cache key for resolved config groups: equal keys mean the same data or stages.

    Resolved, because a sweep may change them through an interpolation (``seed``); JSON of the
    plain containers, which is a few times cheaper than the YAML the caches were keyed by.
    """
    plain = [OmegaConf.to_container(g, resolve=True) if OmegaConf.is_config(g) else g
             for g in groups]
    return json.dumps(plain, sort_keys=True, default=str)
