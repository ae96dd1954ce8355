"""MLflow ``python_function`` loader of the compiled scorer.

A model carries a copy of this package as ``runner_scorer`` (``loader_module:
runner_scorer.pyfunc``, see ``runner.tracking.flavor``); models logged before that name
``runner.compiled.pyfunc``. Loading needs numpy and pandas only: no pyspark, no Java.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .pipeline import CompiledPipeline

PROBABILITIES_PARAM = "probabilities"


class CompiledPyfuncModel:
    """What ``mlflow.pyfunc.load_model`` wraps: predictions like the spark flavor's pyfunc."""

    def __init__(self, pipeline: CompiledPipeline) -> None:
        self.pipeline = pipeline

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None
                ) -> np.ndarray | pd.DataFrame:
        """The prediction of each scored row (as the spark flavor returns them).

        With ``params={"probabilities": True}``: a DataFrame of prediction, probability (a list
        per row, when the classifier has one) and label (the class name, when names are known).
        """
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if not (params or {}).get(PROBABILITIES_PARAM):  # no DataFrame, no list per row
            return self.pipeline.predict_frame(frame)["prediction"]
        scored = self.pipeline.predict_pandas(frame)
        out = scored.drop(columns=["rawPrediction"])
        names = self.pipeline.class_names
        if names:
            out["label"] = [names[int(p)] if 0 <= p < len(names) else None
                            for p in out["prediction"]]
        return out


def _load_pyfunc(path: str) -> CompiledPyfuncModel:
    """Entry point MLflow calls with the flavor's ``data`` directory."""
    return CompiledPyfuncModel(CompiledPipeline.load(path))
