"""Names that follow the data set: experiment, registered model and (through the experiment)
Optuna study follow ``data.name``, so different data sets never share a champion or a study.

These are config naming rules: the config's ``${runner.experiment:${data.name}}``-style defaults
resolve through them (``register_name_resolvers``), before any store is touched.
"""

from __future__ import annotations

# The names runner gave the penguins before names came from the data: kept, since stores,
# scripts and `runner serve` users find penguins' runs and champion under them
HISTORIC_NAMES = {"penguins": ("runner", "penguin-classifier")}
_CODEC_ENDINGS = (".gz", ".bz2", ".deflate", ".lz4", ".snappy", ".zst")


def data_name(path: str) -> str:
    """A data set's default name: its file or folder name without extensions (``wine.csv.gz``,
    ``/data/wine/`` and ``s3://b/wine.parquet`` all give ``wine``)."""
    base = path.rstrip("/").rsplit("/", 1)[-1] or "data"
    for ending in _CODEC_ENDINGS:
        base = base.removesuffix(ending)
    return base.split(".", 1)[0] or base


def experiment_name(name: str) -> str:
    """The MLflow experiment of a data set: its name (penguins: ``runner``, as always)."""
    return HISTORIC_NAMES.get(name, (name, ""))[0]


def registered_model_name(name: str) -> str:
    """The registered model of a data set: ``<name>-classifier`` (penguins:
    ``penguin-classifier``)."""
    return HISTORIC_NAMES.get(name, ("", f"{name}-classifier"))[1]


NAME_RESOLVERS = {"runner.data_name": data_name, "runner.experiment": experiment_name,
                  "runner.model_name": registered_model_name}


def register_name_resolvers() -> None:
    """Make the config's ``${runner.experiment:${data.name}}``-style defaults resolvable."""
    from omegaconf import OmegaConf

    for resolver, fn in NAME_RESOLVERS.items():
        if not OmegaConf.has_resolver(resolver):
            OmegaConf.register_new_resolver(resolver, fn)
