"""Feature stages from the ``features`` config, in the order they are listed."""

from __future__ import annotations

from typing import Any

from runner import stages


def check(cfg: Any) -> None:
    """Check every stage's class and parameter names (no JVM needed)."""
    for name, spec in cfg.stages.items():
        stages.check(spec, f"features.stages.{name}")


def build(cfg: Any) -> list[tuple[str, Any]]:
    """Instantiate the stages as (config name, stage) pairs."""
    return [(name, stages.build(spec, f"features.stages.{name}")) for name, spec in cfg.stages.items()]
