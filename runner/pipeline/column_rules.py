"""Column rules: a feature stage's ``inputCols`` may select columns by rule rather than by name
(``features=auto``), resolved here against the data spec's schema minus the label.

``{numeric: all}``, ``{categorical: all}`` (string columns), either with ``exclude: [...]``, or
``{exclude: [...]}`` alone (every feature column but those), and ``{outputs_of: <stage>}`` (an
earlier stage's outputs); a list may mix names and rules. ``outputCols: {suffix: _x}`` names one
output per input. A stage whose rules select nothing is left out, and so is its output wherever a
later stage reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from runner.config.types import NUMERIC
from runner.errors import RunnerError
from runner.pipeline import stages

INPUT_KEYS = ("inputCol", "inputCols")
OUTPUT_KEYS = ("outputCol", "outputCols")
RULE_KEYS = ("numeric", "categorical", "exclude", "outputs_of")
_NUMERIC = {*NUMERIC, "short", "real"}

if TYPE_CHECKING:
    from runner.data import DataSpec


def columns_of(spec: Any, keys: tuple[str, ...]) -> list[str]:
    """Column names a spec sets under ``keys`` (a name or a list of names)."""
    found: list[str] = []
    for key in keys:
        value = spec.get(key)
        if value is not None:
            found.extend([value] if isinstance(value, str) else list(value))
    return found


def numeric_columns(data: DataSpec) -> list[str]:
    """Feature columns whose type is numeric: the ones the Imputer fills."""
    types = {c: t.strip().lower() for c, t in data.schema.items() if c != data.label}
    return [c for c, t in types.items() if t in _NUMERIC or t.startswith("decimal")]


def categorical_columns(data: DataSpec) -> list[str]:
    """Feature columns read as text: the ones ``{categorical: all}`` selects."""
    types = {c: t.strip().lower() for c, t in data.schema.items() if c != data.label}
    return [c for c, t in types.items() if t == "string" or t.startswith(("char", "varchar"))]


def resolved(cfg: Any, data: DataSpec) -> list[tuple[str, Any]]:
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
        outputs[name] = columns_of(plain, OUTPUT_KEYS) if kept else []
        if kept:
            found.append((name, plain))
        else:
            skipped.update(columns_of(plain, OUTPUT_KEYS))
    return found


def _resolve(spec: dict[str, Any], data: DataSpec, outputs: dict[str, list[str]], skipped: set[str],
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


def _select(rule: dict[str, Any], data: DataSpec, outputs: dict[str, list[str]], where: str
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
        chosen = [c for c in data.feature_columns if not picked or c in picked]
        if not picked and any(k in rule for k in kinds):
            chosen = []
    exclude = [rule["exclude"]] if isinstance(rule.get("exclude"), str) else list(
        rule.get("exclude") or [])
    unknown = [c for c in exclude if c not in data.feature_columns and c not in chosen]
    if unknown:
        raise RunnerError(f"{where}.exclude: {unknown} are not feature columns; they are "
                          f"{data.feature_columns}")
    return [c for c in chosen if c not in exclude]
