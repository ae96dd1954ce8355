"""What the server knows of the model it serves: ``ModelInfo`` (reported by /metadata, checked
against by every request) and the ``Scorer`` protocol both scorers implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

# the lab's request: the page's example when the model takes the lab's columns
LAB_RECORD = {"Island": "Biscoe", "CulmenLength": 48.7, "CulmenDepth": 14.1,
              "FlipperLength": 210, "BodyMass": 4450}


class Scorer(Protocol):
    """What the server needs from a model: columns in, output columns out.

    ``predict_columns`` takes one numpy array (or list) per input column and returns at least
    ``prediction`` (n,), and ``probability`` (n, k) when the model has it. It raises
    ``runner.compiled.ScoringError`` for rows the model rejects.
    """

    kind: str  # "compiled" or "spark"
    class_names: list[str]  # the name of each class index, when the model carries them

    def predict_columns(self, columns: dict[str, Any]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class ModelInfo:
    """What /metadata reports and what parsing checks requests against."""

    uri: str
    inputs: tuple[tuple[str, str], ...]  # (column, MLflow type) in signature order
    class_names: tuple[str, ...] = ()
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    scorer: str = ""
    scorer_note: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "model_uri": self.uri, "name": self.name, "version": self.version,
            "run_id": self.run_id, "scorer": self.scorer, "scorer_note": self.scorer_note,
            "input_schema": [{"name": n, "type": t} for n, t in self.inputs],
            "class_labels": list(self.class_names), "example": example_request(self.inputs),
            **self.versions,
        }


def example_request(inputs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A request the page can prefill: the lab's penguin when the columns match, else zeros."""
    if {n for n, _ in inputs} == set(LAB_RECORD):
        return {"dataframe_records": [dict(LAB_RECORD)]}
    blank = {"string": "", "boolean": False}
    return {"dataframe_records": [{n: blank.get(t, 0) for n, t in inputs}]}
