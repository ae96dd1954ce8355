"""Feature stages from the ``features`` config, in the order they are listed.

The wiring is checked from config alone, before the JVM starts: every stage reads columns that
data.schema has or an earlier stage wrote, and the stages produce ``features.output_col``. With
``data.missing=impute`` an Imputer is put first, so the fitted pipeline (and so serving) fills
missing numeric values itself, and StringIndexers keep nulls in their own bucket.

A stage's ``inputCols`` may select columns by rule rather than by name (``features=auto``):
``{numeric: all}``, ``{categorical: all}`` (string columns), either with ``exclude: [...]``, or
``{exclude: [...]}`` alone (every feature column but those), and ``{outputs_of: <stage>}`` (an
earlier stage's outputs); a list may mix names and rules. ``outputCols: {suffix: _x}`` names one
output per input. Rules are resolved against ``data.schema_of`` minus the label. A stage
whose rules select nothing is left out, and so is its output wherever a later stage reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from runner.errors import RunnerError
from runner.pipeline import stages
from runner.pipeline.context import RunContext, config_key
from runner.pipeline.data import NUMERIC_TYPES, feature_columns, schema_of

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

INPUT_KEYS = ("inputCol", "inputCols")
OUTPUT_KEYS = ("outputCol", "outputCols")
IMPUTER = "impute_missing"
_NUMERIC = {*NUMERIC_TYPES, "short", "real"}
RULE_KEYS = ("numeric", "categorical", "exclude", "outputs_of")


def _columns(spec: Any, keys: tuple[str, ...]) -> list[str]:
    """Column names a spec sets under ``keys`` (a name or a list of names)."""
    found: list[str] = []
    for key in keys:
        value = spec.get(key)
        if value is not None:
            found.extend([value] if isinstance(value, str) else list(value))
    return found


def numeric_columns(data: Any) -> list[str]:
    """Feature columns whose type is numeric: the ones the Imputer fills."""
    types = {c: t.strip().lower() for c, t in schema_of(data).items() if c != data.label}
    return [c for c, t in types.items() if t in _NUMERIC or t.startswith("decimal")]


def categorical_columns(data: Any) -> list[str]:
    """Feature columns read as text: the ones ``{categorical: all}`` selects."""
    types = {c: t.strip().lower() for c, t in schema_of(data).items() if c != data.label}
    return [c for c, t in types.items() if t == "string" or t.startswith(("char", "varchar"))]


def imputes(data: Any) -> bool:
    return str(getattr(data.missing, "value", data.missing)) == "impute"


def resolved(cfg: Any, data: Any) -> list[tuple[str, Any]]:
    """The stages in order as (name, spec), column rules replaced by names; stages whose rules
    select nothing (no string columns for a one-hot encoder) left out."""
    found: list[tuple[str, Any]] = []
    outputs: dict[str, list[str]] = {}
    skipped: set[str] = set()  # columns the stages left out would have written
    for name, spec in cfg.stages.items():
        if not isinstance(spec, (dict, DictConfig)):
            found.append((name, spec))  # stages.check names the mistake
            continue
        where = f"features.stages.{name}"
        plain, kept = _resolve(stages.plain(spec), data, outputs, skipped, where)
        outputs[name] = _columns(plain, OUTPUT_KEYS) if kept else []
        if kept:
            found.append((name, plain))
        else:
            skipped.update(_columns(plain, OUTPUT_KEYS))
    return found


def _resolve(spec: dict[str, Any], data: Any, outputs: dict[str, list[str]], skipped: set[str],
             where: str) -> tuple[dict[str, Any], bool]:
    """The spec with its rules resolved, and whether the stage still has columns to read."""
    single = spec.get("inputCol")
    if isinstance(single, dict):
        raise RunnerError(f"{where}.inputCol: a column rule may select several columns; "
                          "use inputCols")
    if single in skipped:
        return spec, False
    value = spec.get("inputCols")
    if value is None or isinstance(value, str):
        return spec, True  # one name is not a list: stages.check names the mistake
    names: list[str] = []
    ruled = False
    for item in [value] if isinstance(value, dict) else list(value):
        if isinstance(item, dict):
            ruled = True
            names += _select(item, data, outputs, f"{where}.inputCols")
        elif item in skipped:
            ruled = True
        else:
            names.append(item)
    spec = {**spec, "inputCols": list(dict.fromkeys(names))}
    suffix = spec.get("outputCols")
    if isinstance(suffix, dict):
        if set(suffix) != {"suffix"}:
            raise RunnerError(f"{where}.outputCols: a rule here is {{suffix: <text>}}, one output "
                              f"per input column; got {suffix}")
        spec["outputCols"] = [c + str(suffix["suffix"]) for c in spec["inputCols"]]
    return spec, bool(spec["inputCols"]) or not ruled


def _select(rule: dict[str, Any], data: Any, outputs: dict[str, list[str]], where: str
            ) -> list[str]:
    """The columns a rule selects, in schema (or stage output) order."""
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown:
        raise RunnerError(f"{where}: unknown column rule key(s) {unknown}; rules are "
                          f"{', '.join(RULE_KEYS)}")
    if "outputs_of" in rule:
        if rule["outputs_of"] not in outputs:
            raise RunnerError(f"{where}: outputs_of={rule['outputs_of']!r} names no earlier stage; "
                              f"earlier: {list(outputs)}")
        chosen = outputs[rule["outputs_of"]]
    else:
        kinds = {"numeric": numeric_columns, "categorical": categorical_columns}
        for kind in kinds:
            if kind in rule and rule[kind] != "all":
                raise RunnerError(f"{where}.{kind}={rule[kind]!r}: the only value is 'all'")
        picked = {c for kind, of in kinds.items() if kind in rule for c in of(data)}
        chosen = [c for c in feature_columns(data) if not picked or c in picked]
        if not picked and any(k in rule for k in kinds):
            chosen = []
    exclude = [rule["exclude"]] if isinstance(rule.get("exclude"), str) else list(
        rule.get("exclude") or [])
    unknown = [c for c in exclude if c not in feature_columns(data) and c not in chosen]
    if unknown:
        raise RunnerError(f"{where}.exclude: {unknown} are not feature columns; they are "
                          f"{feature_columns(data)}")
    return [c for c in chosen if c not in exclude]


def check(cfg: Any, data: Any) -> None:
    """Check every stage's class, params and column wiring (no JVM needed)."""
    available = set(feature_columns(data))
    produced: set[str] = set()
    for name, spec in resolved(cfg, data):
        where = f"features.stages.{name}"
        cls = stages.check(spec, where)
        for column in _columns(spec, INPUT_KEYS):
            _check_input(column, available, data.label, where)
        outputs = _columns(spec, OUTPUT_KEYS)
        if not any(hasattr(cls, key) for key in OUTPUT_KEYS):
            return  # its outputs cannot be known from config (e.g. RFormula): stop checking here
        if not outputs:
            raise RunnerError(f"{where}: set outputCol (or outputCols) so later stages can read it")
        for column in outputs:
            if column in available:
                raise RunnerError(f"{where}: output column {column!r} already exists")
        available.update(outputs)
        produced.update(outputs)
    if cfg.output_col not in produced:
        raise RunnerError(
            f"features.output_col={cfg.output_col!r} is not produced by any feature stage; "
            f"they produce {sorted(produced)}"
        )


def _check_input(column: str, available: set[str], label: str, where: str) -> None:
    if column == label:
        raise RunnerError(f"{where}: reads the label {label!r}, which serving requests lack")
    if column not in available:
        raise RunnerError(
            f"{where}: input column {column!r} is not in data.schema nor written by an earlier "
            f"stage; available: {sorted(available)}"
        )


def build(cfg: Any, data: Any, context: RunContext | None = None) -> list[tuple[str, Any]]:
    """The stages as (config name, stage) pairs; an Imputer first if data.missing=impute.

    Built once per ``context`` for the same configs: the trials of a sweep share them
    (unfitted; nothing changes a stage after it is built), which saves a JVM object per stage
    and param. Without a context they are built afresh.
    """
    if context is None:
        return _build(cfg, data)
    key = config_key(cfg, data)
    with context.built_lock:
        if key not in context.built:
            context.built[key] = _build(cfg, data)
        return list(context.built[key])


def _build(cfg: Any, data: Any) -> list[tuple[str, Any]]:
    named = []
    if imputes(data) and numeric_columns(data):
        named.append((IMPUTER, _imputer(data)))
    for name, spec in resolved(cfg, data):
        extra = _keep_nulls(spec, data) if imputes(data) else {}
        named.append((name, stages.build(spec, f"features.stages.{name}", **extra)))
    return named


def _imputer(data: Any) -> Any:
    """Fill the numeric feature columns in place, so the configured stages read them unchanged."""
    columns = numeric_columns(data)
    spec = {"_target_": "pyspark.ml.feature.Imputer", "inputCols": columns, "outputCols": columns,
            "strategy": data.impute_strategy}
    return stages.build(spec, f"features.{IMPUTER} (data.missing=impute)")


def _keep_nulls(spec: Any, data: Any) -> dict[str, Any]:
    """A StringIndexer on raw data columns puts nulls in an extra bucket unless told otherwise."""
    if not str(spec["_target_"]).endswith(".StringIndexer") or "handleInvalid" in spec:
        return {}
    raw = set(feature_columns(data))
    return {"handleInvalid": "keep"} if set(_columns(spec, INPUT_KEYS)) & raw else {}


def vector_size(named: list[tuple[str, Any]], train: DataFrame, output_col: str) -> int:
    """Length of the assembled feature vector: fit the feature stages on ``train``, read one row.

    Fitting is the one robust way (one-hot and polynomial sizes depend on the data and degree);
    on a few hundred rows it costs well under a second, and only models that need it call it.
    """
    from pyspark.ml import Pipeline

    fitted = Pipeline(stages=[stage for _, stage in named]).fit(train)
    row = fitted.transform(train.limit(1)).select(output_col).first()
    if row is None:
        raise RunnerError("data: the training split is empty")
    return int(row[0].size)
