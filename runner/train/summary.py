"""What a single training run prints when it ends: metrics, run id, registered version, where
to look. (A sweep's end-of-sweep table is runner.sweep.report's.)"""

from __future__ import annotations

from runner import tracking
from runner.pipeline.assemble import TRAIN_SECONDS
from runner.train.steps import TrainResult


def summary(result: TrainResult) -> str:
    """A short plain-text summary of a finished run."""
    lines = [f"{'metric':<26}{'test':>10}{'train':>10}"]
    for name, value in result.metrics.items():
        train = result.train_metrics.get(name)
        lines.append(f"{name:<26}{value:>10.4f}{'' if train is None else f'{train:>10.4f}'}")
    if result.fit_seconds:
        lines.append(f"{TRAIN_SECONDS:<26}{result.fit_seconds:>10.2f}  (the pipeline's fit)")
    lines.append(f"run id: {result.run_id}")
    if result.model and result.model.version:
        lines.append(f"registered: {result.model.registered_name} version {result.model.version}")
    elif result.model:
        lines.append(f"model: {result.model.uri}")
    lines.append(f"look: {tracking.ui_command(result.tracking_uri)}")
    return "\n".join(lines)
