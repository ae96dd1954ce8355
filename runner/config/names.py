"""Names that follow the task: experiment, registered model and (through the experiment) Optuna
study follow ``data.name`` and ``data.label`` (``palmerpenguins-species``,
``palmerpenguins-sex``), so models of different data sets or labels never share a lineage, a
champion or a study.

These are config naming rules: the config's ``${runner.experiment:${data.name},${data.label}}``
defaults resolve through them (``register_name_resolvers``), before any store is touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# The names runner gave the lab's task (penguins, label Species) before names came from the
# data: kept, since stores, scripts and `runner serve` users find its runs and champion there
HISTORIC_NAMES = {("penguins", "Species"): ("runner", "penguin-classifier")}
_CODEC_ENDINGS = (".gz", ".bz2", ".deflate", ".lz4", ".snappy", ".zst")


def data_name(path: str) -> str:
    """A data set's default name: its file or folder name without extensions (``wine.csv.gz``,
    ``/data/wine/`` and ``s3://b/wine.parquet`` all give ``wine``)."""
    base = path.rstrip("/").rsplit("/", 1)[-1] or "data"
    for ending in _CODEC_ENDINGS:
        base = base.removesuffix(ending)
    return base.split(".", 1)[0] or base


def task_name(name: str, label: str) -> str:
    """``<data name>-<label>``, with the label's characters a registered model name or a
    ``models:/`` URI could not carry (``/``, ``:``, spaces) as ``_``."""
    return f"{name}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', str(label))}"


def _names(name: str, label: str | None) -> tuple[str, str]:
    """(experiment, registered model) of a task. Without a label (a config written before the
    names took it) the data name alone: ``<name>`` and ``<name>-classifier``."""
    if label is None:
        return HISTORIC_NAMES[("penguins", "Species")] if name == "penguins" else (
            name, f"{name}-classifier")
    return HISTORIC_NAMES.get((name, str(label))) or (task_name(name, label),) * 2


def experiment_name(name: str, label: str | None = None) -> str:
    """The MLflow experiment of a task: ``<name>-<label>`` (the lab's: ``runner``)."""
    return _names(name, label)[0]


def registered_model_name(name: str, label: str | None = None) -> str:
    """The registered model of a task: ``<name>-<label>`` (the lab's: ``penguin-classifier``)."""
    return _names(name, label)[1]


NAME_RESOLVERS: dict[str, Callable[..., str]] = {
    "runner.data_name": data_name, "runner.experiment": experiment_name,
    "runner.model_name": registered_model_name}


def register_name_resolvers() -> None:
    """Make the config's ``${runner.experiment:${data.name},${data.label}}`` defaults
    resolvable."""
    from omegaconf import OmegaConf

    for resolver, fn in NAME_RESOLVERS.items():
        if not OmegaConf.has_resolver(resolver):
            OmegaConf.register_new_resolver(resolver, fn)
