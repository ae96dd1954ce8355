"""The data a task reads, resolved once: where it is, its format, reader options, columns and
their Spark types, label, classes and split, as one frozen value (``DataSpec``).

``DataSpec.resolve`` is the one place that resolves ``data.path``, tells the format and infers
the schema (``formats``, ``schema``); everything downstream reads the spec's fields. A task
builds it once (``for_task``: a sweep's trials share it through their ``RunContext``), so a file
changed on disk is read afresh by the next task, never by a cache of the process.
``DataSpec.logged`` reads the spec a model's run logged (``runner serve``, ``runner predict``):
the data itself need not exist any more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from omegaconf import OmegaConf

from runner.config.enums import value_of
from runner.config.schemas import DataConfig
from runner.context import RunContext, config_key
from runner.data import formats, schema
from runner.data.markers import markers
from runner.errors import RunnerError


@dataclass(frozen=True)
class Split:
    """``data.split``: the train and test weights of ``randomSplit``, its seed, and the
    fraction of the training part sweeps validate on (0: k-fold cross-validation)."""

    train: float
    test: float
    seed: int
    validation: float = 0.0


@dataclass(frozen=True)
class DataSpec:
    """One task's data, resolved. ``key`` is the cache key of the data config it came from:
    the ``RunContext`` keeps prepared data under it."""

    name: str
    source: str  # data.path as the config gives it (messages, the logged data.path param)
    path: str  # resolved: a local absolute path, a packaged file's path, or a remote URL
    format: str
    options: Mapping[str, str]  # data.options, plus sep=\t for .tsv data given no separator
    schema: Mapping[str, str]  # every column read, in the source's order -> Spark SQL type
    label: str
    class_names: tuple[str, ...]  # empty when the config's were written for another file
    label_order: str
    positive_class: str | None
    missing: str
    impute_strategy: str
    split: Split
    written_for: str | None
    key: str
    na_values: tuple[str, ...] = ()  # CSV cells read as missing (data.na_values + nullValue)
    # data.test_path resolved: the holdout file that is the test split (data.path is then all
    # training data), its format and the path as given; None without one
    test_path: str | None = None
    test_format: str | None = None
    test_source: str | None = None

    @property
    def feature_columns(self) -> list[str]:
        """The input columns a prediction request must carry: the schema minus the label."""
        return [c for c in self.schema if c != self.label]

    @property
    def imputes(self) -> bool:
        """Whether missing feature values are filled (data.missing=impute) rather than dropped."""
        return self.missing == "impute"

    @classmethod
    def resolve(cls, data: Any, key: str | None = None) -> DataSpec:
        """The spec of a ``data`` config group (composed, or the dataclass): path resolved,
        format told, local files checked and their schema inferred, here only.

        Raises:
            RunnerError: a path that does not exist, a format that cannot be told, a local
                input Spark would read wrongly, or a schema that cannot be known before Spark.
        """
        key = key if key is not None else config_key(_as_config(data))
        cfg = typed(data)
        path = formats.resolve_path(cfg.path)
        data_format = formats.format_of(path, cfg.format)
        if "://" not in path and "pathGlobFilter" not in cfg.options:
            formats.check_files(path, data_format)
        options = schema.reader_options(cfg, path)
        na_values = tuple(markers(cfg))
        inferred = schema.infer(path, data_format, options, cfg.label, na_values)
        own = schema.own_file(cfg, inferred)
        return cls(
            name=cfg.name, source=cfg.path, path=path, format=data_format,
            options=MappingProxyType(options), schema=MappingProxyType(
                schema.schema_of(cfg, inferred)),
            label=cfg.label, class_names=tuple(str(n) for n in cfg.class_names) if own else (),
            label_order=value_of(cfg.label_order), positive_class=_text(cfg.positive_class),
            missing=value_of(cfg.missing), impute_strategy=cfg.impute_strategy,
            split=Split(float(cfg.split.train), float(cfg.split.test), int(cfg.split.seed),
                        float(cfg.split.validation or 0.0)),
            written_for=cfg.written_for, key=key, na_values=na_values,
            **_holdout(cfg.test_path, data_format),
        )

    @classmethod
    def logged(cls, data: Mapping[str, Any]) -> DataSpec:
        """The spec a run logged (its ``config.yaml``'s ``data``, written out by ``settled``),
        read as it is: the data may be gone. A format the run left null is told from the path
        when it still resolves, else left empty."""
        path = str(data.get("path") or "")
        split = data.get("split") or {}
        return cls(
            name=str(data.get("name") or ""), source=path, path=path,
            format=str(data.get("format") or _told_format(path)),
            options=MappingProxyType({str(k): str(v) for k, v in
                                      (data.get("options") or {}).items()}),
            schema=MappingProxyType({str(c): str(t) for c, t in
                                     (data.get("schema") or {}).items()}),
            label=str(data.get("label") or ""),
            class_names=tuple(str(n) for n in data.get("class_names") or []),
            label_order=value_of(data.get("label_order") or "frequencyDesc"),
            positive_class=_text(data.get("positive_class")),
            missing=value_of(data.get("missing") or "drop"),
            impute_strategy=str(data.get("impute_strategy") or "mean"),
            split=Split(float(split.get("train", 0.7)), float(split.get("test", 0.3)),
                        int(split.get("seed", 42)), float(split.get("validation") or 0.0)),
            written_for=data.get("written_for"), key=config_key(dict(data)),
            na_values=tuple(markers(data)),
        )

    def named(self, class_names: list[str]) -> DataSpec:
        """This spec with the class names the data gave (a label runner indexes and no
        ``data.class_names``): they are then the data's own, whatever ``written_for`` said."""
        return dataclasses.replace(self, class_names=tuple(class_names), written_for=None)


def for_task(data: Any, context: RunContext) -> DataSpec:
    """The spec of ``data`` for this task: resolved on the first ask, then kept in ``context``
    under the resolved data config (a sweep's trials share it; a swept data key is another)."""
    key = config_key(_as_config(data))
    with context.data_lock:
        if key not in context.specs:
            context.specs[key] = DataSpec.resolve(data, key)
        spec: DataSpec = context.specs[key]
        return spec


def typed(data: Any) -> DataConfig:
    """The ``data`` group as its schema dataclass (``OmegaConf.to_object``, once per spec):
    enums as members, ``${seed}`` resolved. An untyped group (a logged config) is merged onto
    the schema first, so a key the schema lacks is refused as at compose time."""
    if isinstance(data, DataConfig):
        return data
    node = _as_config(data)
    if OmegaConf.get_type(node) is not DataConfig:
        node = OmegaConf.merge(OmegaConf.structured(DataConfig), node)
    found = OmegaConf.to_object(node)
    assert isinstance(found, DataConfig)  # merged onto the schema just above
    return found


def _as_config(data: Any) -> Any:
    if OmegaConf.is_config(data):
        return data
    if isinstance(data, DataConfig):
        return OmegaConf.structured(data)
    return OmegaConf.create(dict(data))


def _holdout(test_path: str | None, data_format: str) -> dict[str, str | None]:
    """The spec's test_* fields for ``data.test_path`` (none without one)."""
    if not test_path:
        return {}
    path = formats.resolve_path(test_path)
    try:
        test_format = formats.format_of(path, None)
    except RunnerError:  # a name that says nothing: the training data's format
        test_format = data_format
    return {"test_path": path, "test_format": test_format, "test_source": test_path}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _told_format(path: str) -> str:
    """The format a run read ``path`` as when its config left data.format null (told by the
    path then, as now); empty when the path says nothing or is gone."""
    if not path:
        return ""
    try:
        return formats.format_of(formats.resolve_path(path), None)
    except RunnerError:
        return ""
