"""``runner reproduce <RUN_ID> [overrides]``: re-run a logged run from MLflow alone.

The run's resolved config and overrides are read back from its artifacts, validated against the
schemas, trained again as a new run tagged with the source run, and the metrics compared.
"""

from __future__ import annotations

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from runner import console, tracking, train
from runner.config.schemas import RunnerConfig
from runner.errors import RunnerError

USAGE = "usage: runner reproduce <RUN_ID> [key=value ...]"
TOLERANCE = 1e-9
MISMATCH_EXIT = 3


def logged_config(config_yaml: str, overrides: list[str]) -> DictConfig:
    """The logged config, re-typed by the schemas, with ``key=value`` overrides applied."""
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(RunnerConfig), OmegaConf.create(config_yaml))
        for override in OverridesParser.create().parse_overrides(overrides):
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
    except Exception as exc:
        raise RunnerError(f"the logged config does not load: {exc}") from exc
    assert isinstance(cfg, DictConfig)
    return cfg


def compare(source: dict[str, float], new: dict[str, float]) -> list[tuple[str, float, float]]:
    """(metric, source value, new value) for every metric both runs report, by name; the fit's
    wall time (train_seconds) is not a result and is left out."""
    return [(name, value, new[name]) for name, value in sorted(source.items())
            if name in new and name != train.TRAIN_SECONDS]


def differences(source: tracking.LoggedRun, new_run: tracking.LoggedRun) -> list[str]:
    """Warnings for what may explain different metrics: data digest and library versions."""
    warnings = []
    if source.dataset_digests != new_run.dataset_digests:
        warnings.append(
            f"data digest differs: {source.dataset_digests} -> {new_run.dataset_digests}"
        )
    for key in ("version", "pyspark_version", "mlflow_version"):
        tag = tracking.TAG_PREFIX + key
        if source.tags.get(tag) != new_run.tags.get(tag):
            warnings.append(f"{tag} differs: {source.tags.get(tag)} -> {new_run.tags.get(tag)}")
    return warnings


def reproduce(run_id: str, overrides: list[str]) -> bool:
    """Re-run ``run_id``; print the comparison; return whether every metric matches."""
    tracking_uri = _override_value(overrides, "tracking.uri")
    tracking.use_store(tracking_uri)
    source = tracking.fetch_run(run_id)
    cfg = logged_config(source.config_yaml, overrides)
    cfg.tracking.uri = tracking.resolve_uri(tracking_uri or cfg.tracking.uri)
    result = train.run(
        cfg,
        [*source.overrides, *overrides],
        extra_tags={tracking.TAG_PREFIX + "reproduced_from": run_id},
    )
    console.out(train.summary(result))
    new_run = tracking.fetch_run(result.run_id)
    rows = compare(source.metrics, new_run.metrics)
    matched = all(abs(new - old) <= TOLERANCE for _, old, new in rows)
    console.out(f"\n{'metric':<26}{'source':>10}{'now':>10}")
    for name, old, new in rows:
        console.out(
            f"{name:<26}{old:>10.4f}{new:>10.4f}"
            f"{'' if abs(new - old) <= TOLERANCE else '  differs'}"
        )
    for warning in differences(source, new_run):
        console.out(f"warning: {warning}")
    verdict = "match" if matched else "DIFFER"
    console.out(f"reproduced {run_id} as {result.run_id}: metrics {verdict}")
    return matched


def _override_value(overrides: list[str], key: str) -> Any:
    for override in overrides:
        name, _, value = override.partition("=")
        if name == key:
            return value
    return None


def main(args: list[str]) -> int:
    """CLI entry: exit 0 when the metrics match, 3 when they differ, 1 on a user error."""
    if not args or args[0].startswith("-") or "=" in args[0]:
        console.say(USAGE)
        return 2
    try:
        return 0 if reproduce(args[0], args[1:]) else MISMATCH_EXIT
    except RunnerError as exc:
        console.error(str(exc))
        return 1
